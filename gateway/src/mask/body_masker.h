#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mask/profile.h"

namespace vigil::mask {

using OrderedJson = nlohmann::ordered_json;

// Masks whole bodies and JSON documents with one profile, and keeps the summary of what it
// masked. JSON is masked structurally: a field rule replaces the whole value it selects;
// every other string is scanned by the detectors; a string that is itself a JSON object or
// array (structured output, tool arguments) is parsed, masked the same way (its field rules
// rooted at that document) and serialised again as valid JSON. CSV tables inside text have
// the profile's columns masked.
class BodyMasker {
public:
    BodyMasker(std::shared_ptr<const Profile> profile, std::string hashKey);

    // Responses: "logprobs" members are emptied (they spell the raw text out token by token).
    // A request's "logprobs" is a flag asking for them, and is left alone.
    void keepLogprobs() { dropLogprobs_ = false; }

    // Masks `document` in place; `where` prefixes the places in the summary.
    void maskJson(OrderedJson& document, std::string_view where = {});
    // Appends the masked `body` to `out`. JSON content types (and bodies that parse as JSON)
    // structurally; other text (text/*, XML, NDJSON, forms, CSV; no type or octet-stream but
    // text: UTF-8 without zero bytes) as text; UTF-16 and UTF-32 text decoded, masked and
    // encoded back; binary bodies (audio, images, multipart uploads...) unchanged. Returns how
    // many values it masked.
    std::size_t maskBody(std::string_view contentType, std::string_view body, std::string& out);
    // Masks one text (never parsed as JSON); returns how many values it masked.
    std::size_t maskText(std::string_view text, std::string& out, std::string_view where);

    const Profile& profile() const { return *profile_; }
    const std::string& hashKey() const { return hashKey_; }
    Summary& summary() { return summary_; }
    // Values rewritten although nothing in them was masked: a JSON text inside a string read
    // lossily (a name given twice), so the original bytes must not go on.
    std::size_t rewrites() const { return rewrites_; }
    const Summary& summary() const { return summary_; }

private:
    std::size_t maskUtf8(std::string_view contentType, std::string_view body, std::string& out);
    std::size_t walk(OrderedJson& value, std::vector<PathToken>& path, std::size_t root, const std::string& where);
    std::size_t maskKeys(OrderedJson& object, const std::vector<PathToken>& path, const std::string& where);

    std::shared_ptr<const Profile> profile_;
    std::string hashKey_;
    Summary summary_;
    bool dropLogprobs_ = true;
    std::size_t rewrites_ = 0;  // values rewritten with nothing masked (a JSON text read lossily)
};

// Serialises JSON compactly, replacing (never throwing on) invalid UTF-8.
std::string dumpJson(const OrderedJson& value, int indent = -1);

// Nesting deeper than this is not parsed for masking (the walk and the serialiser recurse);
// such text is masked as text instead.
inline constexpr int kMaxMaskedJsonDepth = 128;

// JSON as lenient readers see it, for masking. `lossy` when the value read differs from
// the text in a way a reader could see: a member name given twice in one object (readers
// keep one of them: the first or the last) or bytes repaired (repairJsonText). The masked
// output must then be serialised from `value`, never be the original bytes. nullopt when
// the text is not JSON or nests deeper than `maxDepth`.
struct ParsedJson {
    OrderedJson value;
    bool lossy = false;
};
std::optional<ParsedJson> parseForMasking(std::string_view text, int maxDepth = kMaxMaskedJsonDepth);

}  // namespace vigil::mask

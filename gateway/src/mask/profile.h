#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mask/detectors.h"
#include "mask/json_path.h"

namespace vigil::mask {

// What replaces a value: [CREDIT_CARD] (redact), ****1111 (keep_last), or
// [EMAIL:5f0c2a917be4d3a1] (hash: HMAC-SHA256 of the value under the gateway's masking key,
// so the same value gives the same token everywhere and reports can still join on it).
struct OperatorSpec {
    enum class Kind { Redact, KeepLast, Hash };
    Kind kind = Kind::Redact;
    int keep = 4;  // for KeepLast
};

struct CustomDetectorSpec {
    std::string entity;  // the entity type it reports: PROJECT_CODE
    std::string regex;   // or
    std::vector<std::string> words;
    bool caseless = false;  // words are always matched without case
};

struct FieldRuleSpec {
    std::string path;    // "$..ssn"
    std::string entity;  // what it reports; default FIELD
};

struct ColumnRuleSpec {
    std::string column;  // header name, matched without case
    std::string entity;  // default FIELD
};

// A masking profile as the policy file states it (docs/masking.md).
struct ProfileSpec {
    std::string name;
    std::vector<std::string> entities;  // built-in detectors in use (entity types)
    std::vector<CustomDetectorSpec> custom;
    std::map<std::string, OperatorSpec, std::less<>> operators;  // by entity type
    OperatorSpec defaultOperator;
    std::vector<FieldRuleSpec> fields;
    std::vector<ColumnRuleSpec> columns;
    bool responses = true;  // mask what the caller receives
    bool requests = false;  // mask prompts before they are forwarded
};

// A value found in a text: [begin, end) and who found it (index into Profile::detectors(),
// or past them: a field or column rule, see Profile::entityOf).
struct Span {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::uint32_t source = 0;
    // Found in the percent-decoded text ("jane%40example.com" in a URL or a file name*=):
    // [begin, end) covers the encoded bytes, and the replacement is percent-encoded too.
    bool encoded = false;
};

// What was masked, never the values themselves: entity type, where, how many.
class Summary {
public:
    struct Entry {
        std::string entity;
        std::string where;  // "choices[0].message.content", "messages[1].content"
        std::uint64_t count = 0;
    };
    void add(std::string_view entity, std::string_view where, std::uint64_t count = 1);
    bool empty() const { return entries_.empty(); }
    std::uint64_t total() const;
    std::uint64_t count(std::string_view entity) const;
    const std::vector<Entry>& entries() const { return entries_; }
    // [{"entity":"EMAIL","where":"...","count":2},...]
    std::string toJson() const;

private:
    std::vector<Entry> entries_;
};

// A compiled masking profile: every detector's expressions in one Vectorscan database
// (leftmost start of match), validated only where they matched. Immutable and shared by
// every request the policy version serves.
class Profile {
public:
    ~Profile();
    Profile(const Profile&) = delete;
    Profile& operator=(const Profile&) = delete;

    // Compiles the spec; on failure returns null and says why in `error` (a custom
    // detector's index and the engine's message, or an unbounded custom pattern).
    static std::shared_ptr<const Profile> compile(ProfileSpec spec, std::string& error);

    const ProfileSpec& spec() const { return spec_; }
    const std::vector<Detector>& detectors() const { return detectors_; }
    const std::vector<JsonPath>& fieldPaths() const { return fieldPaths_; }
    std::string_view entityOf(const Span& span) const;

    // The values in `text`, validated, without overlaps (the longer wins, then the earlier
    // detector), sorted by begin. CSV columns named by the profile are found too.
    // Values written percent-encoded (%XX) are found in the decoded text as well.
    void find(std::string_view text, std::vector<Span>& out) const;

    // What replaces `value`, of entity type `entity`.
    void replace(std::string_view entity, std::string_view value, std::string_view hashKey, std::string& out,
                 const Detector* detector = nullptr) const;

    // Appends `text` to `out` with every value found replaced; counts them in `summary`
    // under `where`. Returns how many were masked.
    std::size_t maskText(std::string_view text, std::string& out, std::string_view hashKey, Summary* summary,
                         std::string_view where) const;
    // Appends text[from, to) with the spans inside it replaced (spans sorted, within range).
    std::size_t applySpans(std::string_view text, std::size_t from, std::size_t to, const std::vector<Span>& spans,
                           std::string& out, std::string_view hashKey, Summary* summary, std::string_view where) const;

    // For streams: how many bytes at the end of `text` a value still growing could occupy.
    std::size_t holdBack(std::string_view text) const;
    // For streams: when `text` (released, ending with a line break) ends inside a CSV table
    // with masked columns, its header line and last row, joined by a line break: kept as the
    // left context, they make the rows that follow read as rows of that table. Else empty.
    std::string openTableContext(std::string_view text) const;
    std::size_t maxHold() const { return maxHold_; }

private:
    // The detectors' validated candidates in `text`, appended to `found` (may overlap).
    void collect(std::string_view text, std::vector<Span>& found) const;
    Profile() = default;
    // The masked columns' cells (when `out`), and the table still open at the end of `text`:
    // [header begin, header end) and the last row's begin (when `open`).
    struct OpenTable {
        std::size_t headerBegin = 0, headerEnd = 0, lastRowBegin = 0;
    };
    void findCsvColumns(std::string_view text, std::vector<Span>* out, std::optional<OpenTable>* open = nullptr) const;

    struct Database;
    ProfileSpec spec_;
    std::vector<Detector> detectors_;
    std::vector<std::uint32_t> expressionDetector_;  // expression id -> detector
    std::vector<JsonPath> fieldPaths_;
    std::vector<std::string> columnsLower_;
    std::vector<std::uint64_t> holdMask_;  // per byte value: detectors whose hold alphabet has it (first 64)
    std::size_t maxHold_ = 0;
    Database* database_ = nullptr;
    std::uint64_t generation_ = 0;
};

// Whether `regex` can be a custom detector: it compiles (leftmost-start mode), matches no
// empty text and no value longer than 1024 bytes (so a stream never holds back more).
bool checkCustomRegex(const std::string& regex, bool caseless, std::string& error);

// HMAC-SHA256 key for the hash operator: read from `file`, or created there (32 random
// bytes, mode 0600) when it does not exist. Empty with `error` set on failure.
std::string loadOrCreateHashKey(const std::string& file, std::string& error);

}  // namespace vigil::mask

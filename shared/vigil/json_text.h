#pragma once

#include <string>
#include <string_view>
#include <cstdint>
#include <vector>

namespace vigil {

// Appends `text` as a JSON string literal (quotes included). Invalid UTF-8 bytes become
// U+FFFD so the output is always valid JSON; used where building a whole nlohmann::json
// document would cost more than the line it produces (error bodies, log lines).
void appendJsonString(std::string& out, std::string_view text);

bool isValidUtf8(std::string_view text);

// The longest prefix of `text` of at most `bytes` bytes that does not end inside a UTF-8
// character (a cut for a preview).
std::string_view utf8Prefix(std::string_view text, std::size_t bytes);

// JSON text made parseable the way lenient readers (JavaScript, Python) read it: each byte
// that is not part of valid UTF-8 becomes U+FFFD, and each \u escape of a lone surrogate
// becomes \uFFFD. Everything else is kept byte for byte; valid JSON comes back unchanged.
std::string repairJsonText(std::string_view text);

// Builds one JSON object member by member, for payloads written on the request path.
class JsonObjectWriter {
public:
    JsonObjectWriter() { out_ += '{'; }
    JsonObjectWriter& str(std::string_view key, std::string_view value);
    JsonObjectWriter& num(std::string_view key, std::int64_t value);
    JsonObjectWriter& boolean(std::string_view key, bool value);
    JsonObjectWriter& strings(std::string_view key, const std::vector<std::string>& values);
    JsonObjectWriter& raw(std::string_view key, std::string_view json);  // already JSON
    std::string take() {
        out_ += '}';
        return std::move(out_);
    }

private:
    void key(std::string_view k);
    std::string out_;
};

}  // namespace vigil

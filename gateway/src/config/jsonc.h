#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace vigil::config {

// 1-based line and column; columns count characters (UTF-8 code points), as editors do.
struct SourcePosition {
    int line = 0;
    int column = 0;
};

struct JsoncError {
    SourcePosition position;
    std::string message;  // what was found and what was expected there
};

// A JSON document with the place of every value and object key, so that the people who
// write policy files get "12:7: rules[3].action: ..." instead of a key path alone.
struct LocatedJson {
    nlohmann::json value;
    std::unordered_map<std::string, SourcePosition> values;  // by JSON pointer ("/rules/3/id")
    std::unordered_map<std::string, SourcePosition> keys;    // of the key that names the value

    // The place of the value at `pointer`, or of its nearest ancestor that has one.
    SourcePosition valueAt(std::string pointer) const;
    // The place of the key naming the value at `pointer` (its value when it has no key).
    SourcePosition keyAt(const std::string& pointer) const;
};

// Appends one reference token to a JSON pointer, escaping '~' and '/' (RFC 6901).
std::string childPointer(const std::string& parent, std::string_view token);
std::string childPointer(const std::string& parent, std::size_t index);

// Parses JSON with // and /* */ comments. Duplicate keys, trailing commas, invalid UTF-8
// and control characters in strings are errors. Returns the first error, or nullopt.
std::optional<JsoncError> parseJsonc(std::string_view text, LocatedJson& out);

}  // namespace vigil::config

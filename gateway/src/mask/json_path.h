#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vigil::mask {

// One step of a concrete place in a JSON document: an object key or an array index.
using PathToken = std::variant<std::string_view, std::size_t>;

// The subset of JSONPath (RFC 9535) that names fields to mask: $ followed by .name,
// ['name'], [n], [*], .* and the descendant forms ..name, ..[n], ..* . No filters,
// slices or unions.
class JsonPath {
public:
    // Parses `text`; on failure returns nullopt and explains in `error` (with the offset).
    static std::optional<JsonPath> parse(std::string_view text, std::string& error);

    // Whether the place `path` (from the root) is selected.
    bool matches(std::span<const PathToken> path) const;
    const std::string& text() const { return text_; }

private:
    struct Step {
        bool descendant = false;
        enum class Kind { Name, Index, Wildcard } kind = Kind::Name;
        std::string name;
        std::size_t index = 0;
    };
    bool matchFrom(std::size_t step, std::span<const PathToken> path, std::size_t at) const;

    std::string text_;
    std::vector<Step> steps_;
};

// "choices[0].message.content" for summaries.
std::string describePath(const std::vector<PathToken>& path);

}  // namespace vigil::mask

#include "mask/json_path.h"

namespace vigil::mask {
namespace {

bool isNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           static_cast<unsigned char>(c) >= 0x80;
}

}  // namespace

std::optional<JsonPath> JsonPath::parse(std::string_view text, std::string& error) {
    JsonPath path;
    path.text_ = std::string(text);
    auto fail = [&](std::size_t at, const std::string& what) {
        error = "JSON path '" + std::string(text) + "', at offset " + std::to_string(at) + ": " + what;
        return std::nullopt;
    };
    if (text.empty() || text[0] != '$') return fail(0, "must start with '$' (e.g. \"$..ssn\")");
    std::size_t i = 1;
    if (i == text.size()) return fail(i, "selects the whole document; name a field (e.g. \"$.data[*].ssn\")");
    while (i < text.size()) {
        Step step;
        if (text.substr(i).starts_with("..")) {
            step.descendant = true;
            i += 2;
        } else if (text[i] == '.') {
            ++i;
        } else if (text[i] != '[') {
            return fail(i, std::string("expected '.', '..' or '[' but found '") + text[i] + "'");
        }
        if (i >= text.size()) return fail(i, "ends after a dot; name a field or use '*'");
        if (text[i] == '*') {
            step.kind = Step::Kind::Wildcard;
            ++i;
        } else if (text[i] == '[') {
            ++i;
            if (i < text.size() && text[i] == '*') {
                step.kind = Step::Kind::Wildcard;
                ++i;
            } else if (i < text.size() && (text[i] == '\'' || text[i] == '"')) {
                const char quote = text[i++];
                const auto close = text.find(quote, i);
                if (close == std::string_view::npos) return fail(i, "unterminated quoted name");
                step.kind = Step::Kind::Name;
                step.name = std::string(text.substr(i, close - i));
                i = close + 1;
            } else if (i < text.size() && text[i] >= '0' && text[i] <= '9') {
                step.kind = Step::Kind::Index;
                std::size_t n = 0;
                while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
                    n = n * 10 + static_cast<std::size_t>(text[i] - '0');
                    if (n > 1'000'000) return fail(i, "index too large");
                    ++i;
                }
                step.index = n;
            } else {
                return fail(i, "expected '*', a quoted name or an index after '[' (filters and slices are not supported)");
            }
            if (i >= text.size() || text[i] != ']') return fail(i, "expected ']'");
            ++i;
        } else {
            const auto start = i;
            while (i < text.size() && isNameChar(text[i])) ++i;
            if (i == start) return fail(i, std::string("expected a field name but found '") + text[i] + "'");
            step.kind = Step::Kind::Name;
            step.name = std::string(text.substr(start, i - start));
        }
        path.steps_.push_back(std::move(step));
    }
    return path;
}

bool JsonPath::matches(std::span<const PathToken> path) const { return matchFrom(0, path, 0); }

bool JsonPath::matchFrom(std::size_t step, std::span<const PathToken> path, std::size_t at) const {
    if (step == steps_.size()) return at == path.size();
    if (at == path.size()) return false;
    const auto& s = steps_[step];
    auto here = [&](const PathToken& token) {
        switch (s.kind) {
        case Step::Kind::Wildcard: return true;
        case Step::Kind::Name: {
            const auto* key = std::get_if<std::string_view>(&token);
            return key != nullptr && *key == s.name;
        }
        case Step::Kind::Index: {
            const auto* index = std::get_if<std::size_t>(&token);
            return index != nullptr && *index == s.index;
        }
        }
        return false;
    };
    if (!s.descendant) return here(path[at]) && matchFrom(step + 1, path, at + 1);
    // ..x: x at this level or at any depth below.
    for (std::size_t k = at; k < path.size(); ++k) {
        if (here(path[k]) && matchFrom(step + 1, path, k + 1)) return true;
    }
    return false;
}

std::string describePath(const std::vector<PathToken>& path) {
    std::string out;
    for (const auto& token : path) {
        if (const auto* key = std::get_if<std::string_view>(&token)) {
            if (!out.empty()) out += '.';
            out += *key;
        } else {
            out += '[';
            out += std::to_string(std::get<std::size_t>(token));
            out += ']';
        }
    }
    return out;
}

}  // namespace vigil::mask

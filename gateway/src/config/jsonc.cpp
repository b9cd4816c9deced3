#include "config/jsonc.h"

#include <charconv>
#include <cstdint>

namespace vigil::config {
namespace {

using json = nlohmann::json;

constexpr int kMaxDepth = 128;

class Parser {
public:
    Parser(std::string_view text, LocatedJson& out) : text_(text), out_(out) {}

    std::optional<JsoncError> run() {
        skipSpace();
        if (error_) return error_;
        if (atEnd()) return fail("the document is empty: expected a JSON value");
        json value;
        if (!parseValue(value, "", 0)) return error_;
        skipSpace();
        if (error_) return error_;
        if (!atEnd()) return fail("unexpected " + describeHere() + " after the end of the document");
        out_.value = std::move(value);
        return std::nullopt;
    }

private:
    bool atEnd() const { return pos_ >= text_.size(); }
    char peek() const { return atEnd() ? '\0' : text_[pos_]; }

    SourcePosition here() const { return positionOf(pos_); }

    SourcePosition positionOf(std::size_t offset) const {
        // Positions are asked for rarely (once per value), in increasing order: continue
        // from the last answer.
        if (offset < cacheOffset_) {
            cacheOffset_ = 0;
            cacheLine_ = 1;
            cacheColumn_ = 1;
        }
        for (; cacheOffset_ < offset && cacheOffset_ < text_.size(); ++cacheOffset_) {
            const auto c = static_cast<unsigned char>(text_[cacheOffset_]);
            if (c == '\n') {
                ++cacheLine_;
                cacheColumn_ = 1;
            } else if ((c & 0xC0) != 0x80) {
                ++cacheColumn_;
            }
        }
        return {cacheLine_, cacheColumn_};
    }

    std::optional<JsoncError> fail(std::string message) { return failAt(pos_, std::move(message)); }
    std::optional<JsoncError> failAt(std::size_t offset, std::string message) {
        if (!error_) error_ = JsoncError{positionOf(offset), std::move(message)};
        return error_;
    }

    std::string describeHere() const {
        if (atEnd()) return "end of file";
        const char c = peek();
        if (static_cast<unsigned char>(c) < 0x20) return "control character";
        if (c == '"') return "string";
        return std::string("'") + c + "'";
    }

    void skipSpace() {
        while (!atEnd()) {
            const char c = peek();
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                ++pos_;
            } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
                while (!atEnd() && peek() != '\n') ++pos_;
            } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
                const auto start = pos_;
                const auto close = text_.find("*/", pos_ + 2);
                if (close == std::string_view::npos) {
                    failAt(start, "unterminated /* comment: expected '*/'");
                    pos_ = text_.size();
                    return;
                }
                pos_ = close + 2;
            } else {
                return;
            }
        }
    }

    bool parseValue(json& value, const std::string& pointer, int depth) {
        if (depth > kMaxDepth) {
            fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
            return false;
        }
        out_.values[pointer] = here();
        switch (peek()) {
        case '{': return parseObject(value, pointer, depth);
        case '[': return parseArray(value, pointer, depth);
        case '"': {
            std::string s;
            if (!parseString(s)) return false;
            value = std::move(s);
            return true;
        }
        case 't': return parseLiteral("true", json(true), value);
        case 'f': return parseLiteral("false", json(false), value);
        case 'n': return parseLiteral("null", json(nullptr), value);
        default:
            if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parseNumber(value);
            if (peek() == '\'') {
                fail("strings need double quotes, found a single quote");
            } else {
                fail("expected a value (string, number, object, array, true, false or null), found " +
                     describeHere());
            }
            return false;
        }
    }

    bool parseLiteral(std::string_view word, json literal, json& value) {
        if (text_.substr(pos_, word.size()) != word) {
            fail("expected a value (string, number, object, array, true, false or null), found " +
                 describeHere());
            return false;
        }
        pos_ += word.size();
        value = std::move(literal);
        return true;
    }

    bool parseObject(json& value, const std::string& pointer, int depth) {
        ++pos_;  // '{'
        value = json::object();
        skipSpace();
        if (error_) return false;
        if (peek() == '}') {
            ++pos_;
            return true;
        }
        while (true) {
            if (peek() != '"') {
                if (peek() == '}') {
                    fail("trailing comma: expected another \"key\": value after ','");
                } else {
                    fail("expected an object key in double quotes, found " + describeHere());
                }
                return false;
            }
            const auto keyStart = pos_;
            std::string key;
            if (!parseString(key)) return false;
            if (value.contains(key)) {
                const auto first = out_.keys[childPointer(pointer, key)];
                failAt(keyStart, "duplicate key \"" + key + "\" (first at line " + std::to_string(first.line) +
                                     ", column " + std::to_string(first.column) + ")");
                return false;
            }
            const auto member = childPointer(pointer, key);
            out_.keys[member] = positionOf(keyStart);
            skipSpace();
            if (error_) return false;
            if (peek() != ':') {
                fail("expected ':' after the key \"" + key + "\", found " + describeHere());
                return false;
            }
            ++pos_;
            skipSpace();
            if (error_) return false;
            json member_value;
            if (!parseValue(member_value, member, depth + 1)) return false;
            value[key] = std::move(member_value);
            skipSpace();
            if (error_) return false;
            if (peek() == ',') {
                ++pos_;
                skipSpace();
                if (error_) return false;
                continue;
            }
            if (peek() == '}') {
                ++pos_;
                return true;
            }
            fail("expected ',' or '}' after the value of \"" + key + "\", found " + describeHere());
            return false;
        }
    }

    bool parseArray(json& value, const std::string& pointer, int depth) {
        ++pos_;  // '['
        value = json::array();
        skipSpace();
        if (error_) return false;
        if (peek() == ']') {
            ++pos_;
            return true;
        }
        while (true) {
            if (peek() == ']') {
                fail("trailing comma: expected another value after ','");
                return false;
            }
            json element;
            if (!parseValue(element, childPointer(pointer, value.size()), depth + 1)) return false;
            value.push_back(std::move(element));
            skipSpace();
            if (error_) return false;
            if (peek() == ',') {
                ++pos_;
                skipSpace();
                if (error_) return false;
                continue;
            }
            if (peek() == ']') {
                ++pos_;
                return true;
            }
            fail("expected ',' or ']' after an array element, found " + describeHere());
            return false;
        }
    }

    bool parseHex4(std::uint32_t& out) {
        if (pos_ + 4 > text_.size()) return false;
        out = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_ + i];
            out <<= 4;
            if (c >= '0' && c <= '9') out |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') out |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') out |= static_cast<std::uint32_t>(c - 'A' + 10);
            else return false;
        }
        pos_ += 4;
        return true;
    }

    static void appendUtf8(std::string& s, std::uint32_t cp) {
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else if (cp < 0x800) {
            s += static_cast<char>(0xC0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            s += static_cast<char>(0xE0 | (cp >> 12));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            s += static_cast<char>(0xF0 | (cp >> 18));
            s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    // Length of the valid UTF-8 sequence at pos_, or 0.
    std::size_t utf8Length() const {
        const auto* p = reinterpret_cast<const unsigned char*>(text_.data()) + pos_;
        const std::size_t left = text_.size() - pos_;
        const unsigned char c = p[0];
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
        else return 0;
        if (left < n) return 0;
        for (std::size_t i = 1; i < n; ++i) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        return n;
    }

    bool parseString(std::string& out) {
        const auto start = pos_;
        ++pos_;  // '"'
        while (true) {
            if (atEnd()) {
                failAt(start, "unterminated string: expected a closing '\"'");
                return false;
            }
            const auto c = static_cast<unsigned char>(peek());
            if (c == '"') {
                ++pos_;
                return true;
            }
            if (c == '\n') {
                failAt(start, "unterminated string: a line ends before the closing '\"'");
                return false;
            }
            if (c < 0x20) {
                fail("control character in a string: write it as an escape (\\t, \\n, \\u0001)");
                return false;
            }
            if (c == '\\') {
                ++pos_;
                const char e = peek();
                ++pos_;
                switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    std::uint32_t cp = 0;
                    if (!parseHex4(cp)) {
                        failAt(pos_ - 2, "invalid \\u escape: expected four hex digits");
                        return false;
                    }
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        std::uint32_t low = 0;
                        if (text_.substr(pos_, 2) != "\\u" || (pos_ += 2, !parseHex4(low)) || low < 0xDC00 ||
                            low > 0xDFFF) {
                            fail("invalid \\u escape: a high surrogate must be followed by a low surrogate");
                            return false;
                        }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        failAt(pos_ - 6, "invalid \\u escape: a low surrogate without a high one");
                        return false;
                    }
                    appendUtf8(out, cp);
                    break;
                }
                default:
                    failAt(pos_ - 2, std::string("invalid escape '\\") + (e == '\0' ? std::string() : std::string(1, e)) +
                                         "': expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
                    return false;
                }
                continue;
            }
            if (c < 0x80) {
                out += static_cast<char>(c);
                ++pos_;
                continue;
            }
            const auto n = utf8Length();
            if (n == 0) {
                fail("invalid UTF-8 in a string");
                return false;
            }
            out.append(text_.substr(pos_, n));
            pos_ += n;
        }
    }

    bool parseNumber(json& value) {
        const auto start = pos_;
        auto digits = [this] {
            const auto from = pos_;
            while (!atEnd() && peek() >= '0' && peek() <= '9') ++pos_;
            return pos_ - from;
        };
        bool integer = true;
        if (peek() == '-') ++pos_;
        if (peek() == '0') {
            ++pos_;
            if (peek() >= '0' && peek() <= '9') {
                failAt(start, "numbers may not have leading zeros");
                return false;
            }
        } else if (digits() == 0) {
            failAt(start, "expected digits after '-'");
            return false;
        }
        if (peek() == '.') {
            integer = false;
            ++pos_;
            if (digits() == 0) {
                fail("expected digits after the decimal point");
                return false;
            }
        }
        if (peek() == 'e' || peek() == 'E') {
            integer = false;
            ++pos_;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (digits() == 0) {
                fail("expected digits in the exponent");
                return false;
            }
        }
        const char* first = text_.data() + start;
        const char* last = text_.data() + pos_;
        if (integer) {
            std::int64_t n = 0;
            if (std::from_chars(first, last, n).ec == std::errc()) {
                value = n;
                return true;
            }
        }
        double d = 0;
        const auto result = std::from_chars(first, last, d);
        if (result.ec != std::errc()) {
            failAt(start, "number out of range");
            return false;
        }
        value = d;
        return true;
    }

    std::string_view text_;
    LocatedJson& out_;
    std::size_t pos_ = 0;
    std::optional<JsoncError> error_;
    mutable std::size_t cacheOffset_ = 0;
    mutable int cacheLine_ = 1;
    mutable int cacheColumn_ = 1;
};

}  // namespace

std::string childPointer(const std::string& parent, std::string_view token) {
    std::string out = parent;
    out += '/';
    for (const char c : token) {
        if (c == '~') out += "~0";
        else if (c == '/') out += "~1";
        else out += c;
    }
    return out;
}

std::string childPointer(const std::string& parent, std::size_t index) {
    return parent + "/" + std::to_string(index);
}

SourcePosition LocatedJson::valueAt(std::string pointer) const {
    while (true) {
        if (auto it = values.find(pointer); it != values.end()) return it->second;
        if (pointer.empty()) return {1, 1};
        pointer.resize(pointer.rfind('/'));
    }
}

SourcePosition LocatedJson::keyAt(const std::string& pointer) const {
    if (auto it = keys.find(pointer); it != keys.end()) return it->second;
    return valueAt(pointer);
}

std::optional<JsoncError> parseJsonc(std::string_view text, LocatedJson& out) {
    out = LocatedJson{};
    return Parser(text, out).run();
}

}  // namespace vigil::config

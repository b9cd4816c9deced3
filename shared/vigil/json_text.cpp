#include "vigil/json_text.h"

#include "vigil/percent_encoding.h"

namespace vigil {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid.
std::size_t utf8SequenceLength(std::string_view s, std::size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned min = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    unsigned cp = b0 & (0x7Fu >> len);
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

}  // namespace

void appendJsonString(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.reserve(out.size() + text.size() + text.size() / 16 + 2);  // room for some escapes
    out += '"';
    for (std::size_t i = 0; i < text.size();) {
        // Runs of plain printable ASCII (most of any payload) are copied in one append.
        std::size_t run = i;
        while (run < text.size()) {
            const auto b = static_cast<unsigned char>(text[run]);
            if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\') break;
            ++run;
        }
        if (run > i) {
            out.append(text.data() + i, run - i);
            i = run;
            continue;
        }
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            const std::size_t len = utf8SequenceLength(text, i);
            if (len == 0) {
                out += "\xEF\xBF\xBD";
                ++i;
            } else {
                out.append(text.substr(i, len));
                i += len;
            }
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += kHex[c >> 4];
                    out += kHex[c & 0xF];
                } else {
                    out += static_cast<char>(c);
                }
        }
        ++i;
    }
    out += '"';
}

bool isValidUtf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        if (static_cast<unsigned char>(text[i]) < 0x80) {
            ++i;
            continue;
        }
        const std::size_t len = utf8SequenceLength(text, i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

namespace {


// The code unit of a "\uXXXX" escape at text[i], or -1.
int escapedUnit(std::string_view text, std::size_t i) {
    if (i + 6 > text.size() || text[i] != '\\' || text[i + 1] != 'u') return -1;
    int unit = 0;
    for (std::size_t k = 2; k < 6; ++k) {
        const int h = hexDigitValue(text[i + k]);
        if (h < 0) return -1;
        unit = unit * 16 + h;
    }
    return unit;
}

}  // namespace

std::string repairJsonText(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    bool inString = false;
    for (std::size_t i = 0; i < text.size();) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x80) {
            const std::size_t len = utf8SequenceLength(text, i);
            if (len == 0) {
                out += "\xEF\xBF\xBD";
                ++i;
            } else {
                out.append(text, i, len);
                i += len;
            }
            continue;
        }
        if (byte == '"') inString = !inString;
        if (!inString || byte != '\\' || i + 1 >= text.size()) {
            out += text[i++];
            continue;
        }
        const int unit = escapedUnit(text, i);
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            const int low = escapedUnit(text, i + 6);
            if (low >= 0xDC00 && low <= 0xDFFF) {
                out.append(text, i, 12);
                i += 12;
            } else {
                out += "\\uFFFD";
                i += 6;
            }
        } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
            out += "\\uFFFD";
            i += 6;
        } else {
            out.append(text, i, 2);  // any other escape, "\\" and "\"" included
            i += 2;
        }
    }
    return out;
}

void JsonObjectWriter::key(std::string_view k) {
    if (out_.size() > 1) out_ += ',';
    appendJsonString(out_, k);
    out_ += ':';
}

JsonObjectWriter& JsonObjectWriter::str(std::string_view k, std::string_view value) {
    key(k);
    appendJsonString(out_, value);
    return *this;
}

JsonObjectWriter& JsonObjectWriter::num(std::string_view k, std::int64_t value) {
    key(k);
    out_ += std::to_string(value);
    return *this;
}

JsonObjectWriter& JsonObjectWriter::boolean(std::string_view k, bool value) {
    key(k);
    out_ += value ? "true" : "false";
    return *this;
}

JsonObjectWriter& JsonObjectWriter::strings(std::string_view k, const std::vector<std::string>& values) {
    key(k);
    out_ += '[';
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out_ += ',';
        appendJsonString(out_, values[i]);
    }
    out_ += ']';
    return *this;
}

JsonObjectWriter& JsonObjectWriter::raw(std::string_view k, std::string_view json) {
    key(k);
    out_ += json;
    return *this;
}

std::string_view utf8Prefix(std::string_view text, std::size_t bytes) {
    if (text.size() <= bytes) return text;
    std::size_t end = bytes;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    return text.substr(0, end);
}

}  // namespace vigil

#include "mask/wide_text.h"

#include <cstdint>

namespace vigil::mask {
namespace {

std::uint32_t readUnit(std::string_view body, std::size_t at, const WideEncoding& e) {
    std::uint32_t v = 0;
    for (int k = 0; k < e.unitBytes; ++k) {
        const auto byte = static_cast<unsigned char>(body[at + static_cast<std::size_t>(e.bigEndian ? k : e.unitBytes - 1 - k)]);
        v = (v << 8) | byte;
    }
    return v;
}

void writeUnit(std::string& out, std::uint32_t v, const WideEncoding& e) {
    char bytes[4];
    for (int k = 0; k < e.unitBytes; ++k) {
        const int shift = 8 * (e.bigEndian ? e.unitBytes - 1 - k : k);
        bytes[k] = static_cast<char>((v >> shift) & 0xFF);
    }
    out.append(bytes, static_cast<std::size_t>(e.unitBytes));
}

void appendUtf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// The code point of the UTF-8 sequence at text[i] and its length; U+FFFD and 1 for a byte
// that does not start a valid sequence.
std::pair<std::uint32_t, std::size_t> decodeUtf8(std::string_view text, std::size_t i) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 < 0x80) return {b0, 1};
    std::size_t len = 0;
    std::uint32_t cp = 0, min = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return {0xFFFD, 1};
    }
    if (i + len > text.size()) return {0xFFFD, 1};
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(text[i + k]);
        if ((b & 0xC0) != 0x80) return {0xFFFD, 1};
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {0xFFFD, 1};
    return {cp, len};
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return out;
}

// The charset parameter's value, lower case, unquoted; empty when there is none.
std::string charsetOf(std::string_view contentType) {
    const auto type = lower(contentType);
    for (auto at = type.find(';'); at != std::string::npos; at = type.find(';', at + 1)) {
        auto param = std::string_view(type).substr(at + 1);
        param = param.substr(0, param.find(';'));
        while (!param.empty() && param.front() == ' ') param.remove_prefix(1);
        if (!param.starts_with("charset=")) continue;
        param.remove_prefix(8);
        while (!param.empty() && param.back() == ' ') param.remove_suffix(1);
        if (param.size() >= 2 && param.front() == '"' && param.back() == '"') param = param.substr(1, param.size() - 2);
        return std::string(param);
    }
    return {};
}

}  // namespace

std::optional<WideEncoding> wideEncoding(std::string_view contentType, std::string_view mediaType, std::string_view body) {
    const auto byte = [&](std::size_t i) { return i < body.size() ? static_cast<unsigned char>(body[i]) : 0x100u; };
    // A byte order mark says it all (UTF-32 LE's starts like UTF-16 LE's, so first).
    if (byte(0) == 0x00 && byte(1) == 0x00 && byte(2) == 0xFE && byte(3) == 0xFF) return WideEncoding{4, true, 4};
    if (byte(0) == 0xFF && byte(1) == 0xFE && byte(2) == 0x00 && byte(3) == 0x00) return WideEncoding{4, false, 4};
    if (byte(0) == 0xFE && byte(1) == 0xFF) return WideEncoding{2, true, 2};
    if (byte(0) == 0xFF && byte(1) == 0xFE) return WideEncoding{2, false, 2};
    // The charset's name without '-' and '_' ("UTF-16LE", "utf_16_le", "utf16le" alike);
    // UCS-2 is UTF-16 without surrogates, and written little-endian by those who name it.
    std::string charset;
    for (const char c : charsetOf(contentType)) {
        if (c != '-' && c != '_') charset += c;
    }
    if (charset == "ucs2") charset = "utf16le";
    if (charset == "ucs4") charset = "utf32";
    if (charset == "utf16le") return WideEncoding{2, false, 0};
    if (charset == "utf16be") return WideEncoding{2, true, 0};
    if (charset == "utf32le") return WideEncoding{4, false, 0};
    if (charset == "utf32be") return WideEncoding{4, true, 0};
    // "utf-16" without a mark: big-endian by RFC 2781, but most writers are little-endian;
    // text starts with an ASCII character, whose zero byte comes first in big-endian.
    if (charset == "utf16") return WideEncoding{2, byte(0) == 0x00, 0};
    if (charset == "utf32") return WideEncoding{4, byte(0) == 0x00, 0};
    // Another charset (or "utf-8" on what is not): where the zero bytes fall still tells.
    if (body.size() < 4) return std::nullopt;
    const bool textual = mediaType.starts_with("text/") || mediaType.find("json") != std::string_view::npos;
    if (!textual) return std::nullopt;
    const bool z0 = byte(0) == 0, z1 = byte(1) == 0, z2 = byte(2) == 0, z3 = byte(3) == 0;
    if (z0 && z1 && z2 && !z3) return WideEncoding{4, true, 0};
    if (!z0 && z1 && z2 && z3) return WideEncoding{4, false, 0};
    if (z0 && !z1 && z2 && !z3) return WideEncoding{2, true, 0};
    if (!z0 && z1 && !z2 && z3) return WideEncoding{2, false, 0};
    return std::nullopt;
}

std::string wideToUtf8(std::string_view body, const WideEncoding& e) {
    std::string out;
    out.reserve(body.size());
    const auto unit = static_cast<std::size_t>(e.unitBytes);
    std::size_t i = e.bomBytes;
    for (; i + unit <= body.size(); i += unit) {
        auto v = readUnit(body, i, e);
        if (e.unitBytes == 2 && v >= 0xD800 && v <= 0xDBFF && i + 2 * unit <= body.size()) {
            const auto low = readUnit(body, i + unit, e);
            if (low >= 0xDC00 && low <= 0xDFFF) {
                appendUtf8(out, 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00));
                i += unit;
                continue;
            }
        }
        if ((v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) v = 0xFFFD;
        appendUtf8(out, v);
    }
    if (i < body.size()) appendUtf8(out, 0xFFFD);  // a unit cut short
    return out;
}

void appendWide(std::string& out, std::string_view text, const WideEncoding& e) {
    for (std::size_t i = 0; i < text.size();) {
        const auto [cp, len] = decodeUtf8(text, i);
        i += len;
        if (e.unitBytes == 2 && cp >= 0x10000) {
            writeUnit(out, 0xD800 + ((cp - 0x10000) >> 10), e);
            writeUnit(out, 0xDC00 + ((cp - 0x10000) & 0x3FF), e);
        } else {
            writeUnit(out, cp, e);
        }
    }
}

}  // namespace vigil::mask

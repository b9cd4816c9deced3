#include "auth/base64url.h"

#include <array>
#include <cstdint>

namespace vigil::auth {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::uint8_t kInvalid = 0xff;

constexpr std::array<std::uint8_t, 256> makeDecodeTable() {
    std::array<std::uint8_t, 256> table{};
    for (auto& entry : table) entry = kInvalid;
    for (std::uint8_t i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = i;
    return table;
}

constexpr auto kDecodeTable = makeDecodeTable();

}  // namespace

std::optional<std::string> base64UrlDecode(std::string_view text) {
    // Padding is optional, but when present it must be exactly what the length calls for.
    if (text.ends_with('=')) {
        if (text.size() % 4 != 0) return std::nullopt;
        const std::size_t padding = text.ends_with("==") ? 2 : 1;
        text.remove_suffix(padding);
        if (text.size() % 4 != 4 - padding) return std::nullopt;
    }
    const std::size_t tail = text.size() % 4;
    if (tail == 1) return std::nullopt;  // 6 bits cannot make a byte

    std::string out;
    out.reserve(text.size() / 4 * 3 + (tail == 0 ? 0 : tail - 1));
    std::uint32_t accumulator = 0;
    int bits = 0;
    for (const char c : text) {
        const std::uint8_t value = kDecodeTable[static_cast<unsigned char>(c)];
        if (value == kInvalid) return std::nullopt;
        accumulator = (accumulator << 6) | value;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((accumulator >> bits) & 0xffu));
        }
    }
    if ((accumulator & ((1u << bits) - 1u)) != 0) return std::nullopt;
    return out;
}

std::string base64UrlEncode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t triple =
            (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
            (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
            std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
        out.push_back(kAlphabet[(triple >> 18) & 0x3f]);
        out.push_back(kAlphabet[(triple >> 12) & 0x3f]);
        out.push_back(kAlphabet[(triple >> 6) & 0x3f]);
        out.push_back(kAlphabet[triple & 0x3f]);
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t single = static_cast<unsigned char>(bytes[i]);
        out.push_back(kAlphabet[(single >> 2) & 0x3f]);
        out.push_back(kAlphabet[(single << 4) & 0x3f]);
    } else if (rest == 2) {
        const std::uint32_t pair = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 8) |
                                   std::uint32_t{static_cast<unsigned char>(bytes[i + 1])};
        out.push_back(kAlphabet[(pair >> 10) & 0x3f]);
        out.push_back(kAlphabet[(pair >> 4) & 0x3f]);
        out.push_back(kAlphabet[(pair << 2) & 0x3f]);
    }
    return out;
}

}  // namespace vigil::auth

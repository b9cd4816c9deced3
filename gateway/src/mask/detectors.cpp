#include "mask/detectors.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <nlohmann/json.hpp>

#include "auth/base64url.h"

namespace vigil::mask {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool isLower(char c) { return c >= 'a' && c <= 'z'; }
bool isAlnum(char c) { return isDigit(c) || isUpper(c) || isLower(c); }
bool isBase64Url(char c) { return isAlnum(c) || c == '-' || c == '_'; }
bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

char at(std::string_view text, std::size_t i) { return i < text.size() ? text[i] : '\0'; }
char before(std::string_view text, std::size_t i, std::size_t back = 1) { return i >= back ? text[i - back] : '\0'; }

std::string digitsOf(std::string_view value) {
    std::string out;
    for (const char c : value) {
        if (isDigit(c)) out += c;
    }
    return out;
}

std::bitset<256> alphabet(std::string_view chars, bool digits = false, bool upper = false, bool lower = false) {
    std::bitset<256> set;
    for (const char c : chars) set.set(static_cast<unsigned char>(c));
    for (int c = 0; c < 256; ++c) {
        const char ch = static_cast<char>(c);
        if ((digits && isDigit(ch)) || (upper && isUpper(ch)) || (lower && isLower(ch))) set.set(c);
    }
    return set;
}

// A number that goes on with the same separator and more digits is not the value (it is
// part of a longer identifier, such as an order number or a version).
bool continuesAfter(std::string_view text, std::size_t end, std::string_view separators) {
    const char after = at(text, end);
    if (isDigit(after)) return true;
    return separators.find(after) != std::string_view::npos && after != '\0' && isDigit(at(text, end + 1));
}
bool continuesBefore(std::string_view text, std::size_t begin, std::string_view separators) {
    const char prior = before(text, begin);
    if (isDigit(prior)) return true;
    return separators.find(prior) != std::string_view::npos && prior != '\0' && isDigit(before(text, begin, 2));
}
bool continuesNumber(std::string_view text, std::size_t begin, std::size_t end, std::string_view separators) {
    return continuesAfter(text, end, separators) || continuesBefore(text, begin, separators);
}

// Payment cards -----------------------------------------------------------------------

// A card's expiry date right after it ("4111 1111 1111 1111 12/28", "... 09/2027"): the
// digits that follow are a date, not more of the number.
bool expiryFollows(std::string_view text, std::size_t end) {
    std::size_t i = end + 1;  // past the separator
    std::size_t month = 0;
    while (isDigit(at(text, i + month))) ++month;
    if (month < 1 || month > 2 || at(text, i + month) != '/') return false;
    i += month + 1;
    std::size_t year = 0;
    while (isDigit(at(text, i + year))) ++year;
    return (year == 2 || year == 4) && !isAlnum(at(text, i + year)) && at(text, i + year) != '/';
}

bool validateCard(std::string_view text, std::size_t& begin, std::size_t& end) {
    const auto value = text.substr(begin, end - begin);
    char separator = 0;
    std::vector<std::size_t> groups{0};
    for (std::size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        if (isDigit(c)) {
            ++groups.back();
            continue;
        }
        if (c == '\xc2' && i + 1 < value.size() && value[i + 1] == '\xa0') ++i;  // a no-break space, as one separator
        if (separator != 0 && c != separator) return false;  // "4111 1111-1111 1111"
        separator = c;
        groups.push_back(0);
    }
    if (separator != 0) {
        // Printed card numbers come in groups of 4 (4-6-5 and 4-6-4 for Amex and Diners).
        for (std::size_t i = 0; i < groups.size(); ++i) {
            const bool last = i + 1 == groups.size();
            if (groups[i] < (last ? 3U : 4U) || groups[i] > 6) return false;
        }
    }
    if (continuesBefore(text, begin, " -.")) return false;
    if (continuesAfter(text, end, " -.") && !(at(text, end) == ' ' && expiryFollows(text, end))) return false;
    // The same with a no-break space (two bytes) between the digits.
    if (at(text, end) == '\xc2' && at(text, end + 1) == '\xa0' && isDigit(at(text, end + 2))) return false;
    if (before(text, begin) == '\xa0' && before(text, begin, 2) == '\xc2' && isDigit(before(text, begin, 3))) return false;
    const auto digits = digitsOf(value);
    return digits.size() >= 13 && digits.size() <= 19 && luhnValid(digits) && cardIssuerKnown(digits);
}

// US social security numbers -------------------------------------------------------------

bool validateSsn(std::string_view text, std::size_t& begin, std::size_t& end) {
    const auto value = text.substr(begin, end - begin);
    if (value.size() != 11 || value[3] != value[6]) return false;
    if (continuesNumber(text, begin, end, "-")) return false;
    return ssnValid(value.substr(0, 3), value.substr(4, 2), value.substr(7, 4));
}

// IBAN ---------------------------------------------------------------------------------------

struct IbanCountry {
    char code[3];
    int length;
};
constexpr IbanCountry kIbanCountries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
    {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28},
    {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23},
    {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18},
    {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24},
    {"SC", 31}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

bool validateIban(std::string_view text, std::size_t& begin, std::size_t& end) {
    const auto value = text.substr(begin, end - begin);
    std::string compact;
    const bool spaced = value.find(' ') != std::string_view::npos;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == ' ') {
            // Printed IBANs are grouped by four: a space after every fourth character.
            if (compact.size() % 4 != 0 || compact.empty()) return false;
            continue;
        }
        if (spaced && i > 0 && compact.size() % 4 == 0 && value[i - 1] != ' ') return false;
        compact += value[i];
    }
    return ibanValid(compact);
}

// An IBAN written in small letters, without spaces ("de89370400440532013000", as typed into
// a form or a chat). A hexadecimal string (a hash, an id) of a country's length passes the
// check one time in 97: a candidate whose letters after the country are all a-f and that has
// any is taken for one.
bool validateLowerIban(std::string_view text, std::size_t& begin, std::size_t& end) {
    const auto value = text.substr(begin, end - begin);
    bool hexLetters = false;
    bool otherLetters = false;
    std::string upper;
    upper.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (i >= 4 && isLower(c)) (c <= 'f' ? hexLetters : otherLetters) = true;
        if (i >= 4 && isUpper(c)) (c <= 'F' ? hexLetters : otherLetters) = true;
        upper += isLower(c) ? static_cast<char>(c - 'a' + 'A') : c;
    }
    if (hexLetters && !otherLetters) return false;
    return ibanValid(upper);
}

std::string normalizeLowerIban(std::string_view value) {
    std::string out(value);
    for (auto& c : out) {
        if (isLower(c)) c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

// E-mail addresses -----------------------------------------------------------------------

// UTF-8 bytes of the letters of two-byte scripts (U+00C0 to U+07FF: accented Latin, Greek,
// Cyrillic, Armenian, Hebrew, Arabic and others): lead bytes 0xC3-0xDF and continuation
// bytes. Internationalized addresses (RFC 6531) in these scripts are found, in a text and
// across a stream's pieces. Three-byte scripts (CJK) are not: their text has no spaces, so a
// local part could not be told from the sentence before it.
bool isScriptLetterByte(char c) {
    const auto b = static_cast<unsigned char>(c);
    return (b >= 0xC3 && b <= 0xDF) || (b >= 0x80 && b <= 0xBF);
}
bool isContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
bool isAsciiLocalPartChar(char c) { return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
bool isLocalPartChar(char c) { return isAsciiLocalPartChar(c) || isScriptLetterByte(c); }

// Where a local part that ends at `at` (the '@') starts, reading back over bytes `allowed`
// accepts; npos when it is longer than 64 bytes. Never from the middle of a character.
template <class Allowed>
std::size_t localPartStart(std::string_view text, std::size_t at, Allowed allowed) {
    std::size_t start = at;
    // 64 bytes, and up to 3 more that may be the tail of a character before it.
    while (start > 0 && at - start < 67 && allowed(text[start - 1])) --start;
    const bool more = start > 0 && allowed(text[start - 1]);
    while (start < at && isContinuationByte(text[start])) ++start;
    return more || at - start > 64 ? std::string_view::npos : start;
}

bool validateEmail(std::string_view text, std::size_t& begin, std::size_t& end) {
    // The expression starts at the '@' (a literal the engine finds fast, where a leading
    // class would make it track a start at every letter): the local part is read back here.
    if (begin >= text.size() || text[begin] != '@') return false;
    // With the letters of two-byte scripts; failing that (longer than 64 bytes with them),
    // ASCII only, as an address after a word in another script is written.
    auto start = localPartStart(text, begin, isLocalPartChar);
    if (start == std::string_view::npos) start = localPartStart(text, begin, isAsciiLocalPartChar);
    if (start == std::string_view::npos) return false;  // longer than 64
    begin = start;
    while (begin < end && (text[begin] == '.' || text[begin] == '-' || text[begin] == '+')) ++begin;
    const auto value = text.substr(begin, end - begin);
    const auto at = value.find('@');
    if (at == 0 || at == std::string_view::npos) return false;
    const auto local = value.substr(0, at);
    const auto domain = value.substr(at + 1);
    if (local.back() == '.' || local.find("..") != std::string_view::npos) return false;
    if (domain.find("..") != std::string_view::npos || domain.front() == '-' || domain.front() == '.') return false;
    std::size_t labelStart = 0;
    for (std::size_t i = 0; i <= domain.size(); ++i) {
        if (i == domain.size() || domain[i] == '.') {
            const auto label = domain.substr(labelStart, i - labelStart);
            if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
            labelStart = i + 1;
        }
    }
    // The expression may end on an underscore after the top-level domain ("a@b.com_2024.csv",
    // where '_' is a word character and \b does not hold): it is not part of the address.
    if (end > begin && text[end - 1] == '_') --end;
    const char next = ::vigil::mask::at(text, end);
    if (next == '@' || (next == '.' && isAlnum(::vigil::mask::at(text, end + 1)))) return false;  // a path, or more host name
    if (next == '-') {
        // A hyphen ends the address ("jane@example.com--thanks", "a@b.com-card.csv" is found
        // whole as a longer address) unless it runs on into a further label: "a@b.com-x.c"
        // is a host name that is not an address (the longer match failed for a reason).
        std::size_t i = end;
        while (i < text.size() && (isAlnum(text[i]) || text[i] == '-')) ++i;
        return !(::vigil::mask::at(text, i) == '.' && isAlnum(::vigil::mask::at(text, i + 1)));
    }
    return true;
}

// The small letter of a capital in the two-byte scripts whose case differs by a fixed
// offset (Latin-1, Latin Extended-A pairs, Greek, Cyrillic), and Greek final sigma as the
// sigma (case folding: ΝΙΚΟΣ and νικος are one name); others as they are.
char32_t lowerCodePoint(char32_t c) {
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3AB && c != 0x3A2) || (c >= 0x410 && c <= 0x42F)) return c + 0x20;
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    if (c == 0x3C2) return 0x3C3;  // final sigma: the same letter as the capital's small form
    if (c == 0x386) return 0x3AC;  // Greek capitals with tonos
    if (c >= 0x388 && c <= 0x38A) return c + 0x25;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 0x3F;
    if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && c % 2 == 0) return c + 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 1) return c + 1;
    return c;
}

std::string normalizeEmail(std::string_view value) {
    // The same address in other capitals gives the same token (hash operator).
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        const auto b = static_cast<unsigned char>(value[i]);
        if (b >= 0xC0 && b <= 0xDF && i + 1 < value.size() && isContinuationByte(value[i + 1])) {
            const auto lower = lowerCodePoint(((b & 0x1Fu) << 6) | (static_cast<unsigned char>(value[i + 1]) & 0x3Fu));
            out += static_cast<char>(0xC0 | (lower >> 6));
            out += static_cast<char>(0x80 | (lower & 0x3F));
            ++i;
            continue;
        }
        out += isUpper(value[i]) ? static_cast<char>(value[i] - 'A' + 'a') : value[i];
    }
    return out;
}

// Phone numbers --------------------------------------------------------------------------

// A word that says a phone number follows, in the 40 bytes before `begin` on its line.
bool phoneCueBefore(std::string_view text, std::size_t begin) {
    const auto from = begin > 40 ? begin - 40 : 0;
    auto window = text.substr(from, begin - from);
    if (const auto newline = window.rfind('\n'); newline != std::string_view::npos) window.remove_prefix(newline + 1);
    std::string lower(window);
    for (auto& c : lower) {
        if (isUpper(c)) c = static_cast<char>(c - 'A' + 'a');
    }
    for (const std::string_view cue : {"tel", "phone", "call", "mobile", "cell", "fax", "contact", "reach", "sms", "text me",
                                       "whatsapp", "dial", "\xe2\x98\x8e" /* U+260E */}) {
        // At the start of a word: "hotel" and "recall" say nothing.
        for (auto at = lower.find(cue); at != std::string::npos; at = lower.find(cue, at + 1)) {
            if (at == 0 || !isLower(lower[at - 1])) return true;
        }
    }
    return false;
}

bool validatePhone(std::string_view text, std::size_t& begin, std::size_t& end) {
    const auto value = text.substr(begin, end - begin);
    const auto digits = digitsOf(value);
    // A number written on: more digits, or the same kind of separator and digits.
    if (isDigit(at(text, end)) || ((at(text, end) == '-' || at(text, end) == '.') && isDigit(at(text, end + 1)))) return false;
    const char prior = before(text, begin);
    if (isDigit(prior) || prior == '+' || ((prior == '-' || prior == '.' || prior == '/') && isDigit(before(text, begin, 2)))) {
        return false;
    }
    // Digit groups that go on before or after ("... 4063 0941 0957 4063 ...") belong to a
    // longer number (a grouped card or IBAN), not to a phone number.
    if ((prior == ' ' && isDigit(before(text, begin, 2))) || (at(text, end) == ' ' && isDigit(at(text, end + 1)))) return false;
    if (value.front() == '+') return digits.size() >= 8 && digits.size() <= 15 && digits[0] != '0';
    char separator = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (isDigit(c) || c == '(' || c == ')') continue;
        if (c == ' ' && i > 0 && value[i - 1] == ')') continue;
        if (separator != 0 && c != separator) return false;
        separator = c;
    }
    if (value.front() == '0') return digits.size() >= 10 && digits.size() <= 12;
    // North American numbers: area code and exchange start with 2-9.
    if (digits.size() != 10 || digits[0] < '2' || digits[3] < '2') return false;
    // Three numbers apart by spaces are as often sizes or ports ("256 512 1024"): as a phone
    // number only after a word that says so ("call 415 555 2671").
    return !(separator == ' ' && value.front() != '(') || phoneCueBefore(text, begin);
}

// IP addresses ---------------------------------------------------------------------------

bool validateIpv4(std::string_view text, std::size_t& begin, std::size_t& end) {
    const auto value = text.substr(begin, end - begin);
    std::size_t start = 0;
    for (int part = 0; part < 4; ++part) {
        auto stop = value.find('.', start);
        if (stop == std::string_view::npos) stop = value.size();
        const auto octet = value.substr(start, stop - start);
        if (octet.empty() || octet.size() > 3 || (octet.size() > 1 && octet[0] == '0')) return false;
        int n = 0;
        for (const char c : octet) n = n * 10 + (c - '0');
        if (n > 255) return false;
        start = stop + 1;
    }
    // 1.2.3.4.5 or v1.2.3.4 is a version, not an address.
    if ((at(text, end) == '.' && isDigit(at(text, end + 1))) ||
        (before(text, begin) == '.' && isDigit(before(text, begin, 2)))) {
        return false;
    }
    const char prior = before(text, begin);
    return !(prior == 'v' || prior == 'V');
}

bool validateIpv6(std::string_view text, std::size_t& begin, std::size_t& end) {
    // The expression starts at the first ':' (fast to find); the first group is read back.
    for (int k = 0; k < 4 && begin > 0 && isHexDigit(text[begin - 1]); ++k) --begin;
    const auto value = text.substr(begin, end - begin);
    if (value.size() < 2 || value.size() > 45) return false;
    const char prior = before(text, begin);
    const char next = at(text, end);
    if (isAlnum(prior) || prior == '_' || prior == ':' || isAlnum(next) || next == '_' || next == ':') return false;
    std::array<char, 46> buffer{};
    std::memcpy(buffer.data(), value.data(), value.size());
    in6_addr address{};
    if (inet_pton(AF_INET6, buffer.data(), &address) != 1) return false;
    // "a::b" in prose or C++ ("std::", "Foo::Bar") parses too; real addresses have at
    // least two groups with digits, or are the loopback / unspecified forms.
    // "::" alone is code far more often than the unspecified address ("xs[::-1]", Haskell's
    // "f :: Int"); so is a slice "xs[1::2]" (an address in brackets follows "//" or a space).
    if (value == "::") return false;
    const char beforeBracket = before(text, begin, 2);
    if (prior == '[' && (isAlnum(beforeBracket) || beforeBracket == '_' || beforeBracket == ']' || beforeBracket == ')')) {
        return false;
    }
    if (value == "::1") return true;
    int groupsWithDigits = 0;
    bool inGroup = false, hasDigit = false;
    for (std::size_t i = 0; i <= value.size(); ++i) {
        if (i == value.size() || value[i] == ':') {
            if (inGroup && hasDigit) ++groupsWithDigits;
            inGroup = hasDigit = false;
        } else {
            inGroup = true;
            hasDigit = hasDigit || isDigit(value[i]);
        }
    }
    return groupsWithDigits >= 2;
}

// Secrets ------------------------------------------------------------------------------------

bool validateGoogleKey(std::string_view text, std::size_t& begin, std::size_t& end) {
    return end - begin == 39 && !isBase64Url(at(text, end));
}

bool isBase64Char(char c) { return isAlnum(c) || c == '+' || c == '/' || c == '='; }

bool validatePrivateKey(std::string_view text, std::size_t& /*begin*/, std::size_t& end) {
    // The candidate is the BEGIN line; the value runs to the matching END line. Without
    // one (a truncated key, or a stream that has not sent it yet), it runs over the lines
    // of base64 (and PEM headers) that follow, to the end of the text if they reach it.
    constexpr std::string_view kEnd = "-----END ";
    constexpr std::string_view kTail = "PRIVATE KEY";  // then "-----", or " BLOCK-----" (OpenPGP armor)
    constexpr std::size_t kLongest = 16384;
    // Looked for only as far as a key can reach: a text of many BEGIN lines and no END
    // must not cost a search to its end for each of them.
    const auto reach = text.substr(0, std::min(text.size(), end + kLongest + kEnd.size()));
    const auto endLine = reach.find(kEnd, end);
    if (endLine != std::string_view::npos) {
        const auto tail = text.find(kTail, endLine);
        if (tail != std::string_view::npos && tail - endLine <= 40) {
            const auto rest = text.substr(tail + kTail.size());
            const std::size_t dashes = rest.starts_with("-----") ? 5 : rest.starts_with(" BLOCK-----") ? 11 : 0;
            if (dashes > 0) {
                end = tail + kTail.size() + dashes;
                return true;
            }
        }
    }
    std::size_t at = end;
    std::size_t covered = end;
    bool sawBody = false;
    while (at - end <= kLongest) {
        if (at >= text.size()) {
            end = text.size();  // may go on
            return true;
        }
        if (text[at] == '\r' || text[at] == '\n') {
            ++at;
            continue;
        }
        auto stop = text.find('\n', at);
        const bool last = stop == std::string_view::npos;
        if (last) stop = text.size();
        auto line = text.substr(at, stop - at);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
        // Indented as in YAML ("key: |"), Markdown or code: the indentation is not the key's.
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        const bool header = !sawBody && line.find(':') != std::string_view::npos;
        // The END line arriving: what came so far is its start.
        if (last && (kEnd.starts_with(line) || line.starts_with(kEnd))) {
            end = text.size();
            return true;
        }
        if (line.starts_with("-----") || (!header && !std::all_of(line.begin(), line.end(), isBase64Char))) break;
        sawBody = sawBody || !header;
        covered = static_cast<std::size_t>(line.data() - text.data()) + line.size();
        at = stop;
        if (last) {
            end = text.size();
            return true;
        }
    }
    end = covered;
    return true;
}

bool validateJwt(std::string_view text, std::size_t& begin, std::size_t& end) {
    if (isBase64Url(at(text, end)) || isBase64Url(before(text, begin))) return false;
    const auto value = text.substr(begin, end - begin);
    const auto dot = value.find('.');
    const auto header = auth::base64UrlDecode(value.substr(0, dot));
    if (!header) return false;
    const auto json = nlohmann::json::parse(*header, nullptr, /*allow_exceptions=*/false);
    return json.is_object() && json.contains("alg");
}

bool isTokenChar(char c) { return isAlnum(c) || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '-'; }

bool validateBearer(std::string_view text, std::size_t& begin, std::size_t& end) {
    if (isTokenChar(at(text, end)) || at(text, end) == '=') return false;
    begin += 6;  // "Bearer"
    while (begin < end && text[begin] == ' ') ++begin;
    return end - begin >= 16;
}

bool isValueChar(char c) {
    return !(isSpace(c) || c == '"' || c == '\'' || c == ',' || c == ';' || c == '`' || c == '\0');
}

bool validateCredential(std::string_view text, std::size_t& begin, std::size_t& end) {
    // [prefix_]key ["'] [ ] [:=] [ ] ["'] value; the key starts a word or follows a '_'.
    if (isAlnum(before(text, begin))) return false;
    std::size_t i = begin;
    while (i < end && (isAlnum(text[i]) || text[i] == '_' || text[i] == '-')) ++i;
    if (i < end && (text[i] == '"' || text[i] == '\'')) ++i;
    while (i < end && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i >= end) return false;
    const char separator = text[i++];
    while (i < end && (text[i] == ' ' || text[i] == '\t')) ++i;
    bool quoted = false;
    if (i < end && (text[i] == '"' || text[i] == '\'')) {
        quoted = true;
        ++i;
    }
    // The value runs to its end, also past what the expression looked at.
    std::size_t stop = i;
    while (stop < text.size() && stop - i < 256 && isValueChar(text[stop])) ++stop;
    while (stop > i && (text[stop - 1] == '.' || text[stop - 1] == ')') && !quoted) --stop;
    if (stop - i < 6) return false;
    const auto value = text.substr(i, stop - i);
    // "password: forgotten" in prose: a bare lower-case word after ':' is not a secret.
    const bool plainWord = std::all_of(value.begin(), value.end(), isLower);
    if (!quoted && separator == ':' && plainWord) return false;
    begin = i;
    end = stop;
    return true;
}

std::string normalizeDigits(std::string_view value) { return digitsOf(value); }

std::string normalizeIban(std::string_view value) {
    std::string out;
    for (const char c : value) {
        if (c != ' ') out += c;
    }
    return out;
}

std::vector<Detector> makeBuiltins() {
    const auto digitsAndSpaces = alphabet(" -", true);
    std::vector<Detector> d;
    auto add = [&](std::string entity, std::vector<std::string> expressions, Detector::Validator validate,
                   std::bitset<256> holdAlphabet, std::size_t holdWidth, Detector::Normalizer normalize = nullptr,
                   bool caseless = false) {
        Detector detector;
        detector.entity = std::move(entity);
        detector.expressions = std::move(expressions);
        detector.validate = validate;
        detector.normalize = normalize;
        detector.holdAlphabet = holdAlphabet;
        detector.holdWidth = holdWidth;
        detector.caseless = caseless;
        d.push_back(std::move(detector));
    };
    // Secrets first: between equal spans the more specific type wins.
    add("PRIVATE_KEY", {R"(-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----)"}, validatePrivateKey,
        alphabet("- ", true, true), 48);
    add("JWT", {R"(\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*)"}, validateJwt,
        alphabet("-_.", true, true, true), 8192);
    add("CLOUD_ACCESS_KEY", {R"(\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b)", R"(\bAIza[0-9A-Za-z_-]{35})"},
        [](std::string_view text, std::size_t& begin, std::size_t& end) {
            return text[begin + 1] == 'I' ? validateGoogleKey(text, begin, end) : true;
        },
        alphabet("-_", true, true, true), 40);
    add("BEARER_TOKEN", {R"(\b[Bb][Ee][Aa][Rr][Ee][Rr] {1,4}[A-Za-z0-9._~+/-]{16,}=*)"}, validateBearer,
        alphabet("._~+/=-", true, true, true), 4096);
    add("CREDENTIAL",
        // No \b: the name may end a longer one joined by '_' (DB_PASSWORD=, OPENAI_API_KEY=,
        // aws_secret_access_key =, GITHUB_TOKEN=), and '_' is a word character; the validator
        // checks what comes before. (A leading class repetition kept Vectorscan from finding
        // the names as literals: the scan ran at a third of its speed.)
        {R"((?:password|passwd|pwd|secret|client_secret|api_key|apikey|api-key|access_token|auth_token|secret_key|secret_access_key|private_key_id|token)["']?[ \t]{0,8}[:=][ \t]{0,8}["']?[^\s"',;`]{6})"},
        validateCredential, [] {
            std::bitset<256> set;
            set.set();
            for (const char c : std::string_view(" \t\r\n\f\v\"',;`")) set.reset(static_cast<unsigned char>(c));
            return set;
        }(),
        256, nullptr, /*caseless=*/true);
    // Printed card numbers: 13-19 digits together, or in groups (4-4-4-4, 4-6-5, 4-4-4-4-3...).
    // Groups apart by a space, '-', '.' or a no-break space (U+00A0, as word processors print them).
    add("CREDIT_CARD",
        {R"(\b\d{13,19}\b)",
         R"(\b\d{4}(?:[ .-]|\xc2\xa0)\d{4,6}(?:[ .-]|\xc2\xa0)\d{3,6}(?:(?:[ .-]|\xc2\xa0)\d{3,5}){0,2}\b)"},
        validateCard, alphabet(" -.\xc2\xa0", true), 28, normalizeDigits);
    add("US_SSN", {R"(\b\d{3}-\d{2}-\d{4}\b)", R"(\b\d{3} \d{2} \d{4}\b)"}, validateSsn, digitsAndSpaces, 11,
        normalizeDigits);
    // Capitals only: a stream holds back the trailing run of a detector's bytes, and with
    // small letters and spaces in it, that run would be the last words of all prose.
    add("IBAN", {R"(\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b)"}, validateIban, alphabet(" ", true, true), 44,
        normalizeIban);
    // ... and in small letters, together (a second detector of the same type: its bytes leave
    // out the space, so a stream holds back no more than a word for it).
    add("IBAN", {R"(\b[a-z]{2}\d{2}[A-Za-z0-9]{11,30}\b)"}, validateLowerIban, alphabet("", true, true, true), 34,
        normalizeLowerIban);
    add("EMAIL",
        // A top-level domain in letters; in punycode or a two-byte script ("xn--p1ai", ".рф").
        {R"(@[A-Za-z0-9\x80-\xbf\xc3-\xdf-]+(?:\.[A-Za-z0-9\x80-\xbf\xc3-\xdf-]+)*\.(?:[A-Za-z]{2,24}(?:\b|_)|xn--[A-Za-z0-9-]+|(?:[\xc3-\xdf][\x80-\xbf])+))"},
        validateEmail, [] {
            auto set = alphabet("._%+-@", true, true, true);
            for (int b = 0x80; b <= 0xDF; ++b) {
                if (isScriptLetterByte(static_cast<char>(b))) set.set(static_cast<std::size_t>(b));
            }
            return set;
        }(),
        254, normalizeEmail);
    add("IP_ADDRESS",
        {R"(\b(?:\d{1,3}\.){3}\d{1,3}\b)",
         R"(:[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,7}(?:\.\d{1,3}){0,3})"},
        [](std::string_view text, std::size_t& begin, std::size_t& end) {
            return text.substr(begin, end - begin).find(':') == std::string_view::npos ? validateIpv4(text, begin, end)
                                                                                      : validateIpv6(text, begin, end);
        },
        alphabet(":.", true, true, true), 46);
    add("PHONE",
        {R"(\+[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,6}\b)",
         R"((?:\(\d{3}\) ?|\b\d{3}[-.])\d{3}[-.]\d{4}\b)",
         // ... and with spaces: "415 555 2671", "(415) 555 2671".
         R"((?:\(\d{3}\) ?|\b\d{3} )\d{3} \d{4}\b)",
         // National numbers starting with 0, as printed in the UK, Germany and elsewhere
         // (3-4-4, 4-3-4, 5-6, 3-8...). Written as separate shapes: the one expression with
         // optional spaces, \b0\d{2,4} ?\d{3,4} ?\d{3,4}\b, is missed by Vectorscan 5.4.9
         // at some buffer alignments (tst_mask_quality sweeps every alignment).
         R"(\b0\d{2} \d{4} \d{4}\b)",
         R"(\b0\d{3} \d{3} \d{4}\b)",
         R"(\b0\d{9,10}\b)",
         R"(\b0\d{2,4} \d{5,8}\b)",
         R"(\b0[1-9](?:[ .]\d{2}){4}\b)"},
        validatePhone, alphabet(" +().-", true), 28, normalizeDigits);
    return d;
}

}  // namespace

const std::vector<Detector>& builtinDetectors() {
    static const std::vector<Detector> detectors = makeBuiltins();
    return detectors;
}

std::vector<std::string> builtinEntitiesFor(std::string_view name) {
    if (name == "credit_card") return {"CREDIT_CARD"};
    if (name == "us_ssn") return {"US_SSN"};
    if (name == "iban") return {"IBAN"};
    if (name == "email") return {"EMAIL"};
    if (name == "phone") return {"PHONE"};
    if (name == "ip_address") return {"IP_ADDRESS"};
    if (name == "cloud_access_key") return {"CLOUD_ACCESS_KEY"};
    if (name == "private_key") return {"PRIVATE_KEY"};
    if (name == "jwt") return {"JWT"};
    if (name == "bearer_token") return {"BEARER_TOKEN"};
    if (name == "credential") return {"CREDENTIAL"};
    if (name == "secrets") return {"CLOUD_ACCESS_KEY", "PRIVATE_KEY", "JWT", "BEARER_TOKEN", "CREDENTIAL"};
    return {};
}

std::vector<std::string> builtinProfileNames() {
    return {"credit_card", "us_ssn",      "iban", "email",        "phone",      "ip_address",
            "cloud_access_key", "private_key", "jwt",  "bearer_token", "credential", "secrets"};
}

bool luhnValid(std::string_view digits) {
    int sum = 0;
    bool doubled = false;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        int d = *it - '0';
        if (doubled) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
        doubled = !doubled;
    }
    return !digits.empty() && sum % 10 == 0;
}

bool cardIssuerKnown(std::string_view digits) {
    const auto n = digits.size();
    auto prefix = [&](std::size_t len) {
        int v = 0;
        for (std::size_t i = 0; i < len && i < n; ++i) v = v * 10 + (digits[i] - '0');
        return v;
    };
    const int p1 = prefix(1), p2 = prefix(2), p3 = prefix(3), p4 = prefix(4);
    if (p1 == 4) return n == 13 || n == 16 || n == 19;                                 // Visa
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16;         // Mastercard
    if (p2 == 34 || p2 == 37) return n == 15;                                          // American Express
    if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65) return n >= 16 && n <= 19;  // Discover
    if (p2 == 36 || (p3 >= 300 && p3 <= 305)) return n >= 14 && n <= 19;              // Diners Club
    if (p2 == 38 || p2 == 39) return n >= 16 && n <= 19;                               // Diners Club
    if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;                           // JCB
    if (p2 == 62) return n >= 16 && n <= 19;                                           // UnionPay
    return false;
}

bool ibanValid(std::string_view compact) {
    if (compact.size() < 15 || compact.size() > 34) return false;
    if (!isUpper(compact[0]) || !isUpper(compact[1]) || !isDigit(compact[2]) || !isDigit(compact[3])) return false;
    const auto country = std::find_if(std::begin(kIbanCountries), std::end(kIbanCountries), [&](const IbanCountry& c) {
        return c.code[0] == compact[0] && c.code[1] == compact[1];
    });
    if (country == std::end(kIbanCountries) || static_cast<std::size_t>(country->length) != compact.size()) return false;
    // ISO 13616 / ISO 7064 MOD 97-10: the first four characters moved to the end, letters
    // as 10..35, the number mod 97 is 1.
    int remainder = 0;
    for (std::size_t k = 0; k < compact.size(); ++k) {
        const char c = compact[(k + 4) % compact.size()];
        if (isDigit(c)) {
            remainder = (remainder * 10 + (c - '0')) % 97;
        } else if (isUpper(c)) {
            remainder = (remainder * 100 + (c - 'A' + 10)) % 97;
        } else {
            return false;
        }
    }
    return remainder == 1;
}

bool ssnValid(std::string_view area, std::string_view group, std::string_view serial) {
    if (area == "000" || area == "666" || area[0] == '9') return false;
    return group != "00" && serial != "0000";
}

}  // namespace vigil::mask

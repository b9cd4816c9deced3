#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::mask {

// Text in UTF-16 or UTF-32. Detectors read UTF-8, so such a body is decoded, masked and
// encoded back the way it came (same units, byte order and byte order mark).
struct WideEncoding {
    int unitBytes = 2;  // 2: UTF-16, 4: UTF-32
    bool bigEndian = false;
    std::size_t bomBytes = 0;  // the byte order mark the body starts with (kept as it was)
};

// How a body that is not UTF-8 without zero bytes is encoded when it is UTF-16 or UTF-32,
// as the readers that accept it tell: a byte order mark; else the charset parameter
// ("utf-16le", "UTF_16LE", "ucs-2", "utf-16" with the byte order read from the first unit);
// else, for a type naming JSON or text/*, where the zero bytes of the first four fall
// (RFC 4627 section 3, as Python's requests reads JSON). `mediaType` is the lower-case type
// without parameters. Nothing for anything else.
std::optional<WideEncoding> wideEncoding(std::string_view contentType, std::string_view mediaType, std::string_view body);

// The text after the byte order mark as UTF-8; a unit that does not decode (a lone
// surrogate, a value past U+10FFFF, a trailing odd byte) becomes U+FFFD, as lenient readers
// read it.
std::string wideToUtf8(std::string_view body, const WideEncoding& encoding);

// Appends UTF-8 `text` in `encoding` (without a byte order mark); invalid UTF-8 bytes become
// U+FFFD.
void appendWide(std::string& out, std::string_view text, const WideEncoding& encoding);

}  // namespace vigil::mask

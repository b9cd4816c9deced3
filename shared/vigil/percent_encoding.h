#pragma once

#include <string>
#include <string_view>

namespace vigil {

// The value of a hexadecimal digit (either case), or -1.
int hexDigitValue(char c);

// RFC 3986 2.3 unreserved characters: ALPHA / DIGIT / "-" / "." / "_" / "~".
bool isUnreservedByte(unsigned char c);

// Appends `bytes` to `out` with every byte but the unreserved ones written %XX (upper-case
// hex digits, RFC 3986 2.1).
void appendPercentEncoded(std::string& out, std::string_view bytes);

}  // namespace vigil

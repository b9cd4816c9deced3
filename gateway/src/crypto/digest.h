#pragma once

#include <string>
#include <string_view>

namespace vigil::crypto {

// SHA-256 of `data`, 32 raw bytes.
std::string sha256(std::string_view data);

// Lower-case hex of raw bytes.
std::string toHex(std::string_view bytes);

}  // namespace vigil::crypto

#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vigil::auth {

// base64url (RFC 4648 §5) as JOSE uses it: encoding never pads; decoding accepts the text
// with or without correct padding. Decoding fails (nullopt) on any character outside the
// url-safe alphabet (so '+', '/', whitespace and stray '=' are refused), on an impossible
// length, and on non-zero unused trailing bits: only the canonical text of some byte string
// decodes, so one token cannot be respelt into a different string that verifies the same.
std::optional<std::string> base64UrlDecode(std::string_view text);
std::string base64UrlEncode(std::string_view bytes);

}  // namespace vigil::auth

#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "auth/jwk.h"

namespace vigil::auth {

// The JWS algorithms Vigil verifies. Symmetric (HS*) and unsigned (none) tokens are
// deliberately absent: a gateway holding only public keys must never accept them.
enum class JwtAlg { RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA };

// The exact, case-sensitive JWS names; anything else (none, HS256, rs256, ...) is nullopt.
std::optional<JwtAlg> jwtAlgFromName(std::string_view name);
std::string_view jwtAlgName(JwtAlg alg);

enum class JwtError {
    None,
    Malformed,
    UnsupportedAlgorithm,
    AlgorithmNotAllowedForKey,
    BadSignature
};

std::string_view jwtErrorName(JwtError error);

// Bigger tokens are refused before any decoding, so a request cannot make the gateway
// base64-decode and JSON-parse megabytes.
inline constexpr std::size_t kMaxJwtSize = 16 * 1024;

struct DecodedJwt {
    nlohmann::json header;
    nlohmann::json payload;
    JwtAlg alg = JwtAlg::RS256;
    std::string kid;           // empty when the header has none
    std::string signingInput;  // "b64header.b64payload", what the signature covers
    std::string signature;     // raw bytes
};

// Splits and decodes a compact JWS without checking the signature: only base64url and
// JSON parsing, cheap enough to run on every request before a cache lookup.
// Malformed: not three parts, bad base64url, header or payload not a JSON object, missing or
// non-string alg, non-string kid, a crit header (no extension is understood), an empty
// signature, or more than kMaxJwtSize bytes. UnsupportedAlgorithm: none, HS*, anything else.
// `out` is assigned only on JwtError::None.
JwtError decodeJwt(std::string_view token, DecodedJwt& out);

// Checks the signature of a decoded token against one key.
// AlgorithmNotAllowedForKey: the token's alg does not fit the key (RS*/PS* need an RSA key
// of at least 2048 bits, ES256 EC P-256, ES384 EC P-384, EdDSA OKP Ed25519), or the key
// names an alg and it is not the token's. BadSignature: anything else that fails.
JwtError verifyJwtSignature(const DecodedJwt& jwt, const Jwk& key);

}  // namespace vigil::auth

#pragma once

#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vigil::auth {

// One public signing key of a JWKS, ready for verification. Built once when the key set
// loads, then shared read-only by every request (OpenSSL allows concurrent use of a
// constant EVP_PKEY).
struct Jwk {
    std::string kid;
    std::string kty;  // "RSA", "EC" or "OKP"
    std::string crv;  // "P-256", "P-384" or "Ed25519"; empty for RSA
    std::string alg;  // may be empty; when set, the only algorithm this key verifies
    std::string use;  // "sig" or empty
    std::shared_ptr<EVP_PKEY> key;
};

// Parses one JWK object. On failure returns nullopt and says why in `reason`; never throws.
std::optional<Jwk> parseJwk(const nlohmann::json& object, std::string& reason);

// A key set with more keys is refused whole (identity providers publish a handful).
inline constexpr std::size_t kMaxJwksKeys = 64;

// Parses a JWKS document ({"keys":[...]}). Keys that cannot serve for JWS verification
// (use other than "sig", key_ops without "verify", an unknown kty, crv or alg, bad or
// inconsistent key material) are left out, each with a reason appended to `skipped`, so
// one odd key does not take down the whole set. A document that is not JSON, or has no
// "keys" array, or more than kMaxJwksKeys keys, gives an empty result and one reason. Never
// throws on bad input.
std::vector<Jwk> parseJwks(std::string_view jsonText, std::vector<std::string>& skipped);

}  // namespace vigil::auth

#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

// Token and key forging for the auth tests, written straight against OpenSSL (its own
// base64url too) so the tests do not check the gateway's code with itself.
namespace vigil::test {

struct EvpPkeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

enum class TestKeyType { Rsa2048, EcP256, EcP384, Ed25519 };

// A fresh key pair; null on failure.
EvpPkeyPtr generateKey(TestKeyType type);
EvpPkeyPtr generateRsaKey(int bits);  // for keys of other sizes (weak ones included)

std::string base64UrlEncodeForTest(std::string_view bytes);

// The public half as a JWK object: kty, kid, n/e, crv/x/y or crv/x, plus use "sig", and
// alg when `alg` is not empty.
nlohmann::json publicJwk(EVP_PKEY* key, const std::string& kid, const std::string& alg = {});

// The public key as PEM (SubjectPublicKeyInfo) and as DER, the usual HMAC-confusion secrets.
std::string publicKeyPem(EVP_PKEY* key);
std::string publicKeyDer(EVP_PKEY* key);

// A compact JWS signed with `key` under `alg` (RS256 ... PS512, ES256, ES384, EdDSA;
// ES* as JOSE raw R||S). The header is used as given; "alg" is added when it has none,
// so tests can also sign under one alg while the header claims another. Empty on failure.
std::string forgeJwt(const nlohmann::json& header, const nlohmann::json& payload, EVP_PKEY* key,
                     std::string_view alg);

// ES256/ES384 signed but left in OpenSSL's DER form, as a careless signer would send it.
std::string forgeDerEcdsaJwt(const nlohmann::json& header, const nlohmann::json& payload,
                             EVP_PKEY* key, std::string_view alg);

// HS256/HS384/HS512 with `secret` as the MAC key.
std::string forgeHmacJwt(const nlohmann::json& header, const nlohmann::json& payload,
                         std::string_view secret, std::string_view alg);

// alg "none" (unless the header says otherwise) and an empty signature: "h.p.".
std::string forgeUnsignedJwt(const nlohmann::json& header, const nlohmann::json& payload);

}  // namespace vigil::test

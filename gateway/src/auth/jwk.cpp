#include "auth/jwk.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <nlohmann/json.hpp>

#include "auth/base64url.h"
#include "auth/openssl_ptr.h"
#include "auth/jwt.h"

namespace vigil::auth {
namespace {

using nlohmann::json;


// Larger moduli buy no security and make every verification slow (and the public-key check
// when the set loads: about 1 s for 16384 bits); a key set that carries one is more likely
// hostile or broken than careful.
constexpr std::size_t kMaxRsaModulusBytes = 8192 / 8;

// OpenSSL queues errors per thread; a rejected key must not leave them for whoever calls
// OpenSSL next on this thread.
struct ErrorQueueGuard {
    ~ErrorQueueGuard() { ERR_clear_error(); }
};

// An optional string member: absent leaves `out` empty; present but not a string is an error.
bool optionalString(const json& object, const char* name, std::string& out, std::string& reason) {
    const auto it = object.find(name);
    if (it == object.end()) return true;
    if (!it->is_string()) {
        reason = std::string(name) + " is not a string";
        return false;
    }
    out = it->get_ref<const std::string&>();
    return true;
}

bool decodeMember(const json& object, const char* name, std::string& out, std::string& reason) {
    const auto it = object.find(name);
    if (it == object.end() || !it->is_string()) {
        reason = std::string("missing ") + name;
        return false;
    }
    auto decoded = base64UrlDecode(it->get_ref<const std::string&>());
    if (!decoded || decoded->empty()) {
        reason = std::string(name) + " is not valid base64url";
        return false;
    }
    out = std::move(*decoded);
    return true;
}

BignumPtr toBignum(const std::string& bigEndian) {
    return BignumPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bigEndian.data()),
                               static_cast<int>(bigEndian.size()), nullptr));
}

// Builds a public key of `type` from `params` and runs OpenSSL's public key check on it
// (RSA: odd modulus without small factors, 2^16 < e < 2^256; EC: point on the curve and
// of the right order), so a key that loads is one a signature can honestly be checked with.
std::shared_ptr<EVP_PKEY> buildPublicKey(const char* type, OSSL_PARAM_BLD* build,
                                         std::string& reason) {
    const ParamPtr params(OSSL_PARAM_BLD_to_param(build));
    const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* raw = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0 || !raw) {
        reason = std::string(type) + " key material rejected by OpenSSL (not a valid public key)";
        return nullptr;
    }
    std::shared_ptr<EVP_PKEY> key(raw, EVP_PKEY_free);
    const PkeyCtxPtr checkCtx(EVP_PKEY_CTX_new_from_pkey(nullptr, raw, nullptr));
    if (!checkCtx || EVP_PKEY_public_check(checkCtx.get()) != 1) {
        reason = std::string(type) +
                 " public key check failed (e.g. RSA e not odd or not in 2^16..2^256)";
        return nullptr;
    }
    return key;
}

std::shared_ptr<EVP_PKEY> rsaKey(const json& object, std::string& reason) {
    std::string n;
    std::string e;
    if (!decodeMember(object, "n", n, reason) || !decodeMember(object, "e", e, reason)) {
        return nullptr;
    }
    if (n.size() > kMaxRsaModulusBytes) {
        reason = "RSA modulus over 8192 bits";
        return nullptr;
    }
    const BignumPtr modulus = toBignum(n);
    const BignumPtr exponent = toBignum(e);
    const ParamBuildPtr build(OSSL_PARAM_BLD_new());
    if (!modulus || !exponent || !build ||
        !OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) ||
        !OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get())) {
        reason = "out of memory";
        return nullptr;
    }
    return buildPublicKey("RSA", build.get(), reason);
}

std::shared_ptr<EVP_PKEY> ecKey(const json& object, const std::string& crv, std::string& reason) {
    const char* group = nullptr;
    std::size_t coordinateSize = 0;
    if (crv == "P-256") {
        group = SN_X9_62_prime256v1;
        coordinateSize = 32;
    } else if (crv == "P-384") {
        group = SN_secp384r1;
        coordinateSize = 48;
    } else {
        reason = "unsupported EC crv \"" + crv + "\"";
        return nullptr;
    }
    std::string x;
    std::string y;
    if (!decodeMember(object, "x", x, reason) || !decodeMember(object, "y", y, reason)) {
        return nullptr;
    }
    // RFC 7518 §6.2.1.2: each coordinate is the full size of the field, never shortened.
    if (x.size() != coordinateSize || y.size() != coordinateSize) {
        reason = "EC point coordinates are not " + std::to_string(coordinateSize) +
                 " bytes each for " + crv;
        return nullptr;
    }
    std::string point;
    point.reserve(1 + 2 * coordinateSize);
    point.push_back('\x04');  // SEC 1 uncompressed point
    point += x;
    point += y;
    const ParamBuildPtr build(OSSL_PARAM_BLD_new());
    if (!build ||
        !OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                          point.size())) {
        reason = "out of memory";
        return nullptr;
    }
    return buildPublicKey("EC", build.get(), reason);
}

std::shared_ptr<EVP_PKEY> okpKey(const json& object, const std::string& crv, std::string& reason) {
    if (crv != "Ed25519") {
        reason = "unsupported OKP crv \"" + crv + "\"";
        return nullptr;
    }
    std::string x;
    if (!decodeMember(object, "x", x, reason)) return nullptr;
    if (x.size() != 32) {
        reason = "Ed25519 public key is not 32 bytes";
        return nullptr;
    }
    const ParamBuildPtr build(OSSL_PARAM_BLD_new());
    if (!build || !OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, x.data(),
                                                    x.size())) {
        reason = "out of memory";
        return nullptr;
    }
    return buildPublicKey("ED25519", build.get(), reason);
}

bool allowsVerify(const json& object, std::string& reason) {
    const auto it = object.find("key_ops");
    if (it == object.end()) return true;
    if (it->is_array()) {
        for (const auto& op : *it) {
            if (op.is_string() && op.get_ref<const std::string&>() == "verify") return true;
        }
    }
    reason = "key_ops does not include \"verify\"";
    return false;
}

}  // namespace

std::optional<Jwk> parseJwk(const json& object, std::string& reason) {
    const ErrorQueueGuard clearErrors;
    if (!object.is_object()) {
        reason = "not a JSON object";
        return std::nullopt;
    }
    Jwk jwk;
    if (!optionalString(object, "kty", jwk.kty, reason) ||
        !optionalString(object, "kid", jwk.kid, reason) ||
        !optionalString(object, "crv", jwk.crv, reason) ||
        !optionalString(object, "alg", jwk.alg, reason) ||
        !optionalString(object, "use", jwk.use, reason)) {
        return std::nullopt;
    }
    if (jwk.kty.empty()) {
        reason = "missing kty";
        return std::nullopt;
    }
    if (object.contains("use") && jwk.use != "sig") {
        reason = "use \"" + jwk.use + "\" is not \"sig\"";
        return std::nullopt;
    }
    if (!allowsVerify(object, reason)) return std::nullopt;
    // An alg we cannot verify (RSA-OAEP, HS256, ...) means the key is meant for something else.
    if (!jwk.alg.empty() && !jwtAlgFromName(jwk.alg)) {
        reason = "unsupported alg \"" + jwk.alg + "\"";
        return std::nullopt;
    }

    if (jwk.kty == "RSA") {
        jwk.crv.clear();
        jwk.key = rsaKey(object, reason);
    } else if (jwk.kty == "EC") {
        jwk.key = ecKey(object, jwk.crv, reason);
    } else if (jwk.kty == "OKP") {
        jwk.key = okpKey(object, jwk.crv, reason);
    } else {
        reason = "unsupported kty \"" + jwk.kty + "\"";
        return std::nullopt;
    }
    if (!jwk.key) return std::nullopt;
    return jwk;
}

std::vector<Jwk> parseJwks(std::string_view jsonText, std::vector<std::string>& skipped) {
    std::vector<Jwk> keys;
    const json document = json::parse(jsonText, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded()) {
        skipped.emplace_back("JWKS is not valid JSON");
        return keys;
    }
    const auto keysIt = document.is_object() ? document.find("keys") : document.end();
    if (!document.is_object() || keysIt == document.end() || !keysIt->is_array()) {
        skipped.emplace_back("JWKS has no \"keys\" array");
        return keys;
    }
    if (keysIt->size() > kMaxJwksKeys) {
        // Each key costs a public-key check when the set loads (over 0.1 s for an 8192-bit
        // RSA key), on the one thread that fetches every issuer's keys.
        skipped.emplace_back("JWKS has " + std::to_string(keysIt->size()) + " keys, more than the " +
                             std::to_string(kMaxJwksKeys) + " accepted");
        return keys;
    }
    keys.reserve(keysIt->size());
    std::size_t index = 0;
    for (const auto& entry : *keysIt) {
        std::string reason;
        if (auto jwk = parseJwk(entry, reason)) {
            keys.push_back(std::move(*jwk));
        } else {
            std::string where = "key " + std::to_string(index);
            if (entry.is_object()) {
                const auto kid = entry.find("kid");
                if (kid != entry.end() && kid->is_string()) {
                    where += " (kid \"" + kid->get_ref<const std::string&>() + "\")";
                }
            }
            skipped.push_back(where + ": " + reason);
        }
        ++index;
    }
    return keys;
}

}  // namespace vigil::auth

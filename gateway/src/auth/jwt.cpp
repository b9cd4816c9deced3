#include "auth/jwt.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include <array>
#include <utility>

#include "auth/base64url.h"
#include "auth/openssl_ptr.h"

namespace vigil::auth {
namespace {

using nlohmann::json;


struct ErrorQueueGuard {
    ~ErrorQueueGuard() { ERR_clear_error(); }
};

enum class Scheme { Pkcs1, Pss, Ecdsa, EdDsa };

struct AlgSpec {
    JwtAlg alg;
    std::string_view name;
    Scheme scheme;
    const char* digest;          // nullptr for EdDSA, which hashes internally
    std::size_t coordinateSize;  // ECDSA only: bytes of R and of S
};

constexpr std::array<AlgSpec, 9> kAlgs{{
    {JwtAlg::RS256, "RS256", Scheme::Pkcs1, "SHA256", 0},
    {JwtAlg::RS384, "RS384", Scheme::Pkcs1, "SHA384", 0},
    {JwtAlg::RS512, "RS512", Scheme::Pkcs1, "SHA512", 0},
    {JwtAlg::PS256, "PS256", Scheme::Pss, "SHA256", 0},
    {JwtAlg::PS384, "PS384", Scheme::Pss, "SHA384", 0},
    {JwtAlg::PS512, "PS512", Scheme::Pss, "SHA512", 0},
    {JwtAlg::ES256, "ES256", Scheme::Ecdsa, "SHA256", 32},
    {JwtAlg::ES384, "ES384", Scheme::Ecdsa, "SHA384", 48},
    {JwtAlg::EdDSA, "EdDSA", Scheme::EdDsa, nullptr, 0},
}};

constexpr bool algsInEnumOrder() {
    for (std::size_t i = 0; i < kAlgs.size(); ++i) {
        if (static_cast<std::size_t>(kAlgs[i].alg) != i) return false;
    }
    return true;
}
static_assert(algsInEnumOrder(), "kAlgs is indexed by JwtAlg");

const AlgSpec& specOf(JwtAlg alg) {
    return kAlgs[static_cast<std::size_t>(alg)];
}

// nlohmann's non-throwing parse: a discarded value means the text was not JSON.
bool parseObject(std::string_view base64Text, json& out) {
    const auto bytes = base64UrlDecode(base64Text);
    if (!bytes) return false;
    out = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
    return out.is_object();
}

bool hasEcGroup(EVP_PKEY* key, std::string_view expected) {
    std::array<char, 64> name{};
    std::size_t length = 0;
    if (EVP_PKEY_get_group_name(key, name.data(), name.size(), &length) != 1) return false;
    return std::string_view(name.data(), length) == expected;
}

bool keyFits(const AlgSpec& spec, const Jwk& jwk) {
    if (!jwk.key) return false;
    if (!jwk.alg.empty() && jwk.alg != spec.name) return false;
    EVP_PKEY* key = jwk.key.get();
    // Both the JWK's declared type and the key OpenSSL actually holds must agree, so a Jwk
    // assembled by hand with mislabelled fields cannot steer the choice of scheme.
    switch (spec.scheme) {
        case Scheme::Pkcs1:
        case Scheme::Pss:
            return jwk.kty == "RSA" && EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) >= 2048;
        case Scheme::Ecdsa:
            if (jwk.kty != "EC" || !EVP_PKEY_is_a(key, "EC")) return false;
            if (spec.alg == JwtAlg::ES256)
                return jwk.crv == "P-256" && hasEcGroup(key, SN_X9_62_prime256v1);
            return jwk.crv == "P-384" && hasEcGroup(key, SN_secp384r1);
        case Scheme::EdDsa:
            return jwk.kty == "OKP" && jwk.crv == "Ed25519" && EVP_PKEY_is_a(key, "ED25519");
    }
    return false;
}

// JWS carries ECDSA signatures as fixed-size R||S (RFC 7518 §3.4); OpenSSL verifies DER.
bool rawEcdsaToDer(std::string_view raw, std::size_t coordinateSize, std::string& der) {
    if (raw.size() != 2 * coordinateSize) return false;
    const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
    BignumPtr r(BN_bin2bn(bytes, static_cast<int>(coordinateSize), nullptr));
    BignumPtr s(BN_bin2bn(bytes + coordinateSize, static_cast<int>(coordinateSize), nullptr));
    EcdsaSigPtr sig(ECDSA_SIG_new());
    if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return false;
    // The signature owns r and s from here on.
    (void)r.release();
    (void)s.release();
    const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (length <= 0) return false;
    der.resize(static_cast<std::size_t>(length));
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    return i2d_ECDSA_SIG(sig.get(), &out) == length;
}

}  // namespace

std::optional<JwtAlg> jwtAlgFromName(std::string_view name) {
    for (const auto& spec : kAlgs) {
        if (spec.name == name) return spec.alg;
    }
    return std::nullopt;
}

std::string_view jwtAlgName(JwtAlg alg) {
    return specOf(alg).name;
}

std::string_view jwtErrorName(JwtError error) {
    switch (error) {
        case JwtError::None:
            return "none";
        case JwtError::Malformed:
            return "malformed";
        case JwtError::UnsupportedAlgorithm:
            return "unsupported_algorithm";
        case JwtError::AlgorithmNotAllowedForKey:
            return "algorithm_not_allowed_for_key";
        case JwtError::BadSignature:
            return "bad_signature";
    }
    return "unknown";
}

JwtError decodeJwt(std::string_view token, DecodedJwt& out) {
    if (token.size() > kMaxJwtSize) return JwtError::Malformed;
    const std::size_t firstDot = token.find('.');
    if (firstDot == std::string_view::npos) return JwtError::Malformed;
    const std::size_t secondDot = token.find('.', firstDot + 1);
    if (secondDot == std::string_view::npos) return JwtError::Malformed;
    if (token.find('.', secondDot + 1) != std::string_view::npos) return JwtError::Malformed;

    DecodedJwt jwt;
    if (!parseObject(token.substr(0, firstDot), jwt.header)) return JwtError::Malformed;
    const auto algIt = jwt.header.find("alg");
    if (algIt == jwt.header.end() || !algIt->is_string()) return JwtError::Malformed;
    if (const auto kidIt = jwt.header.find("kid"); kidIt != jwt.header.end()) {
        if (!kidIt->is_string()) return JwtError::Malformed;
        jwt.kid = kidIt->get_ref<const std::string&>();
    }
    // RFC 7515 §4.1.11: a recipient must reject extensions it does not understand, and we
    // understand none (b64:false, for one, would change what the signature covers).
    if (jwt.header.contains("crit")) return JwtError::Malformed;
    const auto alg = jwtAlgFromName(algIt->get_ref<const std::string&>());
    if (!alg) return JwtError::UnsupportedAlgorithm;
    jwt.alg = *alg;

    if (!parseObject(token.substr(firstDot + 1, secondDot - firstDot - 1), jwt.payload)) {
        return JwtError::Malformed;
    }
    auto signature = base64UrlDecode(token.substr(secondDot + 1));
    if (!signature || signature->empty()) return JwtError::Malformed;
    jwt.signature = std::move(*signature);
    jwt.signingInput = std::string(token.substr(0, secondDot));
    out = std::move(jwt);
    return JwtError::None;
}

JwtError verifyJwtSignature(const DecodedJwt& jwt, const Jwk& key) {
    const AlgSpec& spec = specOf(jwt.alg);
    if (!keyFits(spec, key)) return JwtError::AlgorithmNotAllowedForKey;

    const ErrorQueueGuard clearErrors;
    std::string derSignature;
    std::string_view signature = jwt.signature;
    if (spec.scheme == Scheme::Ecdsa) {
        if (!rawEcdsaToDer(signature, spec.coordinateSize, derSignature)) {
            return JwtError::BadSignature;
        }
        signature = derSignature;
    }

    // RFC 7518 §3.5: PSS with MGF1 over the same digest and a salt as long as the digest.
    // OpenSSL then insists on exactly that salt length when verifying.
    std::array<OSSL_PARAM, 4> params{};
    std::size_t used = 0;
    if (spec.scheme == Scheme::Pkcs1) {
        params[used++] = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_PAD_MODE, const_cast<char*>(OSSL_PKEY_RSA_PAD_MODE_PKCSV15), 0);
    } else if (spec.scheme == Scheme::Pss) {
        params[used++] = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_PAD_MODE, const_cast<char*>(OSSL_PKEY_RSA_PAD_MODE_PSS), 0);
        params[used++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
                                                          const_cast<char*>(spec.digest), 0);
        params[used++] = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_PSS_SALTLEN, const_cast<char*>(OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST),
            0);
    }
    params[used] = OSSL_PARAM_construct_end();

    const MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, spec.digest, nullptr, nullptr,
                                        key.key.get(), used > 0 ? params.data() : nullptr) != 1) {
        return JwtError::BadSignature;
    }
    const int verified = EVP_DigestVerify(
        ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
        reinterpret_cast<const unsigned char*>(jwt.signingInput.data()), jwt.signingInput.size());
    return verified == 1 ? JwtError::None : JwtError::BadSignature;
}

}  // namespace vigil::auth

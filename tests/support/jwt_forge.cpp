#include "jwt_forge.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>

namespace vigil::test {
namespace {

using nlohmann::json;

template <auto Free>
struct OpensslDeleter {
    template <typename T>
    void operator()(T* p) const {
        Free(p);
    }
};
using BignumPtr = std::unique_ptr<BIGNUM, OpensslDeleter<BN_free>>;
using BioPtr = std::unique_ptr<BIO, OpensslDeleter<BIO_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpensslDeleter<ECDSA_SIG_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpensslDeleter<EVP_MD_CTX_free>>;

const unsigned char* bytesOf(std::string_view text) {
    return reinterpret_cast<const unsigned char*>(text.data());
}

std::string bignumBytes(const BIGNUM* bn, int width) {
    std::string out(static_cast<std::size_t>(width), '\0');
    if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), width) != width) return {};
    return out;
}

std::string bignumParam(EVP_PKEY* key, const char* name, int width = 0) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return {};
    const BignumPtr bn(raw);
    return bignumBytes(bn.get(), width > 0 ? width : BN_num_bytes(bn.get()));
}

const char* digestFor(std::string_view alg) {
    if (alg.ends_with("256")) return "SHA256";
    if (alg.ends_with("384")) return "SHA384";
    if (alg.ends_with("512")) return "SHA512";
    return nullptr;
}

std::string signingInputOf(json header, const json& payload, std::string_view alg) {
    if (!header.contains("alg")) header["alg"] = std::string(alg);
    return base64UrlEncodeForTest(header.dump()) + '.' + base64UrlEncodeForTest(payload.dump());
}

// Signs with OpenSSL's EVP interface; ECDSA comes back as DER, the rest as JWS wants it.
std::string signNative(EVP_PKEY* key, std::string_view alg, std::string_view input) {
    const bool eddsa = alg == "EdDSA";
    const char* digest = eddsa ? nullptr : digestFor(alg);
    if (!eddsa && !digest) return {};
    std::array<OSSL_PARAM, 4> params{};
    std::size_t used = 0;
    if (alg.starts_with("PS")) {
        params[used++] = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_PAD_MODE, const_cast<char*>(OSSL_PKEY_RSA_PAD_MODE_PSS), 0);
        params[used++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
                                                          const_cast<char*>(digest), 0);
        params[used++] = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_PSS_SALTLEN, const_cast<char*>(OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST),
            0);
    }
    params[used] = OSSL_PARAM_construct_end();
    const MdCtxPtr ctx(EVP_MD_CTX_new());
    std::size_t length = 0;
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key,
                              used > 0 ? params.data() : nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &length, bytesOf(input), input.size()) != 1) {
        return {};
    }
    std::string signature(length, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                       bytesOf(input), input.size()) != 1) {
        return {};
    }
    signature.resize(length);
    return signature;
}

std::string derToRawEcdsa(std::string_view der, int coordinateSize) {
    const unsigned char* p = bytesOf(der);
    const EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!sig) return {};
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    const std::string rBytes = bignumBytes(r, coordinateSize);
    const std::string sBytes = bignumBytes(s, coordinateSize);
    if (rBytes.empty() || sBytes.empty()) return {};
    return rBytes + sBytes;
}

}  // namespace

EvpPkeyPtr generateRsaKey(int bits) {
    return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
}

EvpPkeyPtr generateKey(TestKeyType type) {
    switch (type) {
        case TestKeyType::Rsa2048:
            return generateRsaKey(2048);
        case TestKeyType::EcP256:
            return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
        case TestKeyType::EcP384:
            return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
        case TestKeyType::Ed25519:
            return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    }
    return nullptr;
}

std::string base64UrlEncodeForTest(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytesOf(bytes),
                                       static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(length));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return out;
}

json publicJwk(EVP_PKEY* key, const std::string& kid, const std::string& alg) {
    json jwk = json::object();
    if (EVP_PKEY_is_a(key, "RSA")) {
        jwk["kty"] = "RSA";
        jwk["n"] = base64UrlEncodeForTest(bignumParam(key, OSSL_PKEY_PARAM_RSA_N));
        jwk["e"] = base64UrlEncodeForTest(bignumParam(key, OSSL_PKEY_PARAM_RSA_E));
    } else if (EVP_PKEY_is_a(key, "EC")) {
        std::array<char, 64> group{};
        std::size_t groupLength = 0;
        EVP_PKEY_get_group_name(key, group.data(), group.size(), &groupLength);
        const std::string_view groupName(group.data(), groupLength);
        const int coordinateSize = (EVP_PKEY_get_bits(key) + 7) / 8;
        jwk["kty"] = "EC";
        jwk["crv"] = groupName == SN_secp384r1 ? "P-384" : "P-256";
        jwk["x"] =
            base64UrlEncodeForTest(bignumParam(key, OSSL_PKEY_PARAM_EC_PUB_X, coordinateSize));
        jwk["y"] =
            base64UrlEncodeForTest(bignumParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, coordinateSize));
    } else if (EVP_PKEY_is_a(key, "ED25519")) {
        std::array<unsigned char, 32> raw{};
        std::size_t length = 0;
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, raw.data(), raw.size(),
                                        &length);
        jwk["kty"] = "OKP";
        jwk["crv"] = "Ed25519";
        jwk["x"] = base64UrlEncodeForTest(
            std::string_view(reinterpret_cast<const char*>(raw.data()), length));
    }
    jwk["kid"] = kid;
    jwk["use"] = "sig";
    if (!alg.empty()) jwk["alg"] = alg;
    return jwk;
}

std::string publicKeyPem(EVP_PKEY* key) {
    const BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return {};
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
}

std::string publicKeyDer(EVP_PKEY* key) {
    unsigned char* der = nullptr;
    const int length = i2d_PUBKEY(key, &der);
    if (length <= 0) return {};
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
    OPENSSL_free(der);
    return out;
}

std::string forgeJwt(const json& header, const json& payload, EVP_PKEY* key, std::string_view alg) {
    const std::string input = signingInputOf(header, payload, alg);
    std::string signature = signNative(key, alg, input);
    if (alg.starts_with("ES")) signature = derToRawEcdsa(signature, alg == "ES384" ? 48 : 32);
    if (signature.empty()) return {};
    return input + '.' + base64UrlEncodeForTest(signature);
}

std::string forgeDerEcdsaJwt(const json& header, const json& payload, EVP_PKEY* key,
                             std::string_view alg) {
    const std::string input = signingInputOf(header, payload, alg);
    const std::string signature = signNative(key, alg, input);
    if (signature.empty()) return {};
    return input + '.' + base64UrlEncodeForTest(signature);
}

std::string forgeHmacJwt(const json& header, const json& payload, std::string_view secret,
                         std::string_view alg) {
    const std::string input = signingInputOf(header, payload, alg);
    const char* digest = digestFor(alg);
    if (!digest) return {};
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    std::size_t length = 0;
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, digest, nullptr, secret.data(), secret.size(),
                   bytesOf(input), input.size(), mac.data(), mac.size(), &length)) {
        return {};
    }
    return input + '.' +
           base64UrlEncodeForTest(
               std::string_view(reinterpret_cast<const char*>(mac.data()), length));
}

std::string forgeUnsignedJwt(const json& header, const json& payload) {
    return signingInputOf(header, payload, "none") + '.';
}

}  // namespace vigil::test

#include "crypto/digest.h"

#include <openssl/evp.h>

#include <new>
#include <stdexcept>

namespace vigil::crypto {

namespace {

// Fetched once: with OpenSSL 3, EVP_sha256() in every call means a provider lookup under a
// lock per digest, measurably slower on the request path.
const EVP_MD* sha256Method() {
    static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return kSha256;
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr) throw std::bad_alloc();
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

Sha256& Sha256::update(std::string_view data) {
    auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
    if (!started_) {
        if (EVP_DigestInit_ex2(ctx, sha256Method(), nullptr) != 1) throw std::runtime_error("SHA-256: cannot start");
        started_ = true;
    }
    if (EVP_DigestUpdate(ctx, data.data(), data.size()) != 1) {
        started_ = false;  // the next update() starts a new digest, not this broken one
        throw std::runtime_error("SHA-256: cannot update");
    }
    return *this;
}

std::string Sha256::finish() {
    if (!started_) update({});
    started_ = false;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), digest, &length) != 1) {
        throw std::runtime_error("SHA-256: cannot finish");
    }
    return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string sha256(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &length, sha256Method(), nullptr) != 1) {
        throw std::runtime_error("SHA-256: cannot digest");
    }
    return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string toHex(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        out += kHex[static_cast<unsigned char>(c) >> 4];
        out += kHex[static_cast<unsigned char>(c) & 0xF];
    }
    return out;
}

}  // namespace vigil::crypto

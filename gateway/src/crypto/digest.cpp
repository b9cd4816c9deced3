#include "crypto/digest.h"

#include <openssl/evp.h>

namespace vigil::crypto {

std::string sha256(std::string_view data) {
    // Fetched once: with OpenSSL 3, EVP_sha256() in every call means a provider lookup
    // under a lock per digest, measurably slower on the request path.
    static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(data.data(), data.size(), digest, &length, kSha256, nullptr);
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

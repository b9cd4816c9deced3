#include "record/signing_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/digest.h"

namespace vigil::record {
namespace {

struct BioDeleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

std::string digestHex(std::string_view der) { return crypto::toHex(crypto::sha256(der)); }

std::string publicDer(EVP_PKEY* key) {
    unsigned char* der = nullptr;
    const int n = i2d_PUBKEY(key, &der);
    if (n <= 0) return {};
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    return out;
}

EVP_PKEY* readPublicPem(std::string_view pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
}

}  // namespace

SigningKey SigningKey::generate() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (key == nullptr) throw std::runtime_error("cannot generate an Ed25519 key");
    return SigningKey(key);
}

SigningKey SigningKey::loadOrCreate(const std::filesystem::path& file) {
    const std::string name = file.string();
    struct stat st {};
    if (::stat(name.c_str(), &st) == 0) {
        if ((st.st_mode & 0077) != 0) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
            throw std::runtime_error("signing key '" + name + "' is accessible by others (mode " + mode +
                                     "): chmod 600 it");
        }
        FILE* f = std::fopen(name.c_str(), "r");
        if (f == nullptr) throw std::runtime_error("cannot read the signing key '" + name + "'");
        EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
        std::fclose(f);
        if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
            EVP_PKEY_free(key);
            throw std::runtime_error("'" + name + "' is not an Ed25519 private key (PEM)");
        }
        return SigningKey(key);
    }
    auto key = generate();
    std::error_code ec;
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
    const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) throw std::runtime_error("cannot create the signing key '" + name + "'");
    FILE* f = ::fdopen(fd, "w");
    const bool ok = f != nullptr && PEM_write_PrivateKey(f, key.key_, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    const bool closed = f != nullptr && std::fflush(f) == 0 && ::fsync(fd) == 0 && std::fclose(f) == 0;
    if (!ok || !closed) throw std::runtime_error("cannot write the signing key '" + name + "'");
    return key;
}

SigningKey::SigningKey(SigningKey&& other) noexcept : key_(std::exchange(other.key_, nullptr)) {}
SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
    if (this != &other) {
        EVP_PKEY_free(key_);
        key_ = std::exchange(other.key_, nullptr);
    }
    return *this;
}
SigningKey::~SigningKey() { EVP_PKEY_free(key_); }

std::string SigningKey::sign(std::string_view message) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::string signature(64, '\0');
    std::size_t length = signature.size();
    const bool ok = ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
                    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                                   reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) throw std::runtime_error("Ed25519 signing failed");
    signature.resize(length);
    return signature;
}

std::string SigningKey::publicKeyPem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PUBKEY(bio.get(), key_);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string SigningKey::keyId() const { return digestHex(publicDer(key_)); }

bool verifySignature(std::string_view publicKeyPem, std::string_view message, std::string_view signature) {
    EVP_PKEY* key = readPublicPem(publicKeyPem);
    if (key == nullptr) return false;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok = ctx != nullptr && EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 &&
                    EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
                    EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

std::string keyIdOfPem(std::string_view publicKeyPem) {
    EVP_PKEY* key = readPublicPem(publicKeyPem);
    if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        return {};
    }
    auto id = digestHex(publicDer(key));
    EVP_PKEY_free(key);
    return id;
}

}  // namespace vigil::record

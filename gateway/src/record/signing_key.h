#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

struct evp_pkey_st;

namespace vigil::record {

// The gateway's Ed25519 key for chain checkpoints. Generated at first start; the private
// key file is written with mode 0600 and refused when others can read it.
class SigningKey {
public:
    // Throws std::runtime_error naming the file.
    static SigningKey loadOrCreate(const std::filesystem::path& privateKeyFile);
    static SigningKey generate();  // in memory (tests)

    SigningKey(SigningKey&&) noexcept;
    SigningKey& operator=(SigningKey&&) noexcept;
    ~SigningKey();

    std::string sign(std::string_view message) const;  // 64 bytes
    std::string publicKeyPem() const;
    std::string keyId() const;  // SHA-256 of the DER public key, hex

private:
    explicit SigningKey(evp_pkey_st* key) : key_(key) {}
    evp_pkey_st* key_ = nullptr;
};

// Checks an Ed25519 signature with a PEM public key; false for any failure.
bool verifySignature(std::string_view publicKeyPem, std::string_view message, std::string_view signature);
// The key id of a PEM public key, or empty when it is not an Ed25519 public key.
std::string keyIdOfPem(std::string_view publicKeyPem);

}  // namespace vigil::record

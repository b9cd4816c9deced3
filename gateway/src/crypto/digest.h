#pragma once

#include <string>
#include <string_view>

namespace vigil::crypto {

// SHA-256 of `data`, 32 raw bytes.
std::string sha256(std::string_view data);

// SHA-256 fed in pieces (no copy of the whole message into one buffer). Reusable: after
// finish() the next update() starts a new digest. Not shared between threads.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    Sha256& update(std::string_view data);
    std::string finish();  // 32 raw bytes

private:
    void* ctx_;  // EVP_MD_CTX
    bool started_ = false;
};

// Lower-case hex of raw bytes.
std::string toHex(std::string_view bytes);

}  // namespace vigil::crypto

#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace vigil::record {

struct VerifyReport {
    bool ok = false;
    std::int64_t events = 0;          // events read
    std::int64_t checkpoints = 0;     // valid checkpoints
    std::int64_t signedUpTo = 0;      // last event covered by a valid checkpoint
    std::optional<std::int64_t> brokenAt;  // the first event (or checkpoint) that fails
    std::string problem;              // what is wrong there
    std::string keyId;                // the key the signatures were checked with
    bool keyFromDatabase = false;     // no --pubkey: the key stored beside the chain was used
};

// Checks every link of the chain and every checkpoint signature of a recording database
// (read-only; works offline on a copy). With `publicKeyPem` empty, the public key stored in
// the database is used, which proves integrity only against someone without that file.
VerifyReport verifyDatabase(const std::filesystem::path& db, const std::string& publicKeyPem);

}  // namespace vigil::record

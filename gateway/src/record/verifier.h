#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vigil::record {

struct VerifyReport {
    bool ok = false;
    std::int64_t events = 0;          // events read
    std::int64_t firstSeq = 0;        // the oldest event kept (after a retention purge, > 1)
    std::int64_t lastSeq = 0;         // the newest event
    std::int64_t checkpoints = 0;     // valid checkpoints
    std::int64_t signedUpTo = 0;      // last event covered by a valid checkpoint
    std::int64_t purgedThrough = 0;   // events up to here were purged by a recorded purge
    std::optional<std::int64_t> brokenAt;  // the first event (or checkpoint) that fails
    std::string problem;              // what is wrong there
    std::string keyId;                // the key the signatures were checked with
    bool keyFromDatabase = false;     // no --pubkey: the key stored beside the chain was used
    // Stretches the gateway signed only when it started again: events a previous run wrote
    // after its last checkpoint (it was killed), or events someone wrote while it was stopped
    // (recording.unsigned_tail events: from_seq, to_seq).
    std::vector<std::pair<std::int64_t, std::int64_t>> signedAtStart;
};

// Checks every link of the chain and every checkpoint signature of a recording database
// (read-only; works offline on a copy). With `publicKeyPem` empty, the public key stored in
// the database is used, which proves integrity only against someone without that file.
//
// After a retention purge the chain starts at event N+1: that event must link to the
// signed checkpoint kept at N, and the chain must contain a purge event naming N or a later
// event (a large purge deletes up to its through_seq in several transactions).
VerifyReport verifyDatabase(const std::filesystem::path& db, const std::string& publicKeyPem);

// The same check, run again and again on a live database: each call reads only the events
// (and checkpoints) committed since the previous one. Thread-safe.
class ChainMonitor {
public:
    ChainMonitor(std::filesystem::path db, std::string publicKeyPem);
    ~ChainMonitor();
    VerifyReport check();
    struct State;  // where the last check stopped

private:
    std::filesystem::path db_;
    std::string pem_;
    std::mutex mutex_;
    std::unique_ptr<State> state_;
};

}  // namespace vigil::record

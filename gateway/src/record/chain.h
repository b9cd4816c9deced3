#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::record {

// One recorded event, as stored. `prevHash` and `hash` are raw SHA-256 digests (32 bytes).
struct Event {
    std::int64_t seq = 0;        // 1, 2, 3, ... in commit order, one chain per store
    std::string sessionId;
    std::int64_t timeMicros = 0;  // Unix time of the event, microseconds
    std::string type;             // "request.received", "decision", ...
    std::string payload;          // JSON text, hashed as stored
    std::string prevHash;
    std::string hash;
};

// A signed statement that the chain up to `seq` ends in `headHash`.
struct Checkpoint {
    std::int64_t seq = 0;
    std::string headHash;
    std::int64_t timeMicros = 0;
    std::string keyId;      // SHA-256 of the public key (DER), hex
    std::string signature;  // Ed25519 over checkpointMessage()
};

// The hash of the event before the first one.
std::string genesisHash();

// SHA-256 over the canonical encoding (docs/recording.md):
//   "vigil.event.v1" || prevHash (32) || u64be(seq) || u64be(timeMicros)
//   || u32be(len) sessionId || u32be(len) type || u32be(len) payload
std::string eventHash(std::string_view prevHash, const Event& event);

// The bytes a checkpoint signs:
//   "vigil.checkpoint.v1" || u64be(seq) || headHash (32) || u64be(timeMicros)
std::string checkpointMessage(const Checkpoint& checkpoint);

std::string toHex(std::string_view bytes);

}  // namespace vigil::record

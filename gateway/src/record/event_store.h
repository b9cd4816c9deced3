#pragma once

#include <optional>
#include <string>
#include <vector>

#include "record/chain.h"

namespace vigil::record {

// Where the recorder keeps the chain. Implementations: SQLite (store/sqlite_event_store);
// PostgreSQL later. Nothing here is specific to one database.
class EventStore {
public:
    virtual ~EventStore() = default;

    struct Head {
        std::int64_t seq = 0;  // 0: empty chain
        std::string hash;      // genesisHash() for an empty chain
        std::int64_t checkpointSeq = 0;
    };
    virtual Head head() = 0;

    // Writes the events (and the checkpoint, when given) in one durable transaction:
    // when it returns they survive a crash. Throws std::runtime_error on failure, and
    // then nothing of the batch is stored.
    virtual void append(const std::vector<Event>& events, const std::optional<Checkpoint>& checkpoint) = 0;

    // The public key that signs checkpoints, stored beside the chain for convenience (a
    // verifier should use a copy it trusts).
    virtual void rememberPublicKey(const std::string& keyId, const std::string& publicKeyPem) = 0;
};

}  // namespace vigil::record

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "record/chain.h"

namespace vigil::record {

// The session of the gateway's own events (start, stop, policy.loaded, evidence.exported,
// recording.resumed, retention.purged): never a client's (X-Vigil-Session refuses it).
inline constexpr const char* kGatewaySession = "gateway";

// One request in the sessions index, which the store keeps beside the chain so that
// auditors can search sessions without reading every event. The index is derived data:
// it is not hashed, and the chain alone is the evidence.
struct RequestIndex {
    enum class Kind { Begin, End };
    Kind kind = Kind::Begin;
    std::int64_t seq = 0;  // the event that carries it (set by the recorder)
    std::string requestId;
    std::string sessionId;
    // Begin
    std::int64_t startedMicros = 0;
    std::string method;
    std::string path;
    std::string subject;      // empty when the caller was not identified
    std::string owner;        // the caller across identity providers (auth::callerKey)
    std::string authMethod;   // "oidc", "api_key", "none"
    std::string connection;
    std::string model;
    std::string decision;     // "allow", "deny", "review", or empty (no policy ran)
    std::string rules;        // comma-separated rule ids
    // End
    std::int64_t endedMicros = 0;
    int status = 0;
    std::string code;         // details code, when the gateway decided the answer
    std::string outcome;      // "completed", "failed", "interrupted"
    std::int64_t requestBytes = 0;
    std::int64_t responseBytes = 0;
    std::int64_t durationMicros = 0;
};

// The current state of one review (review/review.h), written in the same transaction as
// the recorded event of its change: the stored state never runs ahead of the chain.
struct ReviewRow {
    std::string id;
    std::string state;          // "pending", "approved", ...
    std::int64_t createdMicros = 0;
    std::int64_t updatedMicros = 0;
    std::string document;       // the review as JSON
};

// What one transaction writes: events (already hashed and numbered), their index rows,
// optionally a checkpoint, and optionally a purge of the oldest events.
struct Batch {
    std::vector<Event> events;
    std::vector<RequestIndex> index;
    // Which session each event belongs to (seq, session id), for finding a session's events:
    // index data, written with the index rows rather than with the events.
    std::vector<std::pair<std::int64_t, std::string>> eventSessions;
    std::vector<ReviewRow> reviews;  // inserted or replaced
    std::optional<Checkpoint> checkpoint;
    // Delete every event with seq <= purgeThrough (a signed checkpoint sits there), the
    // checkpoints before it, and the index rows of requests that were wholly purged. A
    // large purge is cut into several transactions (purgeChunkEnd()), each one of these.
    std::optional<std::int64_t> purgeThrough;
    // With a purge: delete the reviews that finished before this time (Unix microseconds),
    // as purgeableReviews() counts them. Their documents hold the prompts.
    std::optional<std::int64_t> purgeReviewsBefore;
    // The index now covers every event up to here (kept, so that a restart rebuilds the
    // index only from the events after it).
    std::optional<std::int64_t> indexedThrough;
    // False: the transaction need not reach the disk by itself (index rows: the next
    // synced transaction takes them there, and a crash loses nothing the events lack).
    bool synced = true;
};

// Where the recorder keeps the chain. Implementations: SQLite (store/sqlite_store); a
// PostgreSQL one later. Nothing here is specific to one database.
class EventStore {
public:
    virtual ~EventStore() = default;

    struct Head {
        std::int64_t seq = 0;  // 0: empty chain
        std::string hash;      // genesisHash() for an empty chain
        std::int64_t checkpointSeq = 0;
    };
    virtual Head head() = 0;

    // Writes the batch in one durable transaction: when it returns it survives a crash.
    // Throws std::runtime_error on failure, and then nothing of the batch is stored.
    virtual void append(const Batch& batch) = 0;

    // The newest checkpoint at or before `cutoffMicros` (by the time of the event it
    // signs) below the head: what a purge of events older than the cutoff may remove.
    // 0 when there is none.
    virtual std::int64_t purgeableThrough(std::int64_t cutoffMicros) = 0;
    // How many reviews a purge at this cutoff deletes: those whose last change is older
    // than the cutoff and that nothing can change any more (not pending; an approved
    // ticket once its grant has lapsed before the cutoff).
    virtual std::int64_t purgeableReviews(std::int64_t cutoffMicros) = 0;
    // Where the next transaction of a purge through `through` (a checkpoint) stops: the
    // newest checkpoint that leaves at most `maxEvents` of the oldest events to delete (or
    // the oldest checkpoint left, when the first holds more). 0: nothing left up to `through`.
    virtual std::int64_t purgeChunkEnd(std::int64_t through, std::int64_t maxEvents) = 0;
    // After a purge: drops what the store may still hold of the deleted data outside its
    // tables (SQLite: the old frames of its write-ahead log), without waiting for readers.
    // False when that has to wait for another time.
    virtual bool releaseDeleted() = 0;

    // Requests begun but never ended (the gateway stopped while serving them).
    virtual std::vector<RequestIndex> unfinishedRequests() = 0;

    // How far the index is written; the events after it (to rebuild the index at start).
    virtual std::int64_t indexedThrough() = 0;
    virtual std::vector<Event> eventsAfter(std::int64_t seq, std::size_t limit) = 0;

    // The public key that signs checkpoints, stored beside the chain for convenience (a
    // verifier should use a copy it trusts).
    virtual void rememberPublicKey(const std::string& keyId, const std::string& publicKeyPem) = 0;
};

}  // namespace vigil::record

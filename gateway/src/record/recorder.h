#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "observe/metrics.h"
#include "record/event_store.h"
#include "record/signing_key.h"

namespace vigil::record {

// Appends events to the hash chain from one writer thread with group commit: every event
// queued while a transaction is being written goes into the next one. Each event is
// hashed in commit order; every `checkpointEvery` events or `checkpointInterval` the head
// is signed. Callers learn that their events are durable through the callback.
//
// After a failed write the recorder is unhealthy: it keeps retrying once a second with a
// "recording.resumed" event, which, once it commits, records the gap (since when, why).
class Recorder {
public:
    struct Options {
        std::size_t checkpointEvery = 1000;
        std::chrono::milliseconds checkpointInterval{5000};
        std::size_t maxBatch = 4096;
        // Events waiting to be written, in bytes, beyond which accepting() turns false
        // (a disk slower than the traffic must not grow memory without bound).
        std::size_t maxQueuedBytes = 256u * 1024 * 1024;
        // Beyond this many bytes waiting, the writer is behind: responses recorded with
        // relaxed durability wait for their commit too (see behind()), which slows callers
        // to the pace of the disk instead of letting the queue reach maxQueuedBytes.
        std::size_t behindQueuedBytes = 16u * 1024 * 1024;
        std::chrono::milliseconds retryInterval{1000};
        std::chrono::microseconds linger{2000};  // for recordSoon()
        // After a commit that responses waited for (strict durability), when the one before
        // it was less than twice this long before, the writer polls for the next urgent
        // event for up to this long instead of sleeping: under dense strict traffic the next
        // request ends within a fraction of a millisecond, and waking a sleeping thread
        // costs tens of microseconds on a virtual machine. 0: always sleeps.
        std::chrono::microseconds spin{1000};
        // The sessions index is written in its own transactions, not synced, at most this
        // long after its events (or when flush() is called: the API does before reading).
        std::chrono::milliseconds indexDelay{50};
        std::size_t indexBatch = 2048;
        // Retention: events older than this many days are purged (0: kept forever),
        // checked at start and then every `purgeCheckInterval`.
        int retentionDays = 0;
        std::chrono::milliseconds purgeCheckInterval{std::chrono::hours(1)};
        // A purge deletes at most about this many events per transaction; the events that
        // arrive meanwhile are written between its transactions (a purge of days of traffic
        // must not stall the recording, and the requests waiting for it, for seconds).
        std::size_t purgeChunkEvents = 2000;
        // Called on the writer thread with every event once it is committed (numbered and
        // hashed), from the first one: the SIEM stream. Must not block.
        std::function<void(const Event&)> commitTap;
    };
    using Done = std::function<void(bool durable)>;
    using Clock = std::function<std::int64_t()>;  // Unix microseconds

    Recorder(std::unique_ptr<EventStore> store, SigningKey key, Options options, Clock clock = {});
    ~Recorder();  // writes what is queued, then a final checkpoint
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    // Queues one event; `done` runs on the writer thread once the event is committed
    // (true) or its transaction failed (false). Events queued by one thread are committed
    // in the order they were queued.
    void record(std::string sessionId, std::string type, std::string payload, Done done = {});
    // The same, with the sessions index row the event begins or ends.
    void record(std::string sessionId, std::string type, std::string payload, RequestIndex index, Done done = {});
    // The same, with the new state of a review, stored in the event's transaction.
    void record(std::string sessionId, std::string type, std::string payload, ReviewRow review, Done done);
    // The same, and a signed checkpoint right after it (in the same transaction); the
    // sessions index is brought up to date before `done` runs (an export reads it next).
    void recordAndSign(std::string sessionId, std::string type, std::string payload, Done done = {});
    // An event that need not be durable at once: it is committed with the next event
    // recorded with record() or after `linger`, whichever comes first. A request's early
    // events (received, identity, decision) go this way, so that a fast exchange costs one
    // commit (one fsync) instead of two, while a slow one is on disk within `linger`.
    void recordSoon(std::string sessionId, std::string type, std::string payload,
                    std::optional<RequestIndex> index = std::nullopt);

    // Requests a previous run began and never ended (it was killed): at construction each
    // gets a "request.interrupted" event in its session and an end in the index.
    std::size_t interruptedAtStart() const { return interruptedAtStart_; }

    // Purges events older than the cutoff now (normally done by the retention timer);
    // the purge is a recorded event, followed by a checkpoint. Returns once every
    // transaction of the purge is written; false when a write failed (or the recorder
    // stopped first: the next start goes on).
    bool purgeOlderThan(std::int64_t cutoffMicros);

    // Blocks until everything queued so far is committed; false if a write failed.
    bool flush();

    // False after a failed write, until a write succeeds again.
    bool healthy() const { return healthy_.load(); }
    // Healthy and not backed up: new requests may be served.
    bool accepting() const {
        return healthy_.load(std::memory_order_relaxed) &&
               queuedBytes_.load(std::memory_order_relaxed) < options_.maxQueuedBytes;
    }
    // The writer is behind the traffic (more than behindQueuedBytes waiting).
    bool behind() const { return queuedBytes_.load(std::memory_order_relaxed) >= options_.behindQueuedBytes; }
    std::int64_t committedSeq() const { return committedSeq_.load(); }
    // How long a thread waiting for a commit should poll for it before it sleeps: the spin
    // time while commits are fast (the last one, and the one being written, took less),
    // 0 while the disk is slow, stalled, or spinning is off.
    std::chrono::microseconds waitSpin() const;
    // For /metrics: state, and counts of the work done so far.
    observe::RecordingStats stats() const;
    std::string lastError() const;
    const SigningKey& key() const { return key_; }
    EventStore& store() { return *store_; }  // before serving only (the writer owns it after)

    // Called for every event as it is queued (session id, type, payload), on the caller's
    // thread: the live event stream's per-session subscriptions. Set before serving.
    using Tap = std::function<void(const std::string&, const std::string&, const std::string&)>;
    void setTap(Tap tap) { tap_ = std::move(tap); }

private:
    struct Pending {
        Event event;
        std::optional<RequestIndex> index;
        std::optional<ReviewRow> review;
        Done done;
        std::optional<std::int64_t> purgeCutoff;  // a purge request, not an event
        std::optional<std::int64_t> purgeRest;    // the rest of a purge, through this seq
        bool purge() const { return purgeCutoff || purgeRest; }
        bool soon = false;
        bool sign = false;  // a checkpoint right after this event
        std::chrono::steady_clock::time_point queuedAt{};
    };
    void enqueue(Pending p);
    Pending makeEvent(std::string sessionId, std::string type, std::string payload, std::optional<RequestIndex> index,
                      Done done, bool soon);
    void run();
    // With `purgeThrough`: the purge of the events up to there and of the reviews finished
    // before `purgeReviewsBefore`, in the same transaction.
    bool writeBatch(std::deque<Pending>& batch, bool forceCheckpoint, std::optional<std::int64_t> purgeThrough = {},
                    std::optional<std::int64_t> purgeReviewsBefore = {});
    // Writes one transaction, timed in the commit statistics; false (and unhealthy) if it failed.
    bool commit(const Batch& batch);
    void runPurge(Pending& request);
    // One more transaction of a purge begun by runPurge(); queues the rest, if any.
    void continuePurge(Pending& request);
    bool queuePurgeRest(Pending& rest);  // false at a stop
    void finishPurge(Pending& request, bool complete);
    bool writeIndex();
    void publishIndexState();
    bool indexPending() const { return !pendingIndex_.empty() || !pendingEventSessions_.empty(); }
    void rebuildIndex();
    void fail(const std::string& error);

    std::unique_ptr<EventStore> store_;
    Tap tap_;
    std::function<void(const Event&)> commitTap_;
    SigningKey key_;
    Options options_;
    Clock clock_;
    EventStore::Head head_;
    std::chrono::steady_clock::time_point lastCheckpoint_;
    std::chrono::steady_clock::time_point nextPurge_;
    // Writer thread only: a purge whose later transactions are queued, and what it does.
    bool purging_ = false;
    std::int64_t purgeThrough_ = 0;
    std::int64_t purgeReviews_ = 0;
    std::int64_t purgeTransactions_ = 0;
    std::int64_t unhealthySince_ = 0;
    std::size_t interruptedAtStart_ = 0;
    std::vector<RequestIndex> pendingIndex_;  // writer thread only
    std::vector<std::pair<std::int64_t, std::string>> pendingEventSessions_;
    std::chrono::steady_clock::time_point pendingIndexSince_{};

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    std::deque<Pending> queue_;
    bool writing_ = false;
    bool sleeping_ = false;
    std::size_t urgentQueued_ = 0;  // events in the queue not recorded with recordSoon()
    std::size_t purgeRestQueued_ = 0;  // the rest of a purge, queued (0 or 1)
    bool writingPurgeRest_ = false;    // the transaction being written is a purge's later one
    // Nothing queued but the rest of a purge: what flush() waits for (with the lock held).
    bool drained() const { return queue_.size() == purgeRestQueued_; }
    // Bumped when work that must not wait arrives (an urgent event, a flush, the stop):
    // what the spinning writer watches without the mutex.
    std::atomic<std::uint64_t> arrivals_{0};
    std::chrono::steady_clock::time_point spinUntil_{};      // writer thread only
    std::chrono::steady_clock::time_point lastWaitedCommit_{};  // writer thread only
    std::size_t flushRequests_ = 0;
    std::size_t indexRowsPending_ = 0;  // pendingIndex_.size(), published under mutex_
    bool stopping_ = false;
    std::string lastError_;
    std::atomic<bool> healthy_{true};
    std::atomic<std::size_t> queuedBytes_{0};
    std::atomic<std::int64_t> committedSeq_{0};
    std::atomic<std::uint64_t> eventsCommitted_{0}, commitsOk_{0}, commitsFailed_{0}, commitMicrosSum_{0};
    std::atomic<std::uint64_t> spinsCaught_{0}, spinsExpired_{0};
    std::atomic<std::int64_t> lastCommitMicros_{0};
    std::atomic<std::int64_t> commitStartedAt_{0};  // steady clock, microseconds; 0: not writing
    std::array<std::atomic<std::uint64_t>, observe::RecordingStats::kCommitBuckets.size()> commitBuckets_{};
    std::thread thread_;
};

}  // namespace vigil::record

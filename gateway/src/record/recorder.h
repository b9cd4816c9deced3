#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "record/event_store.h"
#include "record/signing_key.h"

namespace vigil::record {

// Appends events to the hash chain from one writer thread with group commit: every event
// queued while a transaction is being written goes into the next one. Each event is
// hashed in commit order; every `checkpointEvery` events or `checkpointInterval` the head
// is signed. Callers learn that their events are durable through the callback.
class Recorder {
public:
    struct Options {
        std::size_t checkpointEvery = 1000;
        std::chrono::milliseconds checkpointInterval{5000};
        std::size_t maxBatch = 4096;
    };
    using Done = std::function<void(bool durable)>;
    using Clock = std::function<std::int64_t()>;  // Unix microseconds

    Recorder(std::unique_ptr<EventStore> store, SigningKey key, Options options, Clock clock = {});
    ~Recorder();  // writes what is queued, then a final checkpoint
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    // Queues one event; `done` runs on the writer thread once the event is committed
    // (true) or its transaction failed (false).
    void record(std::string sessionId, std::string type, std::string payload, Done done = {});

    // Blocks until everything queued so far is committed; false if a write failed.
    bool flush();

    // False after a failed write, until a write succeeds again.
    bool healthy() const { return healthy_.load(); }
    std::int64_t committedSeq() const { return committedSeq_.load(); }

private:
    struct Pending {
        Event event;
        Done done;
    };
    void run();
    bool writeBatch(std::deque<Pending>& batch, bool forceCheckpoint);

    std::unique_ptr<EventStore> store_;
    SigningKey key_;
    Options options_;
    Clock clock_;
    EventStore::Head head_;
    std::chrono::steady_clock::time_point lastCheckpoint_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    std::deque<Pending> queue_;
    bool writing_ = false;
    bool stopping_ = false;
    std::atomic<bool> healthy_{true};
    std::atomic<std::int64_t> committedSeq_{0};
    std::thread thread_;
};

}  // namespace vigil::record

#include "record/recorder.h"

#include "observe/log.h"

namespace vigil::record {
namespace {

std::int64_t nowMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Recorder::Recorder(std::unique_ptr<EventStore> store, SigningKey key, Options options, Clock clock)
    : store_(std::move(store)), key_(std::move(key)), options_(options), clock_(clock ? std::move(clock) : nowMicros) {
    head_ = store_->head();
    committedSeq_.store(head_.seq);
    store_->rememberPublicKey(key_.keyId(), key_.publicKeyPem());
    lastCheckpoint_ = std::chrono::steady_clock::now();
    thread_ = std::thread([this] { run(); });
}

Recorder::~Recorder() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Recorder::record(std::string sessionId, std::string type, std::string payload, Done done) {
    Pending p;
    p.event.sessionId = std::move(sessionId);
    p.event.type = std::move(type);
    p.event.payload = std::move(payload);
    p.event.timeMicros = clock_();
    p.done = std::move(done);
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(p));
    }
    wake_.notify_one();
}

bool Recorder::flush() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return queue_.empty() && !writing_; });
    return healthy_.load();
}

bool Recorder::writeBatch(std::deque<Pending>& batch, bool forceCheckpoint) {
    std::vector<Event> events;
    events.reserve(batch.size());
    auto head = head_;
    for (auto& p : batch) {
        Event e = p.event;
        e.seq = head.seq + 1;
        e.prevHash = head.hash;
        e.hash = eventHash(e.prevHash, e);
        head.seq = e.seq;
        head.hash = e.hash;
        events.push_back(std::move(e));
    }
    std::optional<Checkpoint> checkpoint;
    const bool due = head.seq - head.checkpointSeq >= static_cast<std::int64_t>(options_.checkpointEvery) ||
                     std::chrono::steady_clock::now() - lastCheckpoint_ >= options_.checkpointInterval || forceCheckpoint;
    if (due && head.seq > head.checkpointSeq) {
        Checkpoint c;
        c.seq = head.seq;
        c.headHash = head.hash;
        c.timeMicros = clock_();
        c.keyId = key_.keyId();
        c.signature = key_.sign(checkpointMessage(c));
        checkpoint = std::move(c);
    }
    try {
        store_->append(events, checkpoint);
    } catch (const std::exception& e) {
        if (healthy_.exchange(false)) {
            observe::LogLine(observe::LogLevel::Error, "recording failed").str("error", e.what());
        }
        return false;
    }
    if (checkpoint) {
        head.checkpointSeq = checkpoint->seq;
        lastCheckpoint_ = std::chrono::steady_clock::now();
    }
    head_ = head;
    committedSeq_.store(head.seq);
    if (!healthy_.exchange(true)) observe::LogLine(observe::LogLevel::Info, "recording recovered");
    return true;
}

void Recorder::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        const bool timed = head_.seq > head_.checkpointSeq;
        if (timed) {
            wake_.wait_for(lock, options_.checkpointInterval, [this] { return stopping_ || !queue_.empty(); });
        } else {
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        }
        if (queue_.empty() && !stopping_ && head_.seq > head_.checkpointSeq) {
            // Idle with unsigned events: sign the head so the tail does not stay uncovered.
            writing_ = true;
            lock.unlock();
            std::deque<Pending> none;
            writeBatch(none, true);
            lock.lock();
            writing_ = false;
            idle_.notify_all();
            continue;
        }
        if (queue_.empty() && stopping_) {
            if (head_.seq > head_.checkpointSeq) {
                lock.unlock();
                std::deque<Pending> none;
                writeBatch(none, true);
            }
            return;
        }
        std::deque<Pending> batch;
        while (!queue_.empty() && batch.size() < options_.maxBatch) {
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
        writing_ = true;
        lock.unlock();
        const bool ok = writeBatch(batch, false);
        for (auto& p : batch) {
            if (p.done) p.done(ok);
        }
        lock.lock();
        writing_ = false;
        if (queue_.empty()) idle_.notify_all();
    }
}

}  // namespace vigil::record

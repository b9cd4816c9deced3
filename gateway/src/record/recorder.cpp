#include "record/recorder.h"

#include <algorithm>
#include <future>
#include <memory>

#include "observe/log.h"
#include "record/index_rebuild.h"
#include "vigil/json_text.h"
#include "observe/thread_name.h"

namespace vigil::record {
namespace {

std::int64_t nowMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

std::int64_t steadyMicros(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::size_t sizeOf(const Event& e) { return e.sessionId.size() + e.type.size() + e.payload.size() + 64; }

}  // namespace

Recorder::Recorder(std::unique_ptr<EventStore> store, SigningKey key, Options options, Clock clock)
    : store_(std::move(store)),
      commitTap_(options.commitTap),
      key_(std::move(key)),
      options_(std::move(options)),
      clock_(clock ? std::move(clock) : nowMicros) {
    head_ = store_->head();
    committedSeq_.store(head_.seq);
    store_->rememberPublicKey(key_.keyId(), key_.publicKeyPem());
    lastCheckpoint_ = std::chrono::steady_clock::now();
    nextPurge_ = lastCheckpoint_;  // retention is applied once at start
    rebuildIndex();
    // Events after the last checkpoint were not signed by the run that wrote them (it was
    // killed), or were written by someone else while the gateway was stopped: the next
    // checkpoint signs them, so the chain says first that they were taken over unsigned
    // (`vigil verify` lists such stretches).
    if (head_.seq > head_.checkpointSeq) {
        const auto from = head_.checkpointSeq + 1;
        observe::LogLine(observe::LogLevel::Warn, "recording found unsigned events")
            .num("from_seq", from)
            .num("to_seq", head_.seq)
            .str("meaning", "the previous run stopped before signing them (killed), or they were written while the gateway was stopped; "
                            "they are signed now, after a recording.unsigned_tail event that says so");
        Pending p;
        p.event.sessionId = kGatewaySession;
        p.event.type = "recording.unsigned_tail";
        p.event.timeMicros = clock_();
        p.event.payload = R"({"from_seq":)" + std::to_string(from) + R"(,"to_seq":)" + std::to_string(head_.seq) +
                          R"(,"events":)" + std::to_string(head_.seq - head_.checkpointSeq) + "}";
        queuedBytes_ += sizeOf(p.event);
        ++urgentQueued_;
        queue_.push_back(std::move(p));
    }
    // Requests a previous run began and never ended (it was killed): their sessions get
    // an event saying so, and their index rows an end.
    for (auto& row : store_->unfinishedRequests()) {
        std::string payload = R"({"request_id":)";
        appendJsonString(payload, row.requestId);
        payload += R"(,"reason":"the gateway stopped before the request ended"})";
        RequestIndex end;
        end.kind = RequestIndex::Kind::End;
        end.requestId = row.requestId;
        end.sessionId = row.sessionId;
        end.endedMicros = clock_();
        end.outcome = "interrupted";
        Pending p;
        p.event.sessionId = row.sessionId;
        p.event.type = "request.interrupted";
        p.event.payload = std::move(payload);
        p.event.timeMicros = end.endedMicros;
        p.index = std::move(end);
        queuedBytes_ += sizeOf(p.event);
        ++urgentQueued_;
        queue_.push_back(std::move(p));
        ++interruptedAtStart_;
    }
    thread_ = std::thread([this] {
        observe::nameThisThread("vigil-recorder");
        run();
    });
}

Recorder::~Recorder() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        arrivals_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Recorder::enqueue(Pending p) {
    // A purge request holds no event, and its branch of the writer takes nothing off.
    if (!p.purge()) queuedBytes_.fetch_add(sizeOf(p.event), std::memory_order_relaxed);
    bool wakeWriter = false;
    {
        std::lock_guard lock(mutex_);
        if (p.soon) {
            p.queuedAt = std::chrono::steady_clock::now();
        } else {
            ++urgentQueued_;
            arrivals_.fetch_add(1, std::memory_order_release);
        }
        queue_.push_back(std::move(p));
        // A sleeping writer is woken for an urgent event only: it never sleeps longer
        // than the linger while idle, so it finds events that may wait by itself. While it
        // writes, new events simply wait for the next batch (no wake-up system call).
        wakeWriter = sleeping_ && urgentQueued_ > 0;

    }
    if (wakeWriter) wake_.notify_one();
}

Recorder::Pending Recorder::makeEvent(std::string sessionId, std::string type, std::string payload,
                                      std::optional<RequestIndex> index, Done done, bool soon) {
    Pending p;
    p.event.sessionId = std::move(sessionId);
    p.event.type = std::move(type);
    p.event.payload = std::move(payload);
    p.event.timeMicros = clock_();
    p.index = std::move(index);
    p.done = std::move(done);
    p.soon = soon;
    if (tap_) tap_(p.event.sessionId, p.event.type, p.event.payload);
    return p;
}

void Recorder::recordSoon(std::string sessionId, std::string type, std::string payload, std::optional<RequestIndex> index) {
    enqueue(makeEvent(std::move(sessionId), std::move(type), std::move(payload), std::move(index), {}, true));
}

void Recorder::record(std::string sessionId, std::string type, std::string payload, Done done) {
    enqueue(makeEvent(std::move(sessionId), std::move(type), std::move(payload), std::nullopt, std::move(done), false));
}

void Recorder::recordAndSign(std::string sessionId, std::string type, std::string payload, Done done) {
    auto p = makeEvent(std::move(sessionId), std::move(type), std::move(payload), std::nullopt, std::move(done), false);
    p.sign = true;
    enqueue(std::move(p));
}

void Recorder::record(std::string sessionId, std::string type, std::string payload, ReviewRow review, Done done) {
    auto p = makeEvent(std::move(sessionId), std::move(type), std::move(payload), std::nullopt, std::move(done), false);
    p.review = std::move(review);
    enqueue(std::move(p));
}

void Recorder::record(std::string sessionId, std::string type, std::string payload, RequestIndex index, Done done) {
    enqueue(makeEvent(std::move(sessionId), std::move(type), std::move(payload), std::move(index), std::move(done), false));
}

bool Recorder::purgeOlderThan(std::int64_t cutoffMicros) {
    auto result = std::make_shared<std::promise<bool>>();
    auto done = result->get_future();
    Pending p;
    p.purgeCutoff = cutoffMicros;
    p.done = [result](bool complete) { result->set_value(complete); };
    enqueue(std::move(p));
    // Every transaction of the purge (flush() does not wait for the later ones).
    return done.get();
}

bool Recorder::flush() {
    std::unique_lock lock(mutex_);
    // A failing store: nothing more can be written now; readers read what was committed
    // (waiting would hold an I/O thread for as long as the disk stays full).
    if (!healthy_.load()) return false;
    ++flushRequests_;
    arrivals_.fetch_add(1, std::memory_order_release);
    if (sleeping_) wake_.notify_one();
    // Everything written, the index included (unless the store fails: then it stays pending).
    // Not waiting for a purge's later transactions: nothing queued before the flush is in them.
    idle_.wait(lock, [this] {
        return drained() && (!writing_ || writingPurgeRest_) && (indexRowsPending_ == 0 || !healthy_.load());
    });
    --flushRequests_;
    return healthy_.load();
}

std::chrono::microseconds Recorder::waitSpin() const {
    const auto spin = options_.spin;
    if (spin.count() <= 0) return std::chrono::microseconds(0);
    const auto writingSince = commitStartedAt_.load(std::memory_order_acquire);
    if (writingSince != 0 && steadyMicros(std::chrono::steady_clock::now()) - writingSince >= spin.count()) {
        return std::chrono::microseconds(0);  // the commit being written is already slow
    }
    if (lastCommitMicros_.load(std::memory_order_relaxed) >= spin.count()) return std::chrono::microseconds(0);
    return spin;
}

observe::RecordingStats Recorder::stats() const {
    observe::RecordingStats s;
    s.healthy = healthy_.load();
    s.behind = behind();
    s.queuedBytes = queuedBytes_.load(std::memory_order_relaxed);
    s.committedSeq = committedSeq_.load();
    s.eventsCommitted = eventsCommitted_.load(std::memory_order_relaxed);
    s.commitsOk = commitsOk_.load(std::memory_order_relaxed);
    s.commitsFailed = commitsFailed_.load(std::memory_order_relaxed);
    for (std::size_t b = 0; b < s.commitBuckets.size(); ++b) s.commitBuckets[b] = commitBuckets_[b].load(std::memory_order_relaxed);
    s.commitMicrosSum = commitMicrosSum_.load(std::memory_order_relaxed);
    s.spinsCaught = spinsCaught_.load(std::memory_order_relaxed);
    s.spinsExpired = spinsExpired_.load(std::memory_order_relaxed);
    return s;
}

std::string Recorder::lastError() const {
    std::lock_guard lock(mutex_);
    return lastError_;
}

void Recorder::fail(const std::string& error) {
    {
        std::lock_guard lock(mutex_);
        lastError_ = error;
    }
    if (healthy_.exchange(false)) {
        unhealthySince_ = clock_();
        observe::LogLine(observe::LogLevel::Error, "recording failed")
            .str("error", error)
            .str("effect", "new requests are refused with 503 recording_unavailable until a write succeeds");
    }
}

void Recorder::rebuildIndex() {
    // Index rows are written after their events: a crash may have lost the last ones.
    const auto through = store_->indexedThrough();
    if (through >= head_.seq) return;
    IndexRebuilder rebuilder;
    Batch batch;
    std::int64_t at = through;
    for (;;) {
        const auto events = store_->eventsAfter(at, 10'000);
        if (events.empty()) break;
        for (const auto& e : events) {
            rebuilder.feed(e);
            batch.eventSessions.emplace_back(e.seq, e.sessionId);
        }
        at = events.back().seq;
    }
    batch.index = rebuilder.take();
    batch.indexedThrough = head_.seq;
    store_->append(batch);
    observe::LogLine(observe::LogLevel::Info, "recording index rebuilt")
        .num("from_seq", through + 1)
        .num("to_seq", head_.seq)
        .num("rows", static_cast<std::int64_t>(batch.index.size()));
}

void Recorder::publishIndexState() {
    std::lock_guard lock(mutex_);
    indexRowsPending_ = pendingIndex_.size() + pendingEventSessions_.size();
}

bool Recorder::writeIndex() {
    Batch batch;
    batch.index = std::move(pendingIndex_);
    pendingIndex_.clear();
    batch.eventSessions = std::move(pendingEventSessions_);
    pendingEventSessions_.clear();
    batch.indexedThrough = head_.seq;
    batch.synced = false;
    try {
        store_->append(batch);
    } catch (const std::exception& e) {
        fail(e.what());
        pendingIndex_ = std::move(batch.index);  // kept for the next attempt
        pendingEventSessions_ = std::move(batch.eventSessions);
        return false;
    }
    publishIndexState();
    return true;
}

bool Recorder::commit(const Batch& batch) {
    const auto started = std::chrono::steady_clock::now();
    commitStartedAt_.store(steadyMicros(started), std::memory_order_relaxed);
    const auto measure = [&](bool ok) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        lastCommitMicros_.store(static_cast<std::int64_t>(seconds * 1e6), std::memory_order_relaxed);
        commitStartedAt_.store(0, std::memory_order_release);  // after: a reader sees this commit's time
        std::size_t bucket = 0;
        while (bucket < commitBuckets_.size() && seconds > observe::RecordingStats::kCommitBuckets[bucket]) ++bucket;
        if (bucket < commitBuckets_.size()) commitBuckets_[bucket].fetch_add(1, std::memory_order_relaxed);
        commitMicrosSum_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
        (ok ? commitsOk_ : commitsFailed_).fetch_add(1, std::memory_order_relaxed);
        if (ok) eventsCommitted_.fetch_add(batch.events.size(), std::memory_order_relaxed);
    };
    try {
        store_->append(batch);
    } catch (const std::exception& e) {
        measure(false);
        fail(e.what());
        return false;
    }
    measure(true);
    return true;
}

bool Recorder::writeBatch(std::deque<Pending>& pending, bool forceCheckpoint, std::optional<std::int64_t> purgeThrough,
                          std::optional<std::int64_t> purgeReviewsBefore) {
    Batch batch;
    batch.events.reserve(pending.size() + 1);
    auto head = head_;
    auto append = [&](Event e) {
        e.seq = head.seq + 1;
        e.prevHash = head.hash;
        e.hash = eventHash(e.prevHash, e);
        head.seq = e.seq;
        head.hash = e.hash;
        batch.events.push_back(std::move(e));
    };
    if (!healthy_.load()) {
        // The first write after a failure says so in the chain itself.
        Event resumed;
        resumed.sessionId = kGatewaySession;
        resumed.type = "recording.resumed";
        resumed.timeMicros = clock_();
        resumed.payload = R"({"unavailable_since_us":)" + std::to_string(unhealthySince_) + R"(,"error":)";
        appendJsonString(resumed.payload, lastError());
        resumed.payload += '}';
        append(std::move(resumed));
    }
    // The pending events are moved, not copied: a failed batch is not retried (its callers
    // learn so through `done`), so nothing needs them afterwards.
    std::vector<RequestIndex> index;
    for (auto& p : pending) {
        append(std::move(p.event));
        if (p.index) {
            index.push_back(std::move(*p.index));
            index.back().seq = head.seq;
        }
        if (p.review) batch.reviews.push_back(std::move(*p.review));
    }
    const bool due = head.seq - head.checkpointSeq >= static_cast<std::int64_t>(options_.checkpointEvery) ||
                     std::chrono::steady_clock::now() - lastCheckpoint_ >= options_.checkpointInterval || forceCheckpoint;
    if (due && head.seq > head.checkpointSeq) {
        Checkpoint c;
        c.seq = head.seq;
        c.headHash = head.hash;
        c.timeMicros = clock_();
        c.keyId = key_.keyId();
        c.signature = key_.sign(checkpointMessage(c));
        batch.checkpoint = std::move(c);
    }
    batch.purgeThrough = purgeThrough;
    batch.purgeReviewsBefore = purgeReviewsBefore;
    if (!commit(batch)) return false;
    if (batch.checkpoint) {
        head.checkpointSeq = batch.checkpoint->seq;
        lastCheckpoint_ = std::chrono::steady_clock::now();
    }
    if (!batch.events.empty()) {
        if (pendingIndex_.empty() && pendingEventSessions_.empty()) pendingIndexSince_ = std::chrono::steady_clock::now();
        for (const auto& e : batch.events) pendingEventSessions_.emplace_back(e.seq, e.sessionId);
        pendingIndex_.insert(pendingIndex_.end(), std::make_move_iterator(index.begin()), std::make_move_iterator(index.end()));
        publishIndexState();
    }
    head_ = head;
    committedSeq_.store(head.seq);
    if (commitTap_) {
        for (const auto& e : batch.events) commitTap_(e);
    }
    if (!healthy_.exchange(true)) observe::LogLine(observe::LogLevel::Info, "recording resumed");
    return true;
}

void Recorder::runPurge(Pending& request) {
    if (purging_) {
        // A purge is still being written (its rest is queued): this one comes after it.
        std::lock_guard lock(mutex_);
        ++urgentQueued_;
        queue_.push_back(std::move(request));
        return;
    }
    const std::int64_t cutoff = *request.purgeCutoff;
    if (indexPending() && !writeIndex()) {
        if (request.done) request.done(false);
        return;
    }
    std::int64_t through = 0;
    std::int64_t reviews = 0;
    std::int64_t firstEnd = 0;
    try {
        through = store_->purgeableThrough(cutoff);
        if (through > 0) firstEnd = store_->purgeChunkEnd(through, static_cast<std::int64_t>(options_.purgeChunkEvents));
        // The reviews go too (their documents hold the prompts), with the events or alone
        // (an unused grant that lapsed after its events were purged).
        reviews = store_->purgeableReviews(cutoff);
    } catch (const std::exception& e) {
        fail(e.what());
        if (request.done) request.done(false);
        return;
    }
    if (firstEnd <= 0) through = 0;
    if (through <= 0 && reviews <= 0) {
        if (request.done) request.done(true);
        return;
    }
    Pending event;
    event.event.sessionId = kGatewaySession;
    event.event.type = "retention.purged";
    event.event.timeMicros = clock_();
    event.event.payload = R"({"through_seq":)" + std::to_string(through) + R"(,"cutoff_us":)" + std::to_string(cutoff) +
                          R"(,"retention_days":)" + std::to_string(options_.retentionDays) +
                          R"(,"reviews_purged":)" + std::to_string(reviews) + "}";
    std::deque<Pending> one;
    one.push_back(std::move(event));
    // The purge event is signed at once, in the purge's first transaction: the chain's new
    // beginning is vouched for by the checkpoint kept where it is cut, and the purge by
    // this one. A large purge deletes the rest in later transactions, up to `through`.
    // through_seq 0: only reviews were purged.
    const auto firstCut = through > 0 ? std::optional<std::int64_t>(firstEnd) : std::nullopt;
    if (!writeBatch(one, true, firstCut, cutoff)) {
        if (request.done) request.done(false);
        return;
    }
    purgeThrough_ = through;
    purgeReviews_ = reviews;
    purgeTransactions_ = 1;
    Pending rest;
    rest.purgeRest = through;
    rest.done = std::move(request.done);
    if (through > 0 && firstEnd < through && queuePurgeRest(rest)) return;
    finishPurge(rest, firstEnd >= through);
}

void Recorder::continuePurge(Pending& request) {
    const std::int64_t through = *request.purgeRest;
    std::int64_t end = 0;
    try {
        end = store_->purgeChunkEnd(through, static_cast<std::int64_t>(options_.purgeChunkEvents));
    } catch (const std::exception& e) {
        fail(e.what());
        finishPurge(request, false);
        return;
    }
    if (end > 0) {
        Batch batch;
        batch.purgeThrough = end;
        // Failed: unhealthy until a write succeeds; the next check purges what is left.
        if (!commit(batch)) {
            finishPurge(request, false);
            return;
        }
        ++purgeTransactions_;
    }
    if (end > 0 && end < through && queuePurgeRest(request)) return;
    finishPurge(request, end == 0 || end >= through);
}

bool Recorder::queuePurgeRest(Pending& rest) {
    std::lock_guard lock(mutex_);
    // At a stop, the rest waits for the next start (whose first check purges it).
    if (stopping_) return false;
    purging_ = true;
    // Behind the events queued meanwhile, which are written first.
    ++urgentQueued_;
    ++purgeRestQueued_;
    queue_.push_back(std::move(rest));
    return true;
}

void Recorder::finishPurge(Pending& request, bool complete) {
    purging_ = false;
    // What was deleted is zeroed in the database (secure_delete); older copies of its pages
    // may remain in the store's log until this.
    bool released = false;
    try {
        released = store_->releaseDeleted();
    } catch (const std::exception&) {
    }
    if (complete) {
        observe::LogLine(observe::LogLevel::Info, "recording purged")
            .num("through_seq", purgeThrough_)
            .num("reviews_purged", purgeReviews_)
            .num("transactions", purgeTransactions_)
            .num("retention_days", options_.retentionDays)
            .flag("log_truncated", released);
    }
    if (request.done) request.done(complete);
}

void Recorder::run() {
    using SteadyClock = std::chrono::steady_clock;
    std::unique_lock lock(mutex_);
    auto nextRetry = SteadyClock::now();
    while (true) {
        if (options_.retentionDays > 0 && !stopping_ && healthy_.load() && !purging_ && SteadyClock::now() >= nextPurge_) {
            nextPurge_ = SteadyClock::now() + options_.purgeCheckInterval;
            Pending request;
            request.purgeCutoff = clock_() - std::int64_t{options_.retentionDays} * 86'400'000'000;
            ++urgentQueued_;
            queue_.push_front(std::move(request));
        }
        if (urgentQueued_ == 0 && flushRequests_ == 0 && !stopping_ && SteadyClock::now() < spinUntil_) {
            // Dense strict traffic: stay awake for the next urgent event (see Options::spin).
            const auto seen = arrivals_.load(std::memory_order_acquire);
            const auto until = spinUntil_;
            spinUntil_ = {};
            lock.unlock();
            bool caught = false;
            while (SteadyClock::now() < until) {
                if (arrivals_.load(std::memory_order_acquire) != seen) {
                    caught = true;
                    break;
                }
                cpuRelax();
            }
            lock.lock();
            // Caught: an urgent event came in time (a flush or the stop ending it counts as neither).
            if (!caught) {
                spinsExpired_.fetch_add(1, std::memory_order_relaxed);
            } else if (urgentQueued_ > 0) {
                spinsCaught_.fetch_add(1, std::memory_order_relaxed);
            }
            continue;
        }
        if (queue_.empty() && !stopping_) {
            auto until = SteadyClock::time_point::max();
            // While the store fails, only the retry wakes it (the checkpoint deadline is past
            // then, and waking for it made the writer spin: a signed, failed commit thousands of
            // times a second).
            if (head_.seq > head_.checkpointSeq && healthy_.load()) {
                until = std::min(until, lastCheckpoint_ + options_.checkpointInterval);
            }
            if (!healthy_.load()) until = std::min(until, nextRetry);
            if (options_.retentionDays > 0) until = std::min(until, nextPurge_);
            if (indexPending()) until = std::min(until, pendingIndexSince_ + options_.indexDelay);
            // Events recorded with recordSoon() do not wake the writer; it looks every linger.
            until = std::min(until, SteadyClock::now() + options_.linger);
            sleeping_ = true;
            const auto woken = [this] {
                return stopping_ || !queue_.empty() || (flushRequests_ > 0 && indexRowsPending_ > 0 && healthy_.load());
            };
            if (until == SteadyClock::time_point::max()) {
                wake_.wait(lock, woken);
            } else {
                wake_.wait_until(lock, until, woken);
            }
            sleeping_ = false;
        }
        // Only events that may wait: give them `linger` to be joined by an urgent one.
        if (!queue_.empty() && urgentQueued_ == 0 && flushRequests_ == 0 && !stopping_ && queue_.front().soon &&
            SteadyClock::now() < queue_.front().queuedAt + options_.linger) {
            sleeping_ = true;
            wake_.wait_until(lock, queue_.front().queuedAt + options_.linger,
                             [this] { return stopping_ || urgentQueued_ > 0 || flushRequests_ > 0; });
            sleeping_ = false;
            continue;
        }
        if (!queue_.empty()) {
            if (queue_.front().purge()) {
                Pending request = std::move(queue_.front());
                queue_.pop_front();
                --urgentQueued_;
                if (request.purgeRest) --purgeRestQueued_;
                writing_ = true;
                writingPurgeRest_ = request.purgeRest.has_value();
                lock.unlock();
                if (request.purgeRest) {
                    continuePurge(request);
                } else {
                    runPurge(request);
                }
                lock.lock();
                // Between a purge's transactions, the index too keeps its pace (and a flush
                // does not wait for the whole purge).
                if (indexPending() && healthy_.load() &&
                    (flushRequests_ > 0 || SteadyClock::now() - pendingIndexSince_ >= options_.indexDelay)) {
                    lock.unlock();
                    writeIndex();
                    lock.lock();
                }
                writing_ = false;
                writingPurgeRest_ = false;
                if (drained()) idle_.notify_all();
                continue;
            }
            std::deque<Pending> batch;
            std::size_t bytes = 0;
            while (!queue_.empty() && batch.size() < options_.maxBatch && !queue_.front().purge()) {
                bytes += sizeOf(queue_.front().event);
                if (!queue_.front().soon) --urgentQueued_;
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
            writing_ = true;
            spinUntil_ = {};  // armed only by the commit about to be written, if anyone waits for it
            lock.unlock();
            const bool sign = std::any_of(batch.begin(), batch.end(), [](const Pending& p) { return p.sign; });
            const bool ok = writeBatch(batch, sign);
            queuedBytes_.fetch_sub(bytes, std::memory_order_relaxed);
            // A signed event is waited for by readers of the index (an evidence export reads
            // the sessions in scope from it): the index is written before they are told.
            if (ok && sign && indexPending()) writeIndex();
            bool waited = false;
            for (auto& p : batch) {
                if (p.done) {
                    p.done(ok);
                    waited = true;
                }
            }
            if (waited && ok && options_.spin.count() > 0) {
                const auto now = SteadyClock::now();
                if (now - lastWaitedCommit_ < 2 * options_.spin) spinUntil_ = now + options_.spin;
                lastWaitedCommit_ = now;
            }
            if (!ok) nextRetry = SteadyClock::now() + options_.retryInterval;
            if (ok && indexPending() &&
                (pendingEventSessions_.size() >= options_.indexBatch ||
                 SteadyClock::now() - pendingIndexSince_ >= options_.indexDelay)) {
                writeIndex();
            }
            lock.lock();
            if (ok && indexPending() && flushRequests_ > 0 && drained()) {
                lock.unlock();
                writeIndex();
                lock.lock();
            }
            writing_ = false;
            if (drained()) idle_.notify_all();
            continue;
        }
        const auto now = SteadyClock::now();
        std::deque<Pending> none;
        if (stopping_) {
            lock.unlock();
            if (indexPending()) writeIndex();
            if (head_.seq > head_.checkpointSeq) writeBatch(none, true);
            return;
        }
        const bool flushWanted = flushRequests_ > 0;
        writing_ = true;
        lock.unlock();
        if (indexPending() && healthy_.load() &&
            (flushWanted || now - pendingIndexSince_ >= options_.indexDelay)) {
            writeIndex();
        }
        if (!healthy_.load() && now >= nextRetry) {
            // Idle while unhealthy: try again with the "recording.resumed" event alone.
            if (!writeBatch(none, false)) nextRetry = now + options_.retryInterval;
        } else if (healthy_.load() && head_.seq > head_.checkpointSeq && now - lastCheckpoint_ >= options_.checkpointInterval) {
            // Idle with unsigned events: sign the head so the tail does not stay uncovered.
            writeBatch(none, true);
        }
        lock.lock();
        writing_ = false;
        idle_.notify_all();
    }
}

}  // namespace vigil::record

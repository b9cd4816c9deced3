#include "review/review_manager.h"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

#include "auth/identity.h"
#include "events/event_bus.h"
#include "observe/log.h"
#include "record/recorder.h"
#include "observe/thread_name.h"

namespace vigil::review {
namespace {

using json = nlohmann::json;

std::int64_t systemMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

record::ReviewRow rowOf(const Review& r, std::int64_t now) {
    return {r.id, std::string(stateName(r.state)), r.createdMicros, now, r.toJson(Review::Payload::Full).dump()};
}

// One caller across identity providers (as auth::callerKey).
std::string requesterKey(const Review& r) { return r.requester.issuer + '\n' + r.requester.subject; }

}  // namespace

std::string newReviewId() {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("the system random generator failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id = "rv_";
    for (const auto b : bytes) {
        id += kHex[b >> 4];
        id += kHex[b & 0xF];
    }
    return id;
}

ReviewManager::ReviewManager(Options options, std::shared_ptr<record::Recorder> recorder,
                             std::shared_ptr<events::EventBus> bus, Clock clock)
    : options_(options), recorder_(std::move(recorder)), bus_(std::move(bus)), clock_(std::move(clock)) {
    if (!clock_) clock_ = systemMicros;
}

ReviewManager::~ReviewManager() { stop(); }

void ReviewManager::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ReviewManager::start(const std::vector<record::ReviewRow>& stored, Lookup lookup) {
    lookup_ = std::move(lookup);
    std::size_t kept = 0, cancelled = 0;
    {
        std::lock_guard lock(mutex_);
        const auto t = now();
        for (const auto& row : stored) {
            std::optional<Review> r;
            try {
                r = Review::fromJson(json::parse(row.document));
            } catch (const json::exception&) {
            }
            if (!r) continue;
            Entry e{std::move(*r), std::make_shared<net::WakeSignal>()};
            if (e.review.pending() && (e.review.mode == Review::Mode::Hold || e.review.kind == Review::Kind::Output)) {
                // Its caller's connection ended with the previous run.
                e.review.state = Review::State::Cancelled;
                e.review.decidedMicros = t;
                e.review.endReason = "the gateway restarted while the caller waited";
                emitLocked(e.review, "review.cancelled", "review.cancelled");
                finished_.emplace(t, e.review.id);
                ++cancelled;
            } else if (e.review.pending()) {
                deadlines_.emplace(e.review.deadlineMicros, e.review.id);
                ++pending_;
                ++pendingByRequester_[requesterKey(e.review)];
                ++kept;
            } else if (e.review.grantOpen(t)) {
                finished_.emplace(e.review.decidedMicros, e.review.id);
                ++kept;
            } else {
                continue;  // approved long ago, grant used or lapsed: nothing left to do
            }
            reviews_.emplace(e.review.id, std::move(e));
        }
        stopping_ = false;
    }
    if (kept + cancelled > 0) {
        observe::LogLine(observe::LogLevel::Info, "reviews loaded")
            .num("open", static_cast<std::int64_t>(kept))
            .num("cancelled_hold", static_cast<std::int64_t>(cancelled));
    }
    thread_ = std::thread([this] {
        observe::nameThisThread("vigil-reviews");
        run();
    });
}

void ReviewManager::emitLocked(const Review& r, const std::string& recordedType, const std::string& pushedType,
                               std::function<void(bool)> done, const json& extra) {
    if (recorder_) {
        auto payload = r.toJson(Review::Payload::None);
        for (const auto& [k, v] : extra.items()) payload[k] = v;
        recorder_->record(r.sessionId, recordedType, payload.dump(), rowOf(r, now()), std::move(done));
    } else if (done) {
        done(true);
    }
    if (bus_) {
        auto data = r.toJson(Review::Payload::Preview);
        if (!extra.is_null()) data["change"] = extra;
        bus_->publish(pushedType, data.dump());
    }
}

std::optional<ReviewManager::Created> ReviewManager::create(Review draft, std::chrono::seconds timeout, Refusal* refusal) {
    std::lock_guard lock(mutex_);
    if (draft.mode == Review::Mode::Ticket && draft.kind == Review::Kind::Request) {
        for (const auto& [id, e] : reviews_) {
            const auto& r = e.review;
            if (r.pending() && r.mode == Review::Mode::Ticket && r.kind == Review::Kind::Request &&
                r.requester.subject == draft.requester.subject && r.requester.issuer == draft.requester.issuer &&
                r.connection == draft.connection && r.method == draft.method && r.target == draft.target &&
                r.bodySha256 == draft.bodySha256) {
                return Created{id, e.signal, r.deadlineMicros, true};
            }
        }
    }
    if (pending_ >= options_.maxPending) {
        if (refusal != nullptr) *refusal = Refusal::TooManyPending;
        return std::nullopt;
    }
    // One requester cannot take the room of everybody's reviews (nor fill the memory).
    const auto requester = requesterKey(draft);
    if (const auto it = pendingByRequester_.find(requester);
        it != pendingByRequester_.end() && it->second >= options_.maxPendingPerRequester) {
        if (refusal != nullptr) *refusal = Refusal::TooManyOfRequester;
        return std::nullopt;
    }
    const auto t = now();
    draft.id = newReviewId();
    draft.state = Review::State::Pending;
    draft.createdMicros = t;
    draft.timeoutSeconds = timeout.count();
    draft.deadlineMicros = t + std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
    Entry e{std::move(draft), std::make_shared<net::WakeSignal>()};
    emitLocked(e.review, "review.pending", "review.pending");
    Created created{e.review.id, e.signal, e.review.deadlineMicros, false};
    deadlines_.emplace(e.review.deadlineMicros, e.review.id);
    ++pending_;
    ++pendingByRequester_[requester];
    const bool earliest = deadlines_.begin()->second == e.review.id;
    reviews_.emplace(e.review.id, std::move(e));
    if (earliest) wake_.notify_one();
    return created;
}

std::pair<DetailsCode, std::string> ReviewManager::explain(Refusal refusal) const {
    if (refusal == Refusal::TooManyOfRequester) {
        return {DetailsCode::TooManyOwnPendingReviews,
                "you have " + std::to_string(options_.maxPendingPerRequester) +
                    " reviews pending already (the most one caller may have); wait until they are decided or expire"};
    }
    return {DetailsCode::TooManyPendingReviews, "too many reviews are pending; the gateway holds no more requests for now"};
}

std::optional<Review> ReviewManager::get(const std::string& id) const {
    {
        std::lock_guard lock(mutex_);
        const auto it = reviews_.find(id);
        if (it != reviews_.end()) return it->second.review;
    }
    if (!lookup_) return std::nullopt;
    const auto row = lookup_(id);
    if (!row) return std::nullopt;
    try {
        return Review::fromJson(json::parse(row->document));
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::vector<Review> ReviewManager::list(std::optional<Review::State> state, std::size_t limit) const {
    std::lock_guard lock(mutex_);
    // Sort references, copy only the page: the lock is the one requests take to open reviews.
    std::vector<const Review*> matching;
    for (const auto& [id, e] : reviews_) {
        if (!state || e.review.state == *state) matching.push_back(&e.review);
    }
    const auto newer = [](const Review* a, const Review* b) {
        return a->createdMicros != b->createdMicros ? a->createdMicros > b->createdMicros : a->id > b->id;
    };
    const auto page = std::min(limit, matching.size());
    std::partial_sort(matching.begin(), matching.begin() + static_cast<std::ptrdiff_t>(page), matching.end(), newer);
    std::vector<Review> out;
    out.reserve(page);
    for (std::size_t i = 0; i < page; ++i) out.push_back(*matching[i]);
    return out;
}

std::size_t ReviewManager::pendingCount() const {
    std::lock_guard lock(mutex_);
    return pending_;
}

void ReviewManager::finishLocked(Entry& e) {
    deadlines_.erase({e.review.deadlineMicros, e.review.id});
    --pending_;
    if (const auto it = pendingByRequester_.find(requesterKey(e.review)); it != pendingByRequester_.end() && --it->second == 0) {
        pendingByRequester_.erase(it);
    }
    finished_.emplace(e.review.decidedMicros, e.review.id);
    // Woken once the lock is released: a waker may read the review (get()).
    wakeLater_.push_back(e.signal);
    pruneLocked();
}

void ReviewManager::wakeWaiting() {
    std::vector<std::shared_ptr<net::WakeSignal>> signals;
    {
        std::lock_guard lock(mutex_);
        signals.swap(wakeLater_);
    }
    for (auto& s : signals) s->wake();
}

void ReviewManager::pruneLocked() {
    const auto t = now();
    while (finished_.size() > options_.keepFinished) {
        const auto it = finished_.begin();
        const auto found = reviews_.find(it->second);
        // An unused ticket grant stays until it lapses.
        if (found != reviews_.end() && found->second.review.grantOpen(t)) break;
        if (found != reviews_.end()) reviews_.erase(found);
        finished_.erase(it);
    }
    if (options_.retention.count() <= 0) return;
    // Past the retention: the same rule as the store's purge (the last change before the
    // cutoff, and an unused grant lapsed before it too), so the API shows nothing the store
    // no longer holds.
    const auto cutoff = t - std::chrono::duration_cast<std::chrono::microseconds>(options_.retention).count();
    for (auto it = finished_.begin(); it != finished_.end() && it->first < cutoff;) {
        const auto found = reviews_.find(it->second);
        if (found != reviews_.end()) {
            const auto& r = found->second.review;
            const bool unusedGrant = r.releasedMicros == 0 && r.grantUntilMicros >= cutoff;
            if (std::max(r.decidedMicros, r.releasedMicros) >= cutoff || unusedGrant) {
                ++it;
                continue;
            }
            reviews_.erase(found);
        }
        it = finished_.erase(it);
    }
}

void ReviewManager::cancel(const std::string& id, const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        const auto it = reviews_.find(id);
        if (it == reviews_.end() || !it->second.review.pending()) return;
        auto& r = it->second.review;
        r.state = Review::State::Cancelled;
        r.decidedMicros = now();
        r.endReason = reason;
        emitLocked(r, "review.cancelled", "review.cancelled");
        finishLocked(it->second);
    }
    wakeWaiting();
}

std::optional<Review> ReviewManager::releaseGrant(const std::string& subject, const std::string& issuer, const std::string& connection,
                                                  const std::string& method, const std::string& target,
                                                  const std::string& bodySha256, const std::string& requestId,
                                                  const std::string& sessionId) {
    std::lock_guard lock(mutex_);
    const auto t = now();
    for (auto& [id, e] : reviews_) {
        auto& r = e.review;
        // The very call approved: same caller, connection, method, path and query, and body.
        if (!r.grantOpen(t) || r.requester.subject != subject || r.requester.issuer != issuer || r.connection != connection ||
            r.method != method || r.target != target || r.bodySha256 != bodySha256) {
            continue;
        }
        r.releasedMicros = t;
        r.releasedRequestId = requestId;
        // Recorded in the review's own session, with where it was released.
        emitLocked(r, "review.released", "review.released", {}, json{{"released_request_id", requestId},
                                                                    {"released_session_id", sessionId}});
        return r;
    }
    return std::nullopt;
}

ReviewManager::Verdict ReviewManager::decide(const std::string& id, const auth::Identity& who, bool approve,
                                             const std::string& reason) {
    auto v = decideLocked(id, who, approve, reason);
    wakeWaiting();
    return v;
}

ReviewManager::Verdict ReviewManager::decideLocked(const std::string& id, const auth::Identity& who, bool approve,
                                                   const std::string& reason) {
    Verdict v;
    std::unique_lock lock(mutex_);
    const auto it = reviews_.find(id);
    if (it == reviews_.end()) {
        lock.unlock();
        if (const auto stored = get(id)) {
            v.error = DetailsCode::ReviewAlreadyDecided;
            v.message = "review " + id + " is already " + std::string(stateName(stored->state));
            v.review = stored;
        } else {
            v.error = DetailsCode::NotFound;
            v.message = "no review " + id;
        }
        return v;
    }
    auto& e = it->second;
    auto& r = e.review;
    if (!r.pending()) {
        v.error = DetailsCode::ReviewAlreadyDecided;
        v.message = "review " + id + " is already " + std::string(stateName(r.state));
        v.review = r;
        return v;
    }
    // Segregation of duties: never one's own request, whatever one's roles.
    if (who.subject == r.requester.subject) {
        v.error = DetailsCode::SelfApprovalForbidden;
        v.message = "'" + who.subject + "' made the request under review " + id + " and may not decide it";
        return v;
    }
    if (!who.hasAnyRole(r.approverRoles)) {
        std::string roles, wanted;
        for (const auto& x : who.roles) roles += (roles.empty() ? "" : ", ") + x;
        for (const auto& x : r.approverRoles) wanted += (wanted.empty() ? "" : ", ") + x;
        v.error = DetailsCode::NotAnApprover;
        v.message = "'" + who.subject + "' (roles: " + (roles.empty() ? std::string("none") : roles) +
                    ") may not decide review " + id + " (approver roles: " + wanted + ")";
        return v;
    }
    if (!approve && reason.find_first_not_of(" \t\r\n") == std::string::npos) {
        v.error = DetailsCode::InvalidRequest;
        v.message = "a denial needs a reason (not only spaces): the requester is told it";
        return v;
    }
    for (const auto& a : r.approvals) {
        if (a.subject == who.subject) {
            std::string missing;
            for (const auto& m : r.missingApprovals()) missing += (missing.empty() ? "" : "; ") + m;
            v.error = DetailsCode::ReviewAlreadyDecided;
            v.message = "'" + who.subject + "' already approved review " + id + "; it still needs approvals from other approvers: " +
                        missing;
            v.review = r;
            return v;
        }
    }
    const auto t = now();
    Review::Verdict verdict{who.subject, who.issuer, t, reason, who.roles};
    net::FinishGate gate;
    gate.signal = std::make_shared<net::WakeSignal>();
    gate.ok = std::make_shared<std::atomic<bool>>(false);
    auto done = [gate](bool durable) {
        gate.ok->store(durable);
        gate.signal->wake();
    };
    const json change = {{"by", who.subject}, {"verdict", approve ? "approve" : "deny"}, {"reason", reason}};
    if (!approve) {
        r.denial = verdict;
        r.state = Review::State::Denied;
        r.decidedMicros = t;
        emitLocked(r, "review.denied", "review.decided", done, change);
        v.review = r;  // before finishLocked: pruning may erase the entry
        finishLocked(e);
    } else {
        r.approvals.push_back(verdict);
        // Approved once every deciding rule has its approvals from its approver roles.
        if (r.missingApprovals().empty()) {
            r.state = Review::State::Approved;
            r.decidedMicros = t;
            if (r.mode == Review::Mode::Ticket && r.kind == Review::Kind::Request) {
                r.grantUntilMicros = t + std::chrono::duration_cast<std::chrono::microseconds>(options_.grantWindow).count();
            }
            emitLocked(r, "review.approved", "review.decided", done, change);
            v.review = r;
            finishLocked(e);
        } else {
            emitLocked(r, "review.approval", "review.updated", done, change);
            v.review = r;
        }
    }
    v.durable = gate;
    return v;
}

void ReviewManager::expireDue() {
    expireDueLocked();
    wakeWaiting();
}

void ReviewManager::expireDueLocked() {
    std::lock_guard lock(mutex_);
    const auto t = now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= t) {
        const auto id = deadlines_.begin()->second;
        const auto it = reviews_.find(id);
        if (it == reviews_.end()) {
            deadlines_.erase(deadlines_.begin());
            continue;
        }
        auto& r = it->second.review;
        r.state = Review::State::Expired;
        r.decidedMicros = t;
        r.endReason = "no decision within " + std::to_string(r.timeoutSeconds) + " s";
        emitLocked(r, "review.expired", "review.expired");
        finishLocked(it->second);
    }
    pruneLocked();  // the retention, at least once a minute (run())
}

void ReviewManager::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (deadlines_.empty()) {
            wake_.wait_for(lock, std::chrono::seconds(60));
        } else {
            const auto wait = std::chrono::microseconds(std::max<std::int64_t>(deadlines_.begin()->first - now(), 0));
            if (wait.count() > 0) wake_.wait_for(lock, std::min<std::chrono::microseconds>(wait, std::chrono::seconds(60)));
        }
        if (stopping_) break;
        lock.unlock();
        expireDue();
        lock.lock();
    }
}

}  // namespace vigil::review

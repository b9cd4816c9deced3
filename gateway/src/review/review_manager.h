#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "net/http_types.h"
#include "record/event_store.h"
#include "review/review.h"
#include "vigil/details_code.h"

namespace vigil::auth {
struct Identity;
}
namespace vigil::record {
class Recorder;
}
namespace vigil::events {
class EventBus;
}

namespace vigil::review {

// Every review of the gateway (docs/reviews.md): creates them, applies the approvers'
// verdicts with segregation of duties, expires them at their deadline, and wakes the
// request (or answer) that waits for one. Each change is recorded in the review's session
// (with the review's new state in the same transaction) and pushed on the event bus.
// Thread-safe.
class ReviewManager {
public:
    struct Options {
        std::chrono::seconds grantWindow{900};  // ticket mode: how long an approval may be used
        std::size_t maxPending = 10'000;        // beyond: 503 too_many_pending_reviews
        std::size_t maxPendingPerRequester = 100;  // one caller's; beyond: 429 too_many_own_pending_reviews
        std::size_t keepFinished = 10'000;      // decided reviews kept in memory for the API
        // The recording's retention (0: forever): a review finished longer ago than this is
        // forgotten here too, as the store's purge deletes it (record::EventStore).
        std::chrono::hours retention{0};
    };
    using Clock = std::function<std::int64_t()>;  // Unix microseconds
    // A review that is no longer in memory, read from the store (may be empty).
    using Lookup = std::function<std::optional<record::ReviewRow>(const std::string& id)>;

    ReviewManager(Options options, std::shared_ptr<record::Recorder> recorder, std::shared_ptr<events::EventBus> bus,
                  Clock clock = {});
    ~ReviewManager();
    ReviewManager(const ReviewManager&) = delete;
    ReviewManager& operator=(const ReviewManager&) = delete;

    // Before serving: the reviews the store holds open. Pending ticket reviews and unused
    // grants are kept; pending hold-mode and output reviews lost their caller with the
    // previous run and are cancelled (recorded). Starts the expiry thread.
    void start(const std::vector<record::ReviewRow>& stored, Lookup lookup = {});
    void stop();

    struct Created {
        std::string id;
        std::shared_ptr<net::WakeSignal> signal;  // woken once the review is no longer pending
        std::int64_t deadlineMicros = 0;
        bool reused = false;  // ticket mode: the same request already had a pending review
    };
    // `draft` carries everything but the id, state and times. Ticket-mode requests reuse a
    // pending review of the same caller, connection and body. Null when too many are pending,
    // in all or of this requester (`refusal` says which).
    enum class Refusal { TooManyPending, TooManyOfRequester };
    std::optional<Created> create(Review draft, std::chrono::seconds timeout, Refusal* refusal = nullptr);
    // The caller's answer to a refusal: its details code and message.
    std::pair<DetailsCode, std::string> explain(Refusal refusal) const;

    std::optional<Review> get(const std::string& id) const;
    // Newest first; pending ones and decided ones still in memory.
    std::vector<Review> list(std::optional<Review::State> state, std::size_t limit) const;
    std::size_t pendingCount() const;

    // Hold mode: the caller disconnected (or the gateway gave up on it).
    void cancel(const std::string& id, const std::string& reason);
    // Ticket mode: an approved, unused grant for the same caller, connection and body is
    // released to `requestId` (exactly once); the released review.
    std::optional<Review> releaseGrant(const std::string& subject, const std::string& issuer, const std::string& connection,
                                       const std::string& method, const std::string& target,
                                       const std::string& bodySha256, const std::string& requestId,
                                       const std::string& sessionId);

    struct Verdict {
        std::optional<DetailsCode> error;  // why the verdict was refused
        std::string message;
        std::optional<Review> review;              // the review after the verdict
        std::optional<net::FinishGate> durable;    // opens when the verdict is recorded
    };
    // An approver approves or denies (a denial needs a reason). Refused: not_found,
    // review_already_decided, self_approval_forbidden, not_an_approver, invalid_request.
    Verdict decide(const std::string& id, const auth::Identity& who, bool approve, const std::string& reason);

    // Expires what is due now, and forgets the finished reviews past the retention (the
    // expiry thread does this by itself, at least once a minute).
    void expireDue();

private:
    struct Entry {
        Review review;
        std::shared_ptr<net::WakeSignal> signal;
    };
    std::int64_t now() const { return clock_(); }
    // Records the change in the review's session (with its new state) and pushes it.
    void emitLocked(const Review& r, const std::string& recordedType, const std::string& pushedType,
                    std::function<void(bool)> done = {}, const nlohmann::json& extra = {});
    void finishLocked(Entry& e);
    void wakeWaiting();
    void expireDueLocked();
    Verdict decideLocked(const std::string& id, const auth::Identity& who, bool approve, const std::string& reason);
    void pruneLocked();
    void run();

    Options options_;
    std::shared_ptr<record::Recorder> recorder_;
    std::shared_ptr<events::EventBus> bus_;
    Clock clock_;
    Lookup lookup_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::map<std::string, Entry> reviews_;
    std::set<std::pair<std::int64_t, std::string>> deadlines_;  // pending reviews by deadline
    std::set<std::pair<std::int64_t, std::string>> finished_;   // decided ones by decision time
    std::size_t pending_ = 0;
    std::map<std::string, std::size_t> pendingByRequester_;  // by requesterKey()
    std::vector<std::shared_ptr<net::WakeSignal>> wakeLater_;
    bool stopping_ = false;
    std::thread thread_;
};

// A new review id: "rv_" and 32 hex digits from a CSPRNG.
std::string newReviewId();

}  // namespace vigil::review

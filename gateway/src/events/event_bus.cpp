#include "events/event_bus.h"

#include <algorithm>
#include <chrono>

#include "review/review.h"
#include "vigil/json_text.h"

namespace vigil::events {
namespace {

std::int64_t nowMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

EventBus::EventBus(std::size_t capacity, std::int64_t firstSeq)
    : capacity_(std::max<std::size_t>(capacity, 1)),
      seq_(firstSeq > 0 ? firstSeq - 1 : nowMicros()),
      self_(std::make_shared<EventBus*>(this)) {}

EventBus::~EventBus() {
    std::lock_guard lock(mutex_);
    for (auto* s : subscribers_) s->owner_ = nullptr;
    subscribers_.clear();
}

std::int64_t EventBus::publish(std::string_view type, std::string_view dataJson, std::string_view session) {
    std::lock_guard lock(mutex_);
    Stored event;
    event.seq = ++seq_;
    event.session = std::string(session);
    event.summary = session.empty() && (type == "session.started" || type == "session.ended");
    event.message.reserve(dataJson.size() + type.size() + 80);
    event.message += R"({"seq":)";
    event.message += std::to_string(event.seq);
    event.message += R"(,"type":)";
    appendJsonString(event.message, type);
    event.message += R"(,"time":")";
    event.message += review::formatTime(nowMicros());
    event.message += R"(","data":)";
    event.message += dataJson.empty() ? std::string_view("{}") : dataJson;
    event.message += '}';
    deliverLocked(event);
    const auto seq = event.seq;
    ring_.push_back(std::move(event));
    if (ring_.size() > capacity_) ring_.pop_front();
    return seq;
}

void EventBus::deliverLocked(const Stored& event) {
    for (std::size_t i = 0; i < subscribers_.size();) {
        auto* s = subscribers_[i];
        const bool wanted = event.session.empty() ? (s->summaries_ || !event.summary) : s->sessions_.contains(event.session);
        if (wanted && !s->sink_(event.message)) {
            // Too slow: dropped; its owner closes the connection.
            s->dropped_ = true;
            s->owner_ = nullptr;
            watchers_.fetch_sub(static_cast<int>(s->sessions_.size()));
            s->sessions_.clear();
            subscribers_.erase(subscribers_.begin() + static_cast<std::ptrdiff_t>(i));
            continue;
        }
        ++i;
    }
}

std::shared_ptr<EventBus::Subscription> EventBus::subscribe(std::optional<std::int64_t> after, Sink sink,
                                                             std::size_t maxReplayBytes, bool summaries) {
    auto s = std::make_shared<Subscription>();
    s->bus_ = self_;
    s->sink_ = std::move(sink);
    s->summaries_ = summaries;
    const auto replayed = [summaries](const Stored& e) { return e.session.empty() && (summaries || !e.summary); };
    std::lock_guard lock(mutex_);
    s->owner_ = this;
    if (after) {
        const std::int64_t oldest = ring_.empty() ? seq_ + 1 : ring_.front().seq;
        std::size_t replayBytes = 0;
        for (const auto& e : ring_) {
            if (e.seq > *after && replayed(e)) replayBytes += e.message.size();
        }
        const bool lost = *after + 1 < oldest || *after > seq_;
        if (lost || replayBytes > maxReplayBytes) {
            // Events the client missed are no longer kept (or it saw a stream this gateway
            // never produced), or are too many to replay at once: it must reload the state
            // (GET /api/reviews?state=pending). It then gets what is kept, unless that is too
            // much, and live events.
            std::string gap = R"({"seq":null,"type":"stream.gap","data":{"after":)" + std::to_string(*after) +
                              R"(,"oldest_available":)" + std::to_string(oldest) + R"(,"last":)" + std::to_string(seq_) +
                              (lost ? R"(,"message":"events after the given sequence number are no longer available; reload the current state"}})"
                                    : R"(,"message":"more events were missed than are replayed at once; reload the current state"}})");
            if (!s->sink_(gap)) {
                s->dropped_ = true;
                s->owner_ = nullptr;
                return s;
            }
            if (replayBytes > maxReplayBytes) {  // a replay would overflow the subscriber's queue
                subscribers_.push_back(s.get());
                return s;
            }
        }
        for (const auto& e : ring_) {
            if (e.seq <= *after || !replayed(e)) continue;
            if (!s->sink_(e.message)) {
                s->dropped_ = true;
                s->owner_ = nullptr;
                return s;
            }
        }
    }
    subscribers_.push_back(s.get());
    return s;
}

void EventBus::remove(Subscription* s) {
    std::lock_guard lock(mutex_);
    const auto it = std::find(subscribers_.begin(), subscribers_.end(), s);
    if (it != subscribers_.end()) subscribers_.erase(it);
    watchers_.fetch_sub(static_cast<int>(s->sessions_.size()));
    s->sessions_.clear();
    s->owner_ = nullptr;
}

bool EventBus::watched(std::string_view sessionId) const {
    if (watchers_.load(std::memory_order_relaxed) == 0) return false;
    std::lock_guard lock(mutex_);
    for (const auto* s : subscribers_) {
        if (s->sessions_.find(sessionId) != s->sessions_.end()) return true;
    }
    return false;
}

std::int64_t EventBus::lastSeq() const {
    std::lock_guard lock(mutex_);
    return seq_;
}

std::size_t EventBus::subscribers() const {
    std::lock_guard lock(mutex_);
    return subscribers_.size();
}

EventBus::Subscription::~Subscription() {
    if (auto bus = bus_.lock()) (*bus)->remove(this);
}

void EventBus::Subscription::watchSession(const std::string& sessionId) {
    auto bus = bus_.lock();
    if (!bus) return;
    std::lock_guard lock((*bus)->mutex_);
    if (owner_ == nullptr) return;
    if (sessions_.insert(sessionId).second) (*bus)->watchers_.fetch_add(1);
}

void EventBus::Subscription::unwatchSession(const std::string& sessionId) {
    auto bus = bus_.lock();
    if (!bus) return;
    std::lock_guard lock((*bus)->mutex_);
    if (sessions_.erase(sessionId) > 0) (*bus)->watchers_.fetch_sub(1);
}

}  // namespace vigil::events

#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::events {

// The live event stream behind WebSocket /api/events (docs/reviews.md). Every event gets
// the next sequence number and is kept in a bounded ring, so that a client that reconnects
// with the last number it saw gets what it missed, in order, then live events.
//
// Sequence numbers start at the gateway's start time in Unix microseconds and grow by one
// per event: they keep growing across restarts, and a number older than the ring (or from
// before a restart) is answered with a "stream.gap" message, never silently.
class EventBus {
public:
    // Delivers one message to a subscriber; false when the subscriber cannot take more
    // (it is then dropped from the bus). Called with the bus lock held: must not block
    // and must not call back into the bus.
    using Sink = std::function<bool(const std::string& message)>;

    class Subscription {
    public:
        ~Subscription();
        // session.event messages of this session (every recorded event, live).
        void watchSession(const std::string& sessionId);
        void unwatchSession(const std::string& sessionId);

    private:
        friend class EventBus;
        std::weak_ptr<EventBus*> bus_;
        EventBus* owner_ = nullptr;
        Sink sink_;
        std::set<std::string, std::less<>> sessions_;  // guarded by the bus mutex
        bool summaries_ = true;  // session.started / session.ended
        bool dropped_ = false;
    };

    explicit EventBus(std::size_t capacity = 10'000, std::int64_t firstSeq = 0);
    ~EventBus();

    // {"seq":N,"type":TYPE,"time":RFC3339,"data":DATA}. `session`: only subscribers watching
    // that session get it (session.event). Returns the sequence number.
    std::int64_t publish(std::string_view type, std::string_view dataJson, std::string_view session = {});

    // Replays the kept events after `after` (when given) and then delivers live ones; the
    // replay and the switch to live happen under one lock, so nothing is lost or repeated.
    // When the events after `after` are no longer all kept, the subscriber gets a
    // stream.gap message first (it reloads the current state); when they would be more than
    // `maxReplayBytes`, it gets the stream.gap and no replay, then live events. Without
    // `summaries`, the session.started / session.ended summaries of every request are left
    // out, replayed and live (a reviews-only client on a busy gateway).
    std::shared_ptr<Subscription> subscribe(std::optional<std::int64_t> after, Sink sink,
                                            std::size_t maxReplayBytes = static_cast<std::size_t>(-1),
                                            bool summaries = true);

    // Cheap check for the recorder's tap: is anyone watching this session?
    bool watched(std::string_view sessionId) const;
    std::int64_t lastSeq() const;
    std::size_t subscribers() const;

private:
    struct Stored {
        std::int64_t seq;
        std::string session;  // empty: for everyone
        std::string message;
        bool summary = false;  // session.started / session.ended
    };
    void deliverLocked(const Stored& event);
    void remove(Subscription* s);

    std::size_t capacity_;
    mutable std::mutex mutex_;
    std::int64_t seq_;
    std::deque<Stored> ring_;
    std::vector<Subscription*> subscribers_;
    std::atomic<int> watchers_{0};  // sessions watched, over all subscribers
    std::shared_ptr<EventBus*> self_;  // subscriptions hold a weak reference
};

}  // namespace vigil::events

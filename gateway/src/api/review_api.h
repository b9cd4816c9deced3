#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_types.h"

namespace vigil::auth {
struct Identity;
}
namespace vigil::review {
class ReviewManager;
}
namespace vigil::events {
class EventBus;
}

namespace vigil::api {

// The reviews' REST API (docs/reviews.md):
//   GET  /api/reviews?state=pending&limit=N   newest first
//   GET  /api/reviews/{id}
//   POST /api/reviews/{id}/approve            {"reason": "..."} (optional)
//   POST /api/reviews/{id}/deny               {"reason": "..."} (required)
// Callers are authenticated before this runs; who may read is checked before too, who may
// decide is checked here (the review's approver roles, never one's own request).
class ReviewApi {
public:
    explicit ReviewApi(std::shared_ptr<review::ReviewManager> manager);

    struct Answer {
        net::LocalResponse response;
        std::optional<net::FinishGate> durable;  // the answer waits until the verdict is recorded
    };
    Answer handle(const net::RequestView& request, std::string_view requestId, const auth::Identity& who);

private:
    std::shared_ptr<review::ReviewManager> manager_;
};

// WebSocket /api/events: pushes the bus's events to one client (docs/reviews.md).
// `after`: the last sequence number the client saw (replay from there), if any;
// `mayWatchSessions`: auditors and admins may subscribe to one session's events;
// `maxReplayBytes`: a larger replay is replaced by stream.gap (see EventBus::subscribe);
// `summaries`: false leaves out every request's session.started / session.ended;
// `stillAllowed`: the caller's credential and roles checked again (empty when they still
// hold, else why not, a details code's name), before anything is sent, and before a client
// message is read, once a second has passed since the last check: a revoked or expired key, an
// expired token or a role taken away closes the socket (1008) instead of sending.
// `slot`: the socket's place in its identity's quota (EventSocketQuota), given back when the
// socket ends.
using StillAllowed = std::function<std::optional<std::string>()>;
std::shared_ptr<net::WebSocketHandler> makeEventsSocket(std::shared_ptr<events::EventBus> bus,
                                                        std::optional<std::int64_t> after, std::string subject,
                                                        bool mayWatchSessions, std::size_t maxReplayBytes,
                                                        bool summaries, StillAllowed stillAllowed,
                                                        std::shared_ptr<void> slot);

// How many /api/events sockets each identity has open. Every socket costs a queue of up to
// reviews.max_queued_bytes and a copy of every event; one approver's key must not open
// thousands (reviews.max_event_sockets_per_identity).
class EventSocketQuota : public std::enable_shared_from_this<EventSocketQuota> {
public:
    explicit EventSocketQuota(std::size_t perIdentity) : perIdentity_(perIdentity) {}
    // A slot, released when the last copy goes; empty when `identity` has its quota open.
    std::shared_ptr<void> take(const std::string& identity);
    std::size_t perIdentity() const { return perIdentity_; }

private:
    void release(const std::string& identity);

    const std::size_t perIdentity_;
    std::mutex mutex_;
    std::map<std::string, std::size_t> open_;
};

}  // namespace vigil::api

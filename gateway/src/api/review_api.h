#pragma once

#include <functional>
#include <memory>
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
using StillAllowed = std::function<std::optional<std::string>()>;
std::shared_ptr<net::WebSocketHandler> makeEventsSocket(std::shared_ptr<events::EventBus> bus,
                                                        std::optional<std::int64_t> after, std::string subject,
                                                        bool mayWatchSessions, std::size_t maxReplayBytes,
                                                        bool summaries, StillAllowed stillAllowed);

}  // namespace vigil::api

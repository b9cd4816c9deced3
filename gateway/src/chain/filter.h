#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/identity.h"
#include "net/http_types.h"
#include "vigil/details_code.h"

namespace vigil::inspect {
struct RequestFacts;
}
namespace vigil::policy {
struct Decision;
}

namespace vigil::chain {

class SessionRecording;

struct LocalReply {
    DetailsCode code;
    std::string message;
    std::vector<ErrorField> fields = {};  // more members of the error object ("rule")
    net::Headers headers = {};            // e.g. Retry-After
};

// What the request stages learn about one request as it passes through them.
struct RequestContext {
    const net::RequestView* request = nullptr;  // valid while the server holds the request
    std::string requestId;
    std::string sessionId;  // the X-Vigil-Session header, or ownSessionId
    // A session of this request alone, never chosen by the client: the request id when the
    // gateway made it, a fresh id when the client chose X-Request-Id (a client must not
    // pick a session, another caller's or the gateway's, through its request id).
    std::string ownSessionId;
    bool sessionNamed = false;  // X-Vigil-Session was given (its owner is checked)
    std::chrono::steady_clock::time_point received;  // when the request was read
    bool api = false;  // a request to the gateway's own API (/api/...), not to a connection
    std::shared_ptr<const auth::Identity> identity;  // set by the authenticate stage
    std::optional<std::size_t> connection;            // set by the route stage
    std::string upstreamTarget;                       // path and query for the upstream
    std::shared_ptr<const inspect::RequestFacts> facts;  // set by the inspect stage
    std::string apiPath;  // "/v1/chat/completions": the upstream path without prefix or query
    std::shared_ptr<const policy::Decision> decision;  // set by the decide stage
    std::optional<std::string> maskedBody;  // the body with the prompt masked (the profile says so)
    std::optional<LocalReply> localReply;             // set by a stage that answers itself
    // Set by a stage that parks the request: whoever finishes the awaited work calls
    // wake() on it, and the stage runs again.
    std::shared_ptr<net::WakeSignal> parkedOn;
    // A request held for review: its recording begins when it is held, its review id, and
    // whether a heartbeat already sent the client the head of an event stream.
    std::shared_ptr<SessionRecording> recording;
    std::string reviewId;
    bool streamStarted = false;
    std::string releasedReview;  // ticket mode: the approved review this request used
};

enum class FilterStatus {
    Continue,    // next stage
    LocalReply,  // the stage answered (context.localReply); the chain stops here
    Park,        // the stage waits for something (context.parkedOn); it runs again after
};

// One request stage. Instances are built once from the configuration, are immutable and
// shared by every request; per-request state lives in the RequestContext.
class RequestFilter {
public:
    virtual ~RequestFilter() = default;
    virtual std::string_view name() const = 0;
    virtual FilterStatus onRequest(RequestContext& context) const = 0;
};

class FilterChain {
public:
    void add(std::unique_ptr<RequestFilter> filter) { filters_.push_back(std::move(filter)); }

    // Runs the stages from `next` on; on Park, `next` is the stage to run again.
    FilterStatus run(RequestContext& context, std::size_t& next) const {
        for (; next < filters_.size(); ++next) {
            const auto status = filters_[next]->onRequest(context);
            if (status != FilterStatus::Continue) return status;
        }
        return FilterStatus::Continue;
    }

private:
    std::vector<std::unique_ptr<RequestFilter>> filters_;
};

}  // namespace vigil::chain

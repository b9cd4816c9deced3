#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_types.h"
#include "vigil/details_code.h"

namespace vigil::chain {

struct LocalReply {
    DetailsCode code;
    std::string message;
};

// What the request stages learn about one request as it passes through them.
struct RequestContext {
    const net::RequestView& request;
    std::string_view requestId;
    std::optional<std::size_t> connection;  // set by the route stage
    std::string upstreamTarget;             // path and query for the upstream
    std::optional<LocalReply> localReply;   // set by a stage that answers itself
};

enum class FilterStatus {
    Continue,    // next stage
    LocalReply,  // the stage answered (context.localReply); the chain stops here
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

    FilterStatus run(RequestContext& context) const {
        for (const auto& filter : filters_) {
            if (filter->onRequest(context) != FilterStatus::Continue) return FilterStatus::LocalReply;
        }
        return FilterStatus::Continue;
    }

private:
    std::vector<std::unique_ptr<RequestFilter>> filters_;
};

}  // namespace vigil::chain

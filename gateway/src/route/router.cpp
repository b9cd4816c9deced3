#include "route/router.h"

#include <algorithm>

namespace vigil::route {
namespace {

// A dot segment lets a path climb out of /v1/ on upstreams that normalise it.
bool hasDotSegment(std::string_view path) {
    std::size_t start = 0;
    while (start <= path.size()) {
        const auto end = path.find('/', start);
        const auto segment = path.substr(start, end == std::string_view::npos ? end : end - start);
        if (segment == "." || segment == ".." || segment == "%2e" || segment == "%2E" ||
            segment == "%2e%2e" || segment == "%2E%2E" || segment == ".%2e" || segment == "%2e.") {
            return true;
        }
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return false;
}

bool isV1(std::string_view rest) { return rest == "/v1" || rest.starts_with("/v1/"); }

}  // namespace

Router::Router(const config::GatewayConfig& config) : defaultConnection_(config.defaultConnection) {
    for (const auto& c : config.connections) connections_.push_back({c.name, c.baseUrl.pathPrefix});
}

RouteResult Router::route(std::string_view target) const {
    RouteResult result;
    if (!target.starts_with('/')) {
        result.kind = RouteResult::Kind::BadPath;
        return result;
    }
    const auto queryStart = target.find('?');
    const std::string_view path = target.substr(0, queryStart);
    if (hasDotSegment(path)) {
        result.kind = RouteResult::Kind::BadPath;
        return result;
    }
    std::string_view forwarded;
    std::size_t index = defaultConnection_;
    if (isV1(path)) {
        forwarded = target;
    } else {
        const auto secondSlash = path.find('/', 1);
        if (secondSlash == std::string_view::npos) return result;  // NotRouted
        const auto name = path.substr(1, secondSlash - 1);
        if (!isV1(path.substr(secondSlash))) return result;
        result.name = name;
        const auto it = std::find_if(connections_.begin(), connections_.end(),
                                     [&](const Entry& e) { return e.name == name; });
        if (it == connections_.end()) {
            result.kind = RouteResult::Kind::UnknownConnection;
            return result;
        }
        index = static_cast<std::size_t>(it - connections_.begin());
        forwarded = target.substr(secondSlash);
    }
    result.kind = RouteResult::Kind::Matched;
    result.connection = index;
    result.upstreamTarget.reserve(connections_[index].pathPrefix.size() + forwarded.size());
    result.upstreamTarget = connections_[index].pathPrefix;
    result.upstreamTarget += forwarded;
    return result;
}

chain::FilterStatus RouteFilter::onRequest(chain::RequestContext& context) const {
    auto result = router_.route(context.request->target);
    switch (result.kind) {
        case RouteResult::Kind::Matched:
            context.connection = result.connection;
            context.upstreamTarget = std::move(result.upstreamTarget);
            return chain::FilterStatus::Continue;
        case RouteResult::Kind::UnknownConnection:
            context.localReply = chain::LocalReply{
                DetailsCode::UnknownConnection,
                "no connection named '" + std::string(result.name) + "' is configured"};
            return chain::FilterStatus::LocalReply;
        case RouteResult::Kind::BadPath:
            context.localReply = chain::LocalReply{
                DetailsCode::MalformedRequest, "the request path must be absolute and free of '.' and '..' segments"};
            return chain::FilterStatus::LocalReply;
        case RouteResult::Kind::NotRouted:
            break;
    }
    context.localReply = chain::LocalReply{
        DetailsCode::NotFound,
        "no route for '" + std::string(context.request->path()) +
            "': use /v1/... for the default connection or /<connection>/v1/..."};
    return chain::FilterStatus::LocalReply;
}

}  // namespace vigil::route

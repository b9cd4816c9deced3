#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chain/filter.h"
#include "config/gateway_config.h"

namespace vigil::route {

struct RouteResult {
    enum class Kind { Matched, UnknownConnection, NotRouted, BadPath };
    Kind kind = Kind::NotRouted;
    std::size_t connection = 0;
    std::string upstreamTarget;  // base URL path prefix + /v1/... + query
    std::string name;            // the connection named in the path, when there is one
    std::string problem;         // why the path is refused (BadPath)
};

// The path (no query) in the form the policy sees and the upstream receives: percent-encoded
// unreserved characters decoded (RFC 3986 6.2.2.2), other encodings in upper case, runs of
// slashes merged. None, with `why`, for a malformed encoding or a dot segment.
std::optional<std::string> canonicalPath(std::string_view path, std::string& why);

// Maps a request target to a connection: /v1/... goes to the default connection,
// /<connection>/v1/... to the named one. Everything else is not forwarded.
class Router {
public:
    explicit Router(const config::GatewayConfig& config);
    RouteResult route(std::string_view target) const;

private:
    struct Entry {
        std::string name;
        std::string pathPrefix;
    };
    std::vector<Entry> connections_;
    std::size_t defaultConnection_;
};

class RouteFilter final : public chain::RequestFilter {
public:
    explicit RouteFilter(const config::GatewayConfig& config) : router_(config) {}
    std::string_view name() const override { return "route"; }
    chain::FilterStatus onRequest(chain::RequestContext& context) const override;

private:
    Router router_;
};

}  // namespace vigil::route

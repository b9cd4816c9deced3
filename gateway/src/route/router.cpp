#include "route/router.h"

#include <algorithm>

#include "vigil/percent_encoding.h"

namespace vigil::route {
namespace {


// A segment that is, or once fully decoded holds, "." or ".." lets a path climb out of
// /v1/ on upstreams that normalise it ("%2e%2E", "..%2f", "..%5c" on one that decodes).
bool climbs(std::string_view segment) {
    if (segment.find('%') == std::string_view::npos) return segment == "." || segment == "..";
    std::string decoded;
    for (std::size_t i = 0; i < segment.size(); ++i) {
        if (segment[i] == '%' && i + 2 < segment.size() && hexDigitValue(segment[i + 1]) >= 0 && hexDigitValue(segment[i + 2]) >= 0) {
            decoded += static_cast<char>(hexDigitValue(segment[i + 1]) * 16 + hexDigitValue(segment[i + 2]));
            i += 2;
        } else {
            decoded += segment[i];
        }
    }
    std::size_t start = 0;
    for (;;) {
        const auto end = decoded.find_first_of("/\\", start);
        const auto piece = std::string_view(decoded).substr(start, end == std::string::npos ? end : end - start);
        if (piece == "." || piece == "..") return true;
        if (end == std::string::npos) return false;
        start = end + 1;
    }
}

}  // namespace

std::optional<std::string> canonicalPath(std::string_view path, std::string& why) {
    // RFC 3986 6.2.2: percent-encoded unreserved characters decoded, the others' hex digits
    // in upper case; runs of slashes merged (as nginx does by default). The result is what
    // the policy sees and what the upstream receives, so no spelling reaches the upstream as
    // an API path the policy did not see ("/v1/chat/%63ompletions", "/v1//chat/completions").
    std::string out;
    out.reserve(path.size());
    for (std::size_t i = 0; i < path.size(); ++i) {
        const char c = path[i];
        if (c == '%') {
            if (i + 2 >= path.size() || hexDigitValue(path[i + 1]) < 0 || hexDigitValue(path[i + 2]) < 0) {
                why = "the request path has a '%' that is not followed by two hex digits";
                return std::nullopt;
            }
            const auto octet = static_cast<unsigned char>(hexDigitValue(path[i + 1]) * 16 + hexDigitValue(path[i + 2]));
            if (octet == '/' || octet == '\\') {
                // Some upstreams decode it to a separator (WSGI and ASGI servers: PATH_INFO),
                // others not: "/v1/chat%2Fcompletions" would be another API to the policy and
                // chat completions to the model.
                why = "the request path must not hold an encoded '/' or '\\' (%2F, %5C): upstreams read it as a separator or not";
                return std::nullopt;
            }
            if (isUnreservedByte(octet)) {
                out += static_cast<char>(octet);
            } else {
                appendPercentEncoded(out, std::string_view(reinterpret_cast<const char*>(&octet), 1));
            }
            i += 2;
        } else if (c == '/' && !out.empty() && out.back() == '/') {
            continue;
        } else {
            out += c;
        }
    }
    std::size_t start = 0;
    for (;;) {
        const auto end = out.find('/', start);
        if (climbs(std::string_view(out).substr(start, end == std::string::npos ? end : end - start))) {
            why = "the request path must be free of '.' and '..' segments (also percent-encoded)";
            return std::nullopt;
        }
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return out;
}

namespace {

bool isV1(std::string_view rest) { return rest == "/v1" || rest.starts_with("/v1/"); }

}  // namespace

Router::Router(const config::GatewayConfig& config) : defaultConnection_(config.defaultConnection) {
    for (const auto& c : config.connections) connections_.push_back({c.name, c.baseUrl.pathPrefix});
}

RouteResult Router::route(std::string_view target) const {
    RouteResult result;
    if (!target.starts_with('/')) {
        result.kind = RouteResult::Kind::BadPath;
        result.problem = "the request path must be absolute (start with '/')";
        return result;
    }
    // RFC 3986: a URI is ASCII; other bytes are percent-encoded. Raw ones would be read
    // differently by each hop (as Latin-1, as UTF-8, refused).
    for (const char c : target) {
        const auto octet = static_cast<unsigned char>(c);
        if (octet <= 0x20 || octet >= 0x7F) {
            result.kind = RouteResult::Kind::BadPath;
            result.problem = "the request target must be ASCII without controls: percent-encode other bytes (RFC 3986)";
            return result;
        }
        // A fragment is never sent (RFC 9112 3.2), and upstreams that drop one would serve
        // "/v1/chat/completions#x" as the API the policy took for another. A backslash is no
        // URI character (RFC 3986), and some servers read it as '/'.
        if (c == '#' || c == '\\') {
            result.kind = RouteResult::Kind::BadPath;
            result.problem = c == '#' ? "the request target must not hold a fragment ('#'; RFC 9112 3.2)"
                                      : "the request target must not hold a '\\' (not a URI character; percent-encoding it is refused too)";
            return result;
        }
    }
    const auto queryStart = target.find('?');
    auto canonical = canonicalPath(target.substr(0, queryStart), result.problem);
    if (!canonical) {
        result.kind = RouteResult::Kind::BadPath;
        return result;
    }
    if (queryStart != std::string_view::npos) *canonical += target.substr(queryStart);
    const std::string_view path = std::string_view(*canonical).substr(0, canonical->find('?'));
    target = *canonical;
    std::string_view forwarded;
    std::size_t index = defaultConnection_;
    if (isV1(path)) {
        forwarded = target;
    } else {
        const auto secondSlash = path.find('/', 1);
        if (secondSlash == std::string_view::npos) return result;  // NotRouted
        const auto name = path.substr(1, secondSlash - 1);
        if (!isV1(path.substr(secondSlash))) return result;
        result.name = std::string(name);
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
            context.localReply = chain::LocalReply{DetailsCode::MalformedRequest, std::move(result.problem)};
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

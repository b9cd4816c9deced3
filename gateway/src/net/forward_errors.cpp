#include "net/forward_errors.h"

namespace vigil::net {

ForwardFailure classifyForwardError(const error_code& ec, ForwardPhase phase,
                                    std::chrono::milliseconds limit, bool totalLimited,
                                    const std::string& upstreamName) {
    const std::string who = "upstream '" + upstreamName + "'";
    const std::string ms = std::to_string(limit.count()) + " ms";
    if (ec == beast::error::timeout) {
        if (totalLimited) {
            return {DetailsCode::UpstreamTimeout, who + " exceeded the total time limit of " + ms};
        }
        switch (phase) {
            case ForwardPhase::Connect:
                return {DetailsCode::UpstreamTimeout, who + " did not accept a connection within " + ms};
            case ForwardPhase::Send:
                return {DetailsCode::UpstreamTimeout, who + " did not take the request within " + ms};
            case ForwardPhase::ResponseHead:
                return {DetailsCode::UpstreamTimeout, who + " sent no response within " + ms};
            case ForwardPhase::ResponseBody:
                return {DetailsCode::UpstreamTimeout, who + " sent nothing for " + ms};
        }
    }
    if (ec == http::error::body_limit) {
        return {DetailsCode::UpstreamResponseTooLarge, who + " sent a response over the size limit"};
    }
    if (ec.category() == asio::error::get_ssl_category() || ec == ssl::error::stream_truncated) {
        if (phase == ForwardPhase::Connect) {
            return {DetailsCode::UpstreamUnreachable, "TLS with " + who + " failed: " + ec.message()};
        }
        return {DetailsCode::UpstreamReset, who + " ended the TLS session: " + ec.message()};
    }
    if (phase == ForwardPhase::Connect) {
        return {DetailsCode::UpstreamUnreachable, who + " is unreachable: " + ec.message()};
    }
    if (ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::broken_pipe || ec == http::error::end_of_stream ||
        ec == http::error::partial_message || ec == asio::error::connection_aborted) {
        return {DetailsCode::UpstreamReset,
                phase == ForwardPhase::ResponseBody
                    ? who + " closed the connection in the middle of the response"
                    : who + " closed the connection before responding"};
    }
    if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
        return {DetailsCode::UpstreamBadResponse, who + " sent an invalid HTTP response: " + ec.message()};
    }
    return {DetailsCode::UpstreamUnreachable, who + " failed: " + ec.message()};
}

}  // namespace vigil::net

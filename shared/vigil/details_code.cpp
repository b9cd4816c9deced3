#include "vigil/details_code.h"

#include <algorithm>

#include <array>

#include "vigil/json_text.h"

namespace vigil {
namespace {

constexpr std::array kCatalog = {
    DetailsCodeInfo{DetailsCode::MalformedRequest, "malformed_request", 400, "invalid_request_error"},
    DetailsCodeInfo{DetailsCode::BodyTooLarge, "body_too_large", 413, "invalid_request_error"},
    DetailsCodeInfo{DetailsCode::HeadersTooLarge, "headers_too_large", 431, "invalid_request_error"},
    DetailsCodeInfo{DetailsCode::NotFound, "not_found", 404, "invalid_request_error"},
    DetailsCodeInfo{DetailsCode::MethodNotAllowed, "method_not_allowed", 405, "invalid_request_error"},
    DetailsCodeInfo{DetailsCode::UnknownConnection, "unknown_connection", 404, "invalid_request_error"},
    DetailsCodeInfo{DetailsCode::UpstreamUnreachable, "upstream_unreachable", 502, "upstream_error"},
    DetailsCodeInfo{DetailsCode::UpstreamTimeout, "upstream_timeout", 504, "upstream_error"},
    DetailsCodeInfo{DetailsCode::UpstreamReset, "upstream_reset", 502, "upstream_error"},
    DetailsCodeInfo{DetailsCode::UpstreamBadResponse, "upstream_bad_response", 502, "upstream_error"},
    DetailsCodeInfo{DetailsCode::UpstreamResponseTooLarge, "upstream_response_too_large", 502,
                    "upstream_error"},
    DetailsCodeInfo{DetailsCode::ShuttingDown, "shutting_down", 503, "server_error"},
    DetailsCodeInfo{DetailsCode::InternalError, "internal_error", 500, "server_error"},
    DetailsCodeInfo{DetailsCode::MissingCredentials, "missing_credentials", 401, "authentication_error"},
    DetailsCodeInfo{DetailsCode::TokenMalformed, "token_malformed", 401, "authentication_error"},
    DetailsCodeInfo{DetailsCode::TokenAlgorithmNotAllowed, "token_algorithm_not_allowed", 401,
                    "authentication_error"},
    DetailsCodeInfo{DetailsCode::TokenBadSignature, "token_bad_signature", 401, "authentication_error"},
    DetailsCodeInfo{DetailsCode::TokenUnknownKey, "token_unknown_key", 401, "authentication_error"},
    DetailsCodeInfo{DetailsCode::TokenExpired, "token_expired", 401, "authentication_error"},
    DetailsCodeInfo{DetailsCode::TokenNotYetValid, "token_not_yet_valid", 401, "authentication_error"},
    DetailsCodeInfo{DetailsCode::TokenWrongIssuer, "token_wrong_issuer", 401, "authentication_error"},
    DetailsCodeInfo{DetailsCode::TokenWrongAudience, "token_wrong_audience", 401, "authentication_error"},
    DetailsCodeInfo{DetailsCode::ApiKeyInvalid, "api_key_invalid", 401, "authentication_error"},
    DetailsCodeInfo{DetailsCode::RoleNotAllowed, "role_not_allowed", 403, "permission_error"},
    DetailsCodeInfo{DetailsCode::ParkTimeout, "park_timeout", 504, "server_error"},
    DetailsCodeInfo{DetailsCode::InvalidJson, "invalid_json", 400, "invalid_request_error"},
    DetailsCodeInfo{DetailsCode::InvalidRequest, "invalid_request", 400, "invalid_request_error"},
    DetailsCodeInfo{DetailsCode::PolicyDenied, "policy_denied", 403, "permission_error"},
    DetailsCodeInfo{DetailsCode::ReviewRequired, "review_required", 403, "permission_error"},
    DetailsCodeInfo{DetailsCode::RateLimited, "rate_limited", 429, "rate_limit_error"},
    DetailsCodeInfo{DetailsCode::BudgetExhausted, "budget_exhausted", 429, "insufficient_quota"},
    DetailsCodeInfo{DetailsCode::RecordingUnavailable, "recording_unavailable", 503, "server_error"},
    DetailsCodeInfo{DetailsCode::ResponseNotMaskable, "response_not_maskable", 502, "server_error"},
    DetailsCodeInfo{DetailsCode::ReviewDenied, "review_denied", 403, "permission_error"},
    DetailsCodeInfo{DetailsCode::ReviewExpired, "review_expired", 403, "permission_error"},
    // The caller went away while its request waited; nobody reads the answer, but the
    // recording and the logs name it.
    DetailsCodeInfo{DetailsCode::ReviewCancelled, "review_cancelled", 499, "permission_error"},
    DetailsCodeInfo{DetailsCode::NotAnApprover, "not_an_approver", 403, "permission_error"},
    DetailsCodeInfo{DetailsCode::SelfApprovalForbidden, "self_approval_forbidden", 403, "permission_error"},
    DetailsCodeInfo{DetailsCode::ReviewAlreadyDecided, "review_already_decided", 409, "invalid_request_error"},
    DetailsCodeInfo{DetailsCode::OutputReviewTooLarge, "output_review_too_large", 502, "server_error"},
    DetailsCodeInfo{DetailsCode::TooManyPendingReviews, "too_many_pending_reviews", 503, "server_error"},
    // X-Vigil-Session names another caller's session: conversations are not shared.
    DetailsCodeInfo{DetailsCode::SessionConflict, "session_conflict", 409, "invalid_request_error"},
    // A request begun and not received whole within client_request_ms (a slow sender).
    DetailsCodeInfo{DetailsCode::RequestTimeout, "request_timeout", 408, "invalid_request_error"},
    // A WebSocket handshake for another protocol version than 13 (RFC 6455 4.4).
    DetailsCodeInfo{DetailsCode::WebSocketVersionUnsupported, "websocket_version_unsupported", 426,
                    "invalid_request_error"},
    // One caller has reviews.max_pending_per_requester reviews pending: it waits for them.
    DetailsCodeInfo{DetailsCode::TooManyOwnPendingReviews, "too_many_own_pending_reviews", 429, "rate_limit_error"},
};

constexpr bool catalogIsInEnumOrder() {
    for (std::size_t i = 0; i < kCatalog.size(); ++i) {
        if (static_cast<std::size_t>(kCatalog[i].code) != i) return false;
    }
    return true;
}
static_assert(catalogIsInEnumOrder(), "kCatalog must list DetailsCode values in enum order");

std::string errorObject(DetailsCode code, std::string_view message,
                        const std::vector<ErrorField>& extra = {}) {
    const auto& info = detailsCodeInfo(code);
    std::string out;
    out.reserve(96 + message.size());
    out += R"({"error":{"message":)";
    appendJsonString(out, message);
    out += R"(,"type":)";
    appendJsonString(out, info.type);
    // OpenAI's own "param" member names the offending parameter when one is given.
    out += R"(,"param":)";
    const auto param = std::find_if(extra.begin(), extra.end(), [](const ErrorField& f) { return f.name == "param"; });
    if (param != extra.end()) {
        appendJsonString(out, param->value);
    } else {
        out += "null";
    }
    out += R"(,"code":)";
    appendJsonString(out, info.name);
    for (const auto& field : extra) {
        if (field.name == "param") continue;
        out += ',';
        appendJsonString(out, field.name);
        out += ':';
        appendJsonString(out, field.value);
    }
    out += "}}";
    return out;
}

}  // namespace

const DetailsCodeInfo& detailsCodeInfo(DetailsCode code) {
    return kCatalog[static_cast<std::size_t>(code)];
}

std::string_view detailsCodeName(DetailsCode code) { return detailsCodeInfo(code).name; }

std::optional<DetailsCode> detailsCodeFromName(std::string_view name) {
    for (const auto& info : kCatalog) {
        if (info.name == name) return info.code;
    }
    return std::nullopt;
}

bool isAuthenticationFailure(DetailsCode code) {
    return detailsCodeInfo(code).httpStatus == 401;
}

std::string errorBody(DetailsCode code, std::string_view message) {
    return errorObject(code, message);
}

std::string errorBody(DetailsCode code, std::string_view message, const std::vector<ErrorField>& extra) {
    return errorObject(code, message, extra);
}

std::string errorEvent(DetailsCode code, std::string_view message) {
    return "event: error\ndata: " + errorObject(code, message) + "\n\n";
}

}  // namespace vigil

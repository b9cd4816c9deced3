#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil {

// A stable details code names why the gateway answered as it did. The same string appears
// in the HTTP error body ("code"), the logs, the metrics and (later) the recording and the
// console, so it never changes once released.
enum class DetailsCode {
    MalformedRequest,
    BodyTooLarge,
    HeadersTooLarge,
    NotFound,
    MethodNotAllowed,
    UnknownConnection,
    UpstreamUnreachable,
    UpstreamTimeout,
    UpstreamReset,
    UpstreamBadResponse,
    UpstreamResponseTooLarge,
    ShuttingDown,
    InternalError,
    MissingCredentials,
    TokenMalformed,
    TokenAlgorithmNotAllowed,
    TokenBadSignature,
    TokenUnknownKey,
    TokenExpired,
    TokenNotYetValid,
    TokenWrongIssuer,
    TokenWrongAudience,
    ApiKeyInvalid,
    RoleNotAllowed,
    ParkTimeout,
    InvalidJson,
    InvalidRequest,
    PolicyDenied,
    ReviewRequired,
    RateLimited,
    BudgetExhausted,
    RecordingUnavailable,
    ResponseNotMaskable,
    ReviewDenied,
    ReviewExpired,
    ReviewCancelled,
    NotAnApprover,
    SelfApprovalForbidden,
    ReviewAlreadyDecided,
    OutputReviewTooLarge,
    TooManyPendingReviews,
    SessionConflict,
    RequestTimeout,
    WebSocketVersionUnsupported,
    TooManyOwnPendingReviews,
};

// True for the codes answered 401 with a WWW-Authenticate challenge (RFC 6750).
bool isAuthenticationFailure(DetailsCode code);

struct DetailsCodeInfo {
    DetailsCode code;
    std::string_view name;  // "body_too_large"
    int httpStatus;         // 413
    std::string_view type;  // OpenAI error "type": "invalid_request_error"
};

const DetailsCodeInfo& detailsCodeInfo(DetailsCode code);
std::string_view detailsCodeName(DetailsCode code);
std::optional<DetailsCode> detailsCodeFromName(std::string_view name);

// {"error":{"message":...,"type":...,"param":null,"code":...}}: the OpenAI error shape, so
// the official SDKs surface the message and code as they would OpenAI's own errors.
std::string errorBody(DetailsCode code, std::string_view message);

// The same, with more string members in the error object, after "code": for example the
// rule that denied a request ({"rule", "no-secrets"}). A field named "param" fills OpenAI's
// "param" member (the offending request parameter) instead.
struct ErrorField {
    std::string name;
    std::string value;
};
std::string errorBody(DetailsCode code, std::string_view message, const std::vector<ErrorField>& extra);

// The same error as one Server-Sent Event, used to end a stream that already started:
// "event: error\ndata: {...}\n\n". The OpenAI SDKs raise it as an APIError.
std::string errorEvent(DetailsCode code, std::string_view message);

}  // namespace vigil

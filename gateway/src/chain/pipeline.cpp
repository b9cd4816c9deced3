#include "chain/pipeline.h"

#include <algorithm>
#include <random>

#include "forward/sse_framer.h"
#include "vigil/json_text.h"
#include "observe/log.h"
#include "auth/auth_filter.h"
#include "inspect/inspect_filter.h"
#include "inspect/request_facts.h"
#include "policy/decide_filter.h"
#include "policy/policy.h"
#include "route/router.h"
#include "api/recording_api.h"
#include "mask/body_masker.h"
#include "mask/sse_masker.h"

namespace vigil::chain {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kDroppedHeaders[] = {"authorization", "proxy-authorization", "cookie",
                                                "x-request-id", "x-vigil-session"};
// When the response is masked, it must come back readable: no compression.
constexpr std::string_view kDroppedHeadersMasked[] = {"authorization", "proxy-authorization", "cookie",
                                                      "x-request-id", "x-vigil-session", "accept-encoding"};
constexpr std::string_view kNotRecorded =
    "the gateway cannot record this exchange right now, and it serves nothing unrecorded; try again later";

net::LocalResponse jsonResponse(int status, std::string body, std::string_view requestId) {
    net::LocalResponse response;
    response.status = status;
    response.headers = {{"Content-Type", "application/json"},
                        {"X-Request-Id", std::string(requestId)}};
    response.body = std::move(body);
    return response;
}

net::LocalResponse errorResponse(DetailsCode code, std::string_view message,
                                 std::string_view requestId, const LocalReply* reply = nullptr) {
    auto response = jsonResponse(detailsCodeInfo(code).httpStatus,
                                 reply != nullptr && !reply->fields.empty() ? errorBody(code, message, reply->fields)
                                                                            : errorBody(code, message),
                                 requestId);
    if (reply != nullptr) {
        for (const auto& h : reply->headers) response.headers.push_back(h);
    }
    if (isAuthenticationFailure(code)) {
        // RFC 6750 3: no error code when the request carried no credentials at all.
        std::string challenge = "Bearer realm=\"vigil\"";
        if (code != DetailsCode::MissingCredentials) {
            std::string description(message);
            for (auto& c : description) {
                if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '\'';
            }
            challenge += ", error=\"invalid_token\", error_description=\"" + description + "\"";
        }
        response.headers.push_back({"WWW-Authenticate", std::move(challenge)});
    }
    return response;
}

// Per-request response side: relays the upstream answer (event by event for streams),
// keeps the credential out of it, and logs and counts the request when it ends.
class Exchange final : public net::ExchangeObserver {
public:
    Exchange(observe::Metrics& metrics, const net::RequestView& request, std::string requestId,
             std::optional<std::size_t> connection, std::string_view connectionName,
             const forward::CredentialScrubber* scrubber, bool quiet)
        : metrics_(metrics),
          requestId_(std::move(requestId)),
          method_(request.method),
          path_(request.path()),
          connection_(connection),
          connectionName_(connectionName),
          scrubber_(scrubber),
          quiet_(quiet) {
        if (!quiet_) metrics_.requestStarted();
    }

    void setCode(DetailsCode code) { code_ = code; }
    void setRecording(std::unique_ptr<SessionRecording> recording) { recording_ = std::move(recording); }
    void setIdentity(std::shared_ptr<const auth::Identity> identity) { identity_ = std::move(identity); }
    void setDecision(std::shared_ptr<const policy::Decision> decision) { decision_ = std::move(decision); }
    void setMasking(std::shared_ptr<const mask::Profile> profile, std::string_view key) {
        masker_ = std::make_unique<mask::BodyMasker>(std::move(profile), std::string(key));
    }

    void onResponseHead(int& status, net::Headers& headers, bool streaming) override {
        streaming_ = streaming;
        if (scrubber_ != nullptr) {
            for (auto& h : headers) scrubber_->scrub(h.value);
        }
        if (masker_) {
            for (const auto& h : headers) {
                if (net::equalsIgnoreCase(h.name, "content-type")) contentType_ = h.value;
                // Asked for identity; a compressed answer cannot be inspected, so it is not passed on.
                if (net::equalsIgnoreCase(h.name, "content-encoding") && !net::equalsIgnoreCase(h.value, "identity")) {
                    unmaskable_ = "the upstream answered with Content-Encoding '" + h.value +
                                  "', which the gateway cannot inspect, and the masking profile '" +
                                  masker_->profile().spec().name + "' applies to this response";
                }
            }
            if (!unmaskable_.empty()) {
                status = detailsCodeInfo(DetailsCode::ResponseNotMaskable).httpStatus;
                code_ = DetailsCode::ResponseNotMaskable;
                headers = {{"Content-Type", "application/json"}};
            } else if (streaming) {
                sse_ = std::make_unique<mask::SseMasker>(*masker_);
            }
        }
        headers.push_back({"X-Request-Id", requestId_});
        if (decision_) headers.push_back({"X-Vigil-Policy-Version", decision_->policyVersion});
        if (recording_) {
            headers.push_back({"X-Vigil-Session", recording_->sessionId()});
            std::string_view contentType;
            for (const auto& h : headers) {
                if (net::equalsIgnoreCase(h.name, "content-type")) contentType = h.value;
            }
            recording_->responseStarted(status, contentType, streaming);
        }
    }

    void onResponseData(std::string_view data, std::string& out) override {
        const auto from = out.size();
        if (!unmaskable_.empty()) {
            if (!streaming_) out += errorBody(DetailsCode::ResponseNotMaskable, unmaskable_);
        } else if (streaming_ && sse_) {
            framed_.clear();
            framer_.feed(data, framed_);
            sse_->events(framed_, out);
        } else if (streaming_) {
            framer_.feed(data, out);
        } else if (masker_) {
            masker_->maskBody(contentType_, data, out);
        } else {
            out.append(data);
        }
        if (scrubber_ != nullptr) scrubber_->scrubFrom(out, from);
        // A stream is recorded event by event as it is relayed; a buffered body (and the
        // last piece of a stream) in beforeFinish.
        if (streaming_ && recording_) recording_->chunk(std::string_view(out).substr(from));
    }

    void onResponseEnd(std::string& out) override {
        if (!streaming_) return;
        const auto from = out.size();
        if (!unmaskable_.empty()) {
            out += errorBody(DetailsCode::ResponseNotMaskable, unmaskable_);
        } else if (sse_) {
            framed_.clear();
            framer_.flush(framed_);
            sse_->events(framed_, out);
            sse_->finish(out);
        } else {
            framer_.flush(out);
        }
        if (scrubber_ != nullptr) scrubber_->scrubFrom(out, from);
    }

    net::LocalResponse onFailureBeforeHead(const net::ForwardFailure& failure) override {
        code_ = failure.code;
        if (connection_) metrics_.upstreamError(*connection_, failure.code);
        auto response = errorResponse(failure.code, failure.message, requestId_);
        if (decision_) response.headers.push_back({"X-Vigil-Policy-Version", decision_->policyVersion});
        if (recording_) response.headers.push_back({"X-Vigil-Session", recording_->sessionId()});
        return response;
    }

    void onFailureMidStream(const net::ForwardFailure& failure, std::string& out) override {
        code_ = failure.code;
        if (connection_) metrics_.upstreamError(*connection_, failure.code);
        framer_.discardPartial();
        if (sse_) sse_->finish(out);  // what was held back, masked, before the error
        out += errorEvent(failure.code, failure.message);
        if (recording_) recording_->failedMidStream(failure.code, failure.message);
    }

    std::optional<net::FinishGate> beforeFinish(std::string_view finalData, const net::ExchangeOutcome& outcome) override {
        if (!recording_) return std::nullopt;
        if (masker_ && !masker_->summary().empty()) {
            recording_->masked("response", masker_->profile().spec().name, masker_->summary().total(),
                               masker_->summary().toJson());
        }
        auto planned = outcome;
        if (!planned.code) planned.code = code_;
        return recording_->finish(finalData, planned);
    }

    net::LocalResponse onFinishRefused() override {
        finishRefused_ = true;
        return errorResponse(DetailsCode::RecordingUnavailable, kNotRecorded, requestId_);
    }

    void onFinishRefusedMidStream(std::string& out) override {
        finishRefused_ = true;
        out += errorEvent(DetailsCode::RecordingUnavailable, kNotRecorded);
    }

    void onComplete(const net::ExchangeOutcome& outcome) override {
        if (recording_) {
            auto recorded = outcome;
            if (!recorded.code) recorded.code = code_;
            recording_->complete(recorded, finishRefused_);
        }
        if (finishRefused_) code_ = DetailsCode::RecordingUnavailable;
        const double seconds = std::chrono::duration<double>(outcome.duration).count();
        if (!quiet_) metrics_.requestFinished(connection_, outcome.status, seconds);
        const auto level = quiet_ ? observe::LogLevel::Debug : observe::LogLevel::Info;
        if (!observe::logEnabled(level)) return;
        observe::LogLine line(level, "request");
        line.str("request_id", requestId_)
            .str("method", method_)
            .str("path", path_)
            .str("connection", connectionName_)
            .num("status", outcome.status)
            .real("duration_ms", seconds * 1000.0)
            .num("request_bytes", static_cast<std::int64_t>(outcome.requestBytes))
            .num("response_bytes", static_cast<std::int64_t>(outcome.responseBytes));
        if (identity_) {
            line.str("subject", identity_->subject).str("auth", auth::methodName(identity_->method));
        }
        if (decision_) {
            line.str("decision", policy::actionName(decision_->action));
            std::string rules;
            for (const auto& r : decision_->rules) rules += (rules.empty() ? "" : ",") + r;
            if (decision_->byDefault) rules = "(default)";
            line.str("rules", rules).str("policy_version", decision_->policyVersion);
        }
        if (code_) line.str("code", detailsCodeName(*code_));
        if (outcome.clientAborted) line.flag("client_aborted", true);
    }

private:
    observe::Metrics& metrics_;
    std::string requestId_;
    std::string method_;
    std::string path_;
    std::optional<std::size_t> connection_;
    std::string_view connectionName_;
    const forward::CredentialScrubber* scrubber_;
    bool quiet_;
    bool streaming_ = false;
    forward::SseFramer framer_;
    std::string framed_;
    std::unique_ptr<mask::BodyMasker> masker_;
    std::unique_ptr<mask::SseMasker> sse_;
    std::string contentType_;
    std::string unmaskable_;  // why the response cannot be passed on
    std::optional<DetailsCode> code_;
    std::shared_ptr<const auth::Identity> identity_;
    std::shared_ptr<const policy::Decision> decision_;
    std::unique_ptr<SessionRecording> recording_;
    bool finishRefused_ = false;
};

// The gateway's API is for auditors and admins only.
class ApiRoleFilter final : public RequestFilter {
public:
    std::string_view name() const override { return "authorize-api"; }
    FilterStatus onRequest(RequestContext& context) const override {
        static const std::vector<std::string> kAllowed = {"auditor", "admin"};
        if (context.identity && context.identity->hasAnyRole(kAllowed)) return FilterStatus::Continue;
        std::string roles;
        if (context.identity) {
            for (const auto& r : context.identity->roles) roles += (roles.empty() ? "" : ", ") + r;
        }
        context.localReply = LocalReply{DetailsCode::RoleNotAllowed,
                                        "'" + (context.identity ? context.identity->subject : std::string("anonymous")) +
                                            "' (roles: " + (roles.empty() ? std::string("none") : roles) +
                                            ") may not read the recording (allowed: auditor, admin)"};
        return FilterStatus::LocalReply;
    }
};

// A request whose stages wait for something: the chain continues where it stopped.
class ParkedChain final : public net::ParkedRequest {
public:
    ParkedChain(Pipeline& pipeline, RequestContext context, std::size_t next)
        : pipeline_(pipeline), context_(std::move(context)), next_(next) {
        deadline = std::chrono::seconds(15);
    }
    void setWaker(std::function<void()> wake) override { context_.parkedOn->setWaker(std::move(wake)); }
    net::Action resume(const net::RequestView& request) override {
        context_.request = &request;
        return pipeline_.continueChain(std::move(context_), next_);
    }
    net::Action expire(const net::RequestView& request) override {
        context_.request = &request;
        return pipeline_.expireParked(std::move(context_));
    }

private:
    Pipeline& pipeline_;
    RequestContext context_;
    std::size_t next_;
};

}  // namespace

bool isValidRequestId(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == ':' || c == '-';
    });
}

std::string newRequestId() {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (std::size_t i = 0; i < id.size(); i += 16) {
        auto bits = generator();
        for (std::size_t k = 0; k < 16; ++k, bits >>= 4) id[i + k] = kHex[bits & 0xF];
    }
    return id;
}

std::span<const std::string_view> Pipeline::droppedClientHeaders() { return kDroppedHeaders; }

Pipeline::Pipeline(std::shared_ptr<const config::GatewayConfig> config,
                   std::shared_ptr<observe::Metrics> metrics,
                   std::shared_ptr<auth::TokenVerifier> tokens,
                   std::shared_ptr<const auth::ApiKeyRegistry> apiKeys,
                   std::shared_ptr<const policy::PolicySource> policy,
                   std::shared_ptr<policy::UsageTracker> usage,
                   RecordingSetup recording)
    : config_(std::move(config)), metrics_(std::move(metrics)), recording_(std::move(recording)) {
    chain_.add(std::make_unique<route::RouteFilter>(*config_));
    chain_.add(std::make_unique<auth::AuthFilter>(*config_, tokens, apiKeys));
    chain_.add(std::make_unique<auth::RoleFilter>(*config_));
    chain_.add(std::make_unique<inspect::InspectFilter>(*config_));
    if (policy) {
        chain_.add(std::make_unique<policy::DecideFilter>(*config_, std::move(policy), std::move(usage), metrics_));
    }
    for (const auto& c : config_->connections) {
        connections_.push_back({"Bearer " + c.credential, forward::CredentialScrubber(c.credential)});
    }
    apiChain_.add(std::make_unique<auth::AuthFilter>(*config_, tokens, apiKeys));
    apiChain_.add(std::make_unique<ApiRoleFilter>());
}

net::Action Pipeline::builtin(const net::RequestView& request, std::string requestId) {
    net::Action action;
    const auto path = request.path();
    if (request.method != "GET" && request.method != "HEAD") {
        action.local = errorResponse(DetailsCode::MethodNotAllowed,
                                     std::string(path) + " accepts GET only", requestId);
        action.local.headers.push_back({"Allow", "GET, HEAD"});
    } else if (path == "/healthz") {
        action.local = jsonResponse(200, R"({"status":"ok"})", requestId);
    } else if (path == "/readyz") {
        if (draining_.load()) {
            action.local = jsonResponse(503, R"({"status":"draining"})", requestId);
        } else if (recording_.recorder && !recording_.recorder->accepting()) {
            std::string body = R"({"status":"recording_unavailable","error":)";
            appendJsonString(body, recording_.recorder->healthy() ? std::string("the recording is backed up")
                                                                   : recording_.recorder->lastError());
            body += '}';
            action.local = jsonResponse(503, std::move(body), requestId);
        } else {
            action.local = jsonResponse(200, R"({"status":"ready"})", requestId);
        }
    } else {
        action.local.status = 200;
        action.local.headers = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"},
                                {"X-Request-Id", requestId}};
        action.local.body = metrics_->render();
    }
    action.observer = std::make_unique<Exchange>(*metrics_, request, std::move(requestId),
                                                 std::nullopt, "", nullptr, /*quiet=*/true);
    return action;
}

net::Action Pipeline::handle(const net::RequestView& request) {
    const auto clientId = request.header("x-request-id");
    std::string requestId = isValidRequestId(clientId) ? std::string(clientId) : newRequestId();

    const auto path = request.path();
    if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
        return builtin(request, std::move(requestId));
    }

    RequestContext context;
    context.request = &request;
    context.received = Clock::now();
    if (path.starts_with("/api/") && recording_.api) {
        context.api = true;
        context.requestId = std::move(requestId);
        return continueChain(std::move(context), 0);
    }
    const auto session = request.header("x-vigil-session");
    if (!session.empty() && !isValidRequestId(session)) {
        net::Action action;
        action.local = errorResponse(DetailsCode::InvalidRequest,
                                     "X-Vigil-Session must be 1-128 characters of A-Z a-z 0-9 . _ : -", requestId);
        return action;
    }
    if (recording_.recorder && !recording_.recorder->accepting()) {
        // Fail closed: nothing is served that cannot be recorded.
        net::Action action;
        action.local = errorResponse(DetailsCode::RecordingUnavailable, kNotRecorded, requestId);
        action.observer = std::make_unique<Exchange>(*metrics_, request, requestId, std::nullopt, "", nullptr, false);
        static_cast<Exchange&>(*action.observer).setCode(DetailsCode::RecordingUnavailable);
        return action;
    }
    context.sessionId = session.empty() ? requestId : std::string(session);
    context.requestId = std::move(requestId);
    return continueChain(std::move(context), 0);
}

std::unique_ptr<SessionRecording> Pipeline::startRecording(const RequestContext& context) {
    if (!recording_.recorder) return nullptr;
    auto recording = std::make_unique<SessionRecording>(*recording_.recorder, recording_.durability, context.sessionId,
                                                        context.requestId, context.received);
    SessionRecording::Request r;
    r.method = context.request->method;
    r.target = context.request->target;
    r.clientAddress = context.request->clientAddress;
    if (context.connection) r.connection = config_->connections[*context.connection].name;
    r.body = context.maskedBody ? std::string_view(*context.maskedBody) : context.request->body;
    r.identity = context.identity.get();
    r.facts = context.facts.get();
    r.decision = context.decision.get();
    recording->begin(r);
    return recording;
}

std::unique_ptr<mask::BodyMasker> Pipeline::maskRequest(RequestContext& context) const {
    if (!context.decision || !context.decision->maskProfile || !context.decision->maskProfile->spec().requests) {
        return nullptr;
    }
    const auto& request = *context.request;
    if (request.body.empty()) return nullptr;
    auto masker = std::make_unique<mask::BodyMasker>(context.decision->maskProfile, maskingKey_);
    std::string masked;
    masker->maskBody(request.header("content-type"), request.body, masked);
    if (masker->summary().empty()) return nullptr;
    context.maskedBody = std::move(masked);
    return masker;
}

static void recordMasking(SessionRecording* recording, const mask::BodyMasker* masker, std::string_view direction) {
    if (recording == nullptr || masker == nullptr) return;
    recording->masked(direction, masker->profile().spec().name, masker->summary().total(), masker->summary().toJson());
}

net::Action Pipeline::answerApi(RequestContext& context) {
    net::Action action;
    auto exchange = std::make_unique<Exchange>(*metrics_, *context.request, context.requestId, std::nullopt, "", nullptr, false);
    if (context.localReply) {
        exchange->setCode(context.localReply->code);
        action.local = errorResponse(context.localReply->code, context.localReply->message, context.requestId, &*context.localReply);
    } else {
        action.local = recording_.api->handle(*context.request, context.requestId);
    }
    exchange->setIdentity(std::move(context.identity));
    action.observer = std::move(exchange);
    return action;
}

net::Action Pipeline::continueChain(RequestContext context, std::size_t next) {
    const net::RequestView& request = *context.request;
    const auto status = (context.api ? apiChain_ : chain_).run(context, next);
    if (context.api && status != FilterStatus::Park) return answerApi(context);
    net::Action action;
    if (status == FilterStatus::Park) {
        action.kind = net::Action::Kind::Park;
        action.parked = std::make_shared<ParkedChain>(*this, std::move(context), next);
        return action;
    }
    const std::string_view name =
        context.connection ? std::string_view(config_->connections[*context.connection].name) : std::string_view();
    if (status == FilterStatus::LocalReply) {
        const auto& reply = *context.localReply;
        auto exchange = std::make_unique<Exchange>(*metrics_, request, context.requestId,
                                                   context.connection, name, nullptr, false);
        exchange->setCode(reply.code);
        const auto requestMasker = maskRequest(context);
        auto recording = startRecording(context);
        recordMasking(recording.get(), requestMasker.get(), "request");
        exchange->setRecording(std::move(recording));
        exchange->setIdentity(context.identity);
        action.local = errorResponse(reply.code, reply.message, context.requestId, &reply);
        if (recording_.recorder) action.local.headers.push_back({"X-Vigil-Session", context.sessionId});
        if (context.decision) {
            action.local.headers.push_back({"X-Vigil-Policy-Version", context.decision->policyVersion});
            exchange->setDecision(std::move(context.decision));
        }
        action.observer = std::move(exchange);
        return action;
    }

    const std::size_t index = *context.connection;
    const auto& runtime = connections_[index];
    action.kind = net::Action::Kind::Forward;
    action.forward.upstream = index;
    action.forward.target = std::move(context.upstreamTarget);
    action.forward.dropHeaders = kDroppedHeaders;
    action.forward.setHeaders = {{"X-Request-Id", context.requestId}};
    action.forward.credentialHeader = runtime.authorization;
    const auto& profile = context.decision ? context.decision->maskProfile : nullptr;
    const bool maskResponse = profile && profile->spec().responses;
    if (maskResponse) {
        action.forward.dropHeaders = kDroppedHeadersMasked;
        action.forward.setHeaders.push_back({"Accept-Encoding", "identity"});
    }
    const auto requestMasker = maskRequest(context);
    auto recording = startRecording(context);
    recordMasking(recording.get(), requestMasker.get(), "request");
    if (context.maskedBody) action.forward.body = std::move(context.maskedBody);
    if (recording) recording->upstreamStarted(name, action.forward.target);
    auto exchange = std::make_unique<Exchange>(*metrics_, request, std::move(context.requestId), index,
                                               name, &runtime.scrubber, false);
    exchange->setRecording(std::move(recording));
    exchange->setIdentity(std::move(context.identity));
    if (maskResponse) exchange->setMasking(profile, maskingKey_);
    exchange->setDecision(std::move(context.decision));
    action.observer = std::move(exchange);
    return action;
}

net::Action Pipeline::expireParked(RequestContext context) {
    context.localReply = LocalReply{DetailsCode::ParkTimeout, "timed out waiting to decide on the request"};
    if (context.api) return answerApi(context);
    net::Action action;
    const std::string_view name =
        context.connection ? std::string_view(config_->connections[*context.connection].name) : std::string_view();
    auto exchange = std::make_unique<Exchange>(*metrics_, *context.request, context.requestId,
                                               context.connection, name, nullptr, false);
    exchange->setCode(DetailsCode::ParkTimeout);
    exchange->setRecording(startRecording(context));
    action.local = errorResponse(DetailsCode::ParkTimeout, context.localReply->message, context.requestId);
    if (recording_.recorder) action.local.headers.push_back({"X-Vigil-Session", context.sessionId});
    action.observer = std::move(exchange);
    return action;
}

net::LocalResponse Pipeline::rejected(DetailsCode code, std::string_view message,
                                      const net::RequestView* request) {
    std::string requestId;
    if (request != nullptr && isValidRequestId(request->header("x-request-id"))) {
        requestId = std::string(request->header("x-request-id"));
    } else {
        requestId = newRequestId();
    }
    metrics_->requestStarted();
    metrics_->requestFinished(std::nullopt, detailsCodeInfo(code).httpStatus, 0.0);
    observe::LogLine(observe::LogLevel::Info, "request")
        .str("request_id", requestId)
        .str("method", request != nullptr ? request->method : std::string_view("-"))
        .str("path", request != nullptr ? request->path() : std::string_view("-"))
        .num("status", detailsCodeInfo(code).httpStatus)
        .str("code", detailsCodeName(code));
    return errorResponse(code, message, requestId);
}

}  // namespace vigil::chain

#include "chain/pipeline.h"

#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "forward/sse_framer.h"
#include "net/http_wire.h"
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
#include "api/evidence_api.h"
#include "api/review_api.h"
#include "crypto/digest.h"
#include "events/event_bus.h"
#include "policy/policy_source.h"
#include "policy/usage_tracker.h"
#include "review/review_manager.h"
#include "observe/thread_name.h"

namespace vigil::chain {
namespace {

// Response fields whose values are protocol data a client's HTTP stack reads (framing, dates,
// caches, rate limits, tracing, URLs it follows), or opaque session state (a cookie rewritten
// would end the session): never scanned. Every other field (Content-Disposition's file name,
// an API's own X- fields) can carry the values a body can, and is masked like text.
bool maskableResponseField(std::string_view name) {
    static constexpr std::string_view kProtocol[] = {
        "content-type", "content-length", "content-encoding", "content-language", "content-range", "accept-ranges",
        "date", "expires", "last-modified", "etag", "age", "cache-control", "pragma", "vary", "retry-after",
        "server", "via", "alt-svc", "strict-transport-security", "set-cookie", "x-request-id", "request-id",
        "traceparent", "tracestate", "openai-version", "openai-processing-ms", "keep-alive",
        // URLs the client follows: a presigned redirect's signature or a page token would no
        // longer work rewritten.
        "location", "content-location", "link"};
    for (const auto field : kProtocol) {
        if (net::equalsIgnoreCase(name, field)) return false;
    }
    return !net::startsWithIgnoreCase(name, "x-ratelimit-") && !net::startsWithIgnoreCase(name, "access-control-");
}

// Masks the values of the fields above in place; the summary names each as "header.<name>".
// One scan over all of them first: most answers have nothing to mask there.
void maskResponseFields(mask::BodyMasker& masker, net::Headers& headers) {
    std::string joined, scratch;
    for (const auto& h : headers) {
        if (maskableResponseField(h.name)) joined.append(h.value).append("\n");
    }
    if (joined.empty() || masker.profile().maskText(joined, scratch, masker.hashKey(), nullptr, "") == 0) return;
    for (auto& h : headers) {
        if (!maskableResponseField(h.name)) continue;
        std::string where = "header.";
        for (const char c : h.name) where += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        std::string masked;
        if (masker.maskText(h.value, masked, where) > 0) h.value = std::move(masked);
    }
}

using Clock = std::chrono::steady_clock;

// The caller's fields that do not reach the upstream: its credentials (in any of the header
// names upstreams read: Azure's api-key, Anthropic's x-api-key), the organization and project
// the injected credential acts for (the connection's to set), and forwarding fields (the
// upstream's client is the gateway; the caller's address is in the recording).
#define VIGIL_DROPPED_CLIENT_FIELDS                                                                                   \
    "authorization", "proxy-authorization", "cookie", "x-request-id", "x-vigil-session", "api-key", "x-api-key",     \
        "openai-organization", "openai-project", "forwarded", "x-forwarded-for", "x-forwarded-host",                   \
        "x-forwarded-proto", "x-forwarded-port", "x-forwarded-prefix", "x-real-ip"
constexpr std::string_view kDroppedHeaders[] = {VIGIL_DROPPED_CLIENT_FIELDS};
// When the response is masked, it must come back readable: no compression.
constexpr std::string_view kDroppedHeadersMasked[] = {VIGIL_DROPPED_CLIENT_FIELDS, "accept-encoding"};
#undef VIGIL_DROPPED_CLIENT_FIELDS
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
    void setRecording(std::shared_ptr<SessionRecording> recording) { recording_ = std::move(recording); }
    void setBus(events::EventBus* bus) { bus_ = bus; }
    // An API answer that waits until what it reports is recorded (a review verdict).
    void setGate(std::optional<net::FinishGate> gate) { apiGate_ = std::move(gate); }
    // The answer is held, after masking, until approvers release it.
    void setOutputReview(review::ReviewManager* manager, review::Review draft, std::chrono::seconds timeout,
                         std::size_t maxBytes, std::chrono::milliseconds keepAlive) {
        outputReview_ = manager;
        outputDraft_ = std::make_unique<review::Review>(std::move(draft));
        outputTimeout_ = timeout;
        maxHeld_ = maxBytes;
        keepAlive_ = keepAlive;
    }
    void setIdentity(std::shared_ptr<const auth::Identity> identity) { identity_ = std::move(identity); }
    void setDecision(std::shared_ptr<const policy::Decision> decision) { decision_ = std::move(decision); }
    // The largest single event of a stream (it is held whole to be framed and masked).
    void setMaxEventBytes(std::size_t bytes) {
        maxEventBytes_ = bytes;
        framer_.setMaxEventBytes(bytes);
    }
    void setMasking(std::shared_ptr<const mask::Profile> profile, std::string_view key) {
        masker_ = std::make_unique<mask::BodyMasker>(std::move(profile), std::string(key));
    }

    void onResponseHead(int& status, net::Headers& headers, bool streaming) override {
        streaming_ = streaming;
        // X-Vigil- fields are the gateway's to give: an upstream's would pass for them.
        std::erase_if(headers, [](const net::HeaderField& h) { return net::startsWithIgnoreCase(h.name, "x-vigil-"); });
        if (outputReview_ != nullptr) lastToClient_ = std::chrono::steady_clock::now();
        const int upstreamStatus = status;
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
            } else {
                maskResponseFields(*masker_, headers);
                if (streaming) sse_ = std::make_unique<mask::SseMasker>(*masker_);
            }
        }
        // A held answer relayed as a successful event stream may carry keep-alive comments.
        if (outputReview_ != nullptr && streaming && upstreamStatus < 300 && status < 300 && unmaskable_.empty()) {
            for (const auto& h : headers) {
                if (net::equalsIgnoreCase(h.name, "content-type") && h.value.starts_with("text/event-stream")) heldCommentable_ = true;
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
        } else if (masker_ && mask::looksLikeEventStream(data)) {
            // An event stream under another content type: the SDKs read it as a stream.
            mask::SseMasker events(*masker_);
            events.events(data, out);
            events.finish(out);
        } else if (masker_) {
            masker_->maskBody(contentType_, data, out);
        } else {
            out.append(data);
        }
        if (scrubber_ != nullptr) scrubber_->scrubFrom(out, from);
        if (streaming_ && outputReview_ != nullptr) {
            // Output review: nothing reaches the client before an approver released it.
            if (held_.size() + (out.size() - from) > maxHeld_) {
                heldTooLarge_ = true;
            } else {
                held_.append(out, from, std::string::npos);
            }
            out.resize(from);
            // A long generation keeps the client's connection open with comments meanwhile.
            const auto now = std::chrono::steady_clock::now();
            if (heldCommentable_ && now - lastToClient_ >= keepAlive_) {
                out += ": pending output review (the answer is being generated)\n\n";
                lastToClient_ = now;
            }
            return;
        }
        // A stream is recorded event by event as it is relayed; a buffered body (and the
        // last piece of a stream) in beforeFinish.
        if (streaming_ && recording_) recording_->chunk(std::string_view(out).substr(from));
    }

    std::optional<net::ForwardFailure> streamFailure() override {
        if (!framer_.overflowed()) return std::nullopt;
        return net::ForwardFailure{DetailsCode::UpstreamResponseTooLarge,
                                   "upstream '" + std::string(connectionName_) + "' sent an event stream event over " +
                                       std::to_string(maxEventBytes_) +
                                       " bytes (limits.max_response_bytes), the most the gateway holds whole"};
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
        if (outputReview_ != nullptr) {
            if (held_.size() + (out.size() - from) > maxHeld_) heldTooLarge_ = true;
            if (!heldTooLarge_) out.insert(from, held_);
            held_.clear();
        }
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
        if (apiGate_) return std::exchange(apiGate_, std::nullopt);
        if (outputReview_ != nullptr && outputDraft_ && outcome.status < 300 && unmaskable_.empty()) {
            return holdForReview(finalData, outcome);
        }
        return recordFinish(finalData, outcome);
    }

    std::optional<net::FinishGate> afterGate() override {
        if (!heldFinal_) return std::nullopt;
        outputReleased_ = true;
        // Released by the approvers: now the answer is recorded as delivered.
        auto data = std::move(*heldFinal_);
        heldFinal_.reset();
        return recordFinish(data, heldOutcome_);
    }

    std::optional<net::FinishGate> recordFinish(std::string_view finalData, const net::ExchangeOutcome& outcome) {
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
        takeOutputVerdict();
        if (refusal_ && !refusalAnswered_) {
            refusalAnswered_ = true;
            // The output review refused the answer: the client gets why, and so does the recording.
            auto response = errorResponse(refusal_->first, refusal_->second, requestId_);
            if (recording_) response.headers.push_back({"X-Vigil-Session", recording_->sessionId()});
            net::ExchangeOutcome outcome = heldOutcome_;
            outcome.status = response.status;
            outcome.code = refusal_->first;
            outcome.responseBytes = response.body.size();
            code_ = refusal_->first;
            heldFinal_.reset();
            refusalGate_ = recordFinish(response.body, outcome);
            return response;
        }
        finishRefused_ = true;
        return errorResponse(DetailsCode::RecordingUnavailable, kNotRecorded, requestId_);
    }

    bool onFinishRefusedMidStream(std::string& out) override {
        takeOutputVerdict();
        if (refusal_) {
            // A verdict: the stream ends with it as an error event (and its last chunk).
            const auto from = out.size();
            out += errorEvent(refusal_->first, refusal_->second);
            code_ = refusal_->first;
            net::ExchangeOutcome outcome = heldOutcome_;
            outcome.code = refusal_->first;
            heldFinal_.reset();
            refusalGate_ = recordFinish(std::string_view(out).substr(from), outcome);
            return true;
        }
        finishRefused_ = true;
        out += errorEvent(DetailsCode::RecordingUnavailable, kNotRecorded);
        return false;
    }

    std::optional<net::FinishGate> refusalRecorded() override { return std::exchange(refusalGate_, std::nullopt); }

    void onComplete(const net::ExchangeOutcome& outcome) override {
        if (recording_) {
            auto recorded = outcome;
            if (!recorded.code) recorded.code = code_;
            recording_->complete(recorded, finishRefused_);
        }
        if (finishRefused_) code_ = DetailsCode::RecordingUnavailable;
        if (bus_ != nullptr && recording_) {
            JsonObjectWriter ended;
            ended.str("session_id", recording_->sessionId())
                .str("request_id", requestId_)
                .num("status", outcome.status)
                .num("duration_us", std::chrono::duration_cast<std::chrono::microseconds>(outcome.duration).count())
                .num("response_bytes", static_cast<std::int64_t>(outcome.responseBytes));
            if (code_) ended.str("code", detailsCodeName(*code_));
            // As the sessions API will have it: nothing when the store refused the end.
            if (!finishRefused_ && !recording_->outcome().empty()) ended.str("outcome", recording_->outcome());
            if (outcome.clientAborted) ended.boolean("client_aborted", true);
            bus_->publish("session.ended", ended.take());
        }
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
    // Output review: the answer waits (bounded) for approvers; the gate opens on release.
    std::optional<net::FinishGate> holdForReview(std::string_view finalData, const net::ExchangeOutcome& outcome) {
        heldOutcome_ = outcome;
        net::FinishGate gate;
        gate.signal = std::make_shared<net::WakeSignal>();
        gate.ok = std::make_shared<std::atomic<bool>>(false);
        auto draft = std::move(*outputDraft_);
        outputDraft_.reset();
        if (heldTooLarge_ || finalData.size() > maxHeld_) {
            refusal_ = {DetailsCode::OutputReviewTooLarge,
                        "the answer needs output review, and it is larger than the " + std::to_string(maxHeld_) +
                            " bytes the gateway holds for review"};
            gate.signal->wake();
            return gate;
        }
        draft.output = std::string(finalData);
        draft.outputStatus = outcome.status;
        draft.outputContentType = contentType_.empty() ? (streaming_ ? "text/event-stream" : "application/json") : contentType_;
        review::ReviewManager::Refusal why{};
        auto created = outputReview_->create(std::move(draft), outputTimeout_, &why);
        if (!created) {
            auto [code, message] = outputReview_->explain(why);
            refusal_ = {code, std::move(message)};
            gate.signal->wake();
            return gate;
        }
        heldFinal_ = std::string(finalData);
        gate.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(outputTimeout_) + std::chrono::seconds(5);
        auto* manager = outputReview_;
        const auto id = created->id;
        // Meanwhile the server watches the caller (one that leaves cancels the review) and
        // keeps a started stream open with comments, as for a held request.
        gate.clientGone = [manager, id] { manager->cancel(id, "the caller disconnected while the answer waited for output review"); };
        // Sent only to a client whose stream has started (the server knows: an event stream,
        // or a request whose wait for its own review already sent the head).
        gate.heartbeat = ": pending output review " + id + "\n\n";
        gate.heartbeatInterval = keepAlive_;
        // Shared with the waker, which runs on the deciding thread (and may outlive this).
        auto verdict = std::make_shared<OutputVerdict>();
        verdict->refusal = std::make_pair(DetailsCode::ReviewExpired, "the answer's output review " + id + " was not decided in time");
        outputVerdict_ = verdict;
        created->signal->setWaker([manager, id, gate, verdict] {
            const auto r = manager->get(id);
            std::optional<std::pair<DetailsCode, std::string>> refusal;
            bool decided = true;
            if (r && r->state == review::Review::State::Approved) {
                refusal.reset();
            } else if (r && r->state == review::Review::State::Denied && r->denial) {
                refusal = std::make_pair(DetailsCode::ReviewDenied, "the answer's output review " + id + " was denied by '" +
                                                                        r->denial->subject + "': " + r->denial->reason);
            } else if (r && r->state == review::Review::State::Expired) {
                refusal = std::make_pair(DetailsCode::ReviewExpired, "the answer's output review " + id + " expired: " + r->endReason);
            } else if (r && r->state == review::Review::State::Cancelled) {
                refusal = std::make_pair(DetailsCode::ReviewCancelled, "the answer's output review " + id + " was cancelled");
            } else {
                decided = false;
            }
            const bool approved = decided && !refusal;
            if (decided) {
                std::lock_guard lock(verdict->mutex);
                verdict->refusal = std::move(refusal);
            }
            if (approved) gate.ok->store(true);
            gate.signal->wake();
        });
        return gate;
    }

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
    std::size_t maxEventBytes_ = 0;
    std::string framed_;
    std::unique_ptr<mask::BodyMasker> masker_;
    std::unique_ptr<mask::SseMasker> sse_;
    std::string contentType_;
    std::string unmaskable_;  // why the response cannot be passed on
    std::optional<DetailsCode> code_;
    std::shared_ptr<const auth::Identity> identity_;
    std::shared_ptr<const policy::Decision> decision_;
    std::shared_ptr<SessionRecording> recording_;
    bool finishRefused_ = false;
    events::EventBus* bus_ = nullptr;
    std::optional<net::FinishGate> apiGate_;
    review::ReviewManager* outputReview_ = nullptr;
    std::unique_ptr<review::Review> outputDraft_;
    std::chrono::seconds outputTimeout_{900};
    std::size_t maxHeld_ = 0;
    std::string held_;
    bool heldTooLarge_ = false;
    std::optional<std::string> heldFinal_;
    std::chrono::milliseconds keepAlive_{15'000};
    std::chrono::steady_clock::time_point lastToClient_{};  // a held stream's last bytes to the client
    bool heldCommentable_ = false;  // the held answer is a successful event stream: comments fit in it
    std::optional<net::FinishGate> refusalGate_;  // the refusal's own recording
    bool refusalAnswered_ = false;  // asked again: the refusal itself could not be recorded
    bool outputReleased_ = false;   // the output review released the answer (a later refusal is the recording's)
    net::ExchangeOutcome heldOutcome_;
    std::optional<std::pair<DetailsCode, std::string>> refusal_;
    // The output review's verdict, written by the deciding thread, read by this one.
    struct OutputVerdict {
        std::mutex mutex;
        std::optional<std::pair<DetailsCode, std::string>> refusal;  // none: approved
    };
    std::shared_ptr<OutputVerdict> outputVerdict_;

    // Why the held answer is not delivered (set once the gate closed without release).
    void takeOutputVerdict() {
        if (!outputVerdict_ || refusal_ || outputReleased_) return;
        std::lock_guard lock(outputVerdict_->mutex);
        // Approved, but the gate closed anyway: the caller left before the answer went out.
        refusal_ = outputVerdict_->refusal ? *outputVerdict_->refusal
                                           : std::make_pair(DetailsCode::ReviewCancelled,
                                                            std::string("the caller left before the approved answer was delivered"));
    }
};

// Who may use the gateway's API: the recording is for auditors and admins; the reviews
// and the live events also for approvers (and the approver roles the policy names);
// deciding a review is open to every caller, and the review itself says who may.
class ApiRoleFilter final : public RequestFilter {
public:
    explicit ApiRoleFilter(std::function<std::vector<std::string>()> reviewReaders) : reviewReaders_(std::move(reviewReaders)) {}
    std::string_view name() const override { return "authorize-api"; }
    FilterStatus onRequest(RequestContext& context) const override {
        static const std::vector<std::string> kRecording = {"auditor", "admin"};
        const auto path = context.request->path();
        const bool reviews = path == "/api/reviews" || path.starts_with("/api/reviews/") || path == "/api/events";
        if (reviews && context.request->method == "POST" && context.identity) return FilterStatus::Continue;
        if (path == "/api/me" && context.identity) return FilterStatus::Continue;  // who am I: anyone signed in
        auto allowed = kRecording;
        std::string what = "read the recording";
        if (reviews) {
            allowed = reviewReaders_();
            what = "see the reviews";
        }
        if (context.identity && context.identity->hasAnyRole(allowed)) return FilterStatus::Continue;
        std::string roles, allowedText;
        if (context.identity) {
            for (const auto& r : context.identity->roles) roles += (roles.empty() ? "" : ", ") + r;
        }
        for (const auto& r : allowed) allowedText += (allowedText.empty() ? "" : ", ") + r;
        context.localReply = LocalReply{DetailsCode::RoleNotAllowed,
                                        "'" + (context.identity ? context.identity->subject : std::string("anonymous")) +
                                            "' (roles: " + (roles.empty() ? std::string("none") : roles) + ") may not " +
                                            what + " (allowed: " + allowedText + ")"};
        return FilterStatus::LocalReply;
    }

private:
    std::function<std::vector<std::string>()> reviewReaders_;
};

// X-Vigil-Session: a conversation belongs to the caller that began it; another caller's
// request naming it is refused (and recorded in a session of its own).
class SessionOwnerFilter final : public RequestFilter {
public:
    explicit SessionOwnerFilter(std::shared_ptr<SessionOwners> owners) : owners_(std::move(owners)) {}
    std::string_view name() const override { return "session-owner"; }
    FilterStatus onRequest(RequestContext& context) const override {
        if (!context.identity || !context.sessionNamed) return FilterStatus::Continue;
        const auto claim = owners_->claim(context.sessionId, auth::callerKey(*context.identity), context.identity->subject);
        if (claim == SessionOwners::Claim::Granted) return FilterStatus::Continue;
        const auto named = context.sessionId;
        context.sessionId = context.ownSessionId;
        context.sessionNamed = false;
        if (claim == SessionOwners::Claim::Unavailable) {
            context.localReply = LocalReply{DetailsCode::RecordingUnavailable,
                                            "the gateway cannot tell whose session '" + named + "' is (the store cannot be read)"};
            return FilterStatus::LocalReply;
        }
        context.localReply = LocalReply{DetailsCode::SessionConflict,
                                        "X-Vigil-Session '" + named +
                                            "' is a session another caller started; name a session of your own "
                                            "(or send none: each request is then its own session)"};
        return FilterStatus::LocalReply;
    }

private:
    std::shared_ptr<SessionOwners> owners_;
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
        context_.streamStarted = streamStarted;
        return pipeline_.continueChain(std::move(context_), next_);
    }
    net::Action expire(const net::RequestView& request) override {
        context_.request = &request;
        context_.streamStarted = streamStarted;
        return pipeline_.expireParked(std::move(context_), next_);
    }
    void abandon(const net::RequestView& request) override {
        context_.request = &request;
        context_.streamStarted = streamStarted;
        pipeline_.abandonParked(std::move(context_));
    }
    std::optional<Heartbeat> heartbeat() const override { return heartbeat_; }
    void setHeartbeat(Heartbeat h) { heartbeat_ = std::move(h); }

private:
    Pipeline& pipeline_;
    RequestContext context_;
    std::size_t next_;
    std::optional<Heartbeat> heartbeat_;
};

// Slow work for one request (an evidence export) on a thread of its own: the request is
// parked meanwhile, so the connection's I/O thread keeps serving its other connections.
class BackgroundWork final : public net::ParkedRequest {
public:
    // The work reads `cancelled` as it goes: set when the client leaves or the deadline
    // passes, since nobody will take the answer then.
    using Work = std::function<net::LocalResponse(const std::atomic<bool>& cancelled)>;
    BackgroundWork(Work work, std::unique_ptr<net::ExchangeObserver> observer, std::string requestId)
        : state_(std::make_shared<State>()), observer_(std::move(observer)), requestId_(std::move(requestId)) {
        deadline = std::chrono::minutes(10);
        std::thread([state = state_, work = std::move(work), id = requestId_] {
            observe::nameThisThread("vigil-work");
            net::LocalResponse response;
            try {
                response = work(state->cancelled);
            } catch (const std::exception& e) {
                response = errorResponse(DetailsCode::InternalError, e.what(), id);
            }
            {
                std::lock_guard lock(state->mutex);
                state->response = std::move(response);
            }
            state->signal.wake();
        }).detach();
    }
    void setWaker(std::function<void()> wake) override { state_->signal.setWaker(std::move(wake)); }
    net::Action resume(const net::RequestView&) override {
        net::Action action;
        {
            std::lock_guard lock(state_->mutex);
            action.local = std::move(*state_->response);
        }
        action.observer = std::move(observer_);
        return action;
    }
    net::Action expire(const net::RequestView&) override {
        state_->cancelled = true;
        net::Action action;
        action.local = errorResponse(DetailsCode::ParkTimeout, "the work for this request took longer than 10 minutes", requestId_);
        action.observer = std::move(observer_);
        return action;
    }
    // The client left: the work stops at its next check, and the request ends as 499.
    void abandon(const net::RequestView&) override {
        state_->cancelled = true;
        if (!observer_) return;
        net::ExchangeOutcome gone;
        gone.status = 499;  // "client closed request", as for any request left waiting
        gone.clientAborted = true;
        observer_->onComplete(gone);
        observer_.reset();
    }

private:
    struct State {
        std::mutex mutex;
        std::optional<net::LocalResponse> response;
        net::WakeSignal signal;
        std::atomic<bool> cancelled{false};
    };
    std::shared_ptr<State> state_;
    std::unique_ptr<net::ExchangeObserver> observer_;
    std::string requestId_;
};

std::int64_t unixMicrosNow() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// True when any `name` field of the request lists `token` (a comma-separated header).
bool headerListHas(const net::RequestView& request, std::string_view name, std::string_view token) {
    for (const auto& h : request.headers) {
        if (net::equalsIgnoreCase(h.name, name) && net::listedInHeaderList(h.value, token)) return true;
    }
    return false;
}

std::size_t headerCount(const net::RequestView& request, std::string_view name) {
    std::size_t n = 0;
    for (const auto& h : request.headers) n += net::equalsIgnoreCase(h.name, name) ? 1 : 0;
    return n;
}

// RFC 6455 4.2.1: what the opening handshake must carry. Empty when it is acceptable, else
// why not, so that the client gets the gateway's JSON error, not Beast's plain text.
std::string webSocketHandshakeProblem(const net::RequestView& request) {
    if (request.version != 11) return "a WebSocket upgrade needs HTTP/1.1";
    if (!headerListHas(request, "upgrade", "websocket")) {
        return "/api/events is a WebSocket endpoint: connect with Upgrade: websocket";
    }
    if (!headerListHas(request, "connection", "upgrade")) {
        return "a WebSocket upgrade needs Connection: Upgrade";
    }
    if (headerCount(request, "sec-websocket-key") != 1) {
        return "a WebSocket upgrade needs one Sec-WebSocket-Key header";
    }
    // 16 random bytes in base64: 22 characters of the alphabet and "==".
    const auto key = request.header("sec-websocket-key");
    bool wellFormed = key.size() == 24 && key.substr(22) == "==" &&
                      std::string_view("AQgw").find(key[21]) != std::string_view::npos;
    for (std::size_t i = 0; wellFormed && i < 22; ++i) {
        const char c = key[i];
        wellFormed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    }
    if (!wellFormed) return "Sec-WebSocket-Key must be 16 bytes in base64 (24 characters), RFC 6455 4.1";
    return {};
}

}  // namespace

bool isValidRequestId(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == ':' || c == '-';
    });
}

std::string newRequestId() {
    // Time-ordered, like a UUIDv7: 48 bits of Unix milliseconds, then 80 random bits. The
    // store's indexes keyed by session id (a request's id unless the client names one) then
    // grow at their end instead of touching a random page of a large B-tree per request.
    // The random bits come from OpenSSL's CSPRNG: a session id must not be guessable.
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id(32, '0');
    auto millis = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    for (std::size_t k = 12; k-- > 0; millis >>= 4) id[k] = kHex[millis & 0xF];
    unsigned char random[10];
    if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("no random bytes for a request id");
    for (std::size_t k = 0; k < sizeof random; ++k) {
        id[12 + 2 * k] = kHex[random[k] >> 4];
        id[13 + 2 * k] = kHex[random[k] & 0xF];
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
                   RecordingSetup recording,
                   ReviewSetup reviews)
    : config_(std::move(config)),
      metrics_(std::move(metrics)),
      recording_(std::move(recording)),
      reviews_(std::move(reviews)),
      policy_(policy),
      usage_(usage),
      tokens_(tokens),
      apiKeys_(apiKeys) {
    chain_.add(std::make_unique<route::RouteFilter>(*config_));
    chain_.add(std::make_unique<auth::AuthFilter>(*config_, tokens, apiKeys));
    if (recording_.sessionOwners) chain_.add(std::make_unique<SessionOwnerFilter>(recording_.sessionOwners));
    chain_.add(std::make_unique<auth::RoleFilter>(*config_));
    chain_.add(std::make_unique<inspect::InspectFilter>(*config_));
    if (policy) {
        chain_.add(std::make_unique<policy::DecideFilter>(
            *config_, std::move(policy), std::move(usage), metrics_, [] { return std::chrono::system_clock::now(); },
            reviews_.manager != nullptr));
    }
    for (const auto& c : config_->connections) {
        ConnectionRuntime runtime{"Bearer " + c.credential, forward::CredentialScrubber(c.credential), {}};
        if (c.organization) runtime.setHeaders.push_back({"OpenAI-Organization", *c.organization});
        if (c.project) runtime.setHeaders.push_back({"OpenAI-Project", *c.project});
        connections_.push_back(std::move(runtime));
    }
    apiChain_.add(std::make_unique<auth::AuthFilter>(*config_, tokens, apiKeys));
    apiChain_.add(std::make_unique<ApiRoleFilter>([policy = policy_] { return reviewReadersOf(policy.get()); }));
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
        if (recording_.recorder) observe::appendRecordingMetrics(action.local.body, recording_.recorder->stats());
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
    if (path == "/api/auth/config") {
        if (request.method != "GET" && request.method != "HEAD") {
            net::Action action;
            action.local = errorResponse(DetailsCode::MethodNotAllowed, "/api/auth/config accepts GET only", requestId);
            action.local.headers.push_back({"Allow", "GET, HEAD"});
            return action;
        }
        // Public: how the console signs people in (the identity providers this gateway
        // trusts, the audience its tokens need, the console's public client id).
        std::string body = R"({"issuers":[)";
        bool first = true;
        for (const auto& issuer : config_->identity.issuers) {
            if (!first) body += ',';
            first = false;
            JsonObjectWriter w;
            w.str("issuer", issuer.issuer)
                .str("audience", issuer.audiences.empty() ? std::string() : issuer.audiences.front())
                .str("console_client_id", "vigil-console")
                .str("scope", "openid api");
            body += w.take();
        }
        body += "]}";
        net::Action action;
        action.local = jsonResponse(200, std::move(body), requestId);
        action.local.headers.push_back({"Cache-Control", "no-store"});
        return action;
    }

    // A header that holds one value, given twice (or given empty where a value is needed):
    // which one counts would depend on who reads it. Refused rather than guessed.
    for (const std::string_view name : {std::string_view("authorization"), std::string_view("x-vigil-session")}) {
        int seen = 0;
        bool empty = false;
        for (const auto& h : request.headers) {
            if (h.name.size() == name.size() && net::equalsIgnoreCase(h.name, name)) {
                ++seen;
                empty = empty || h.value.find_first_not_of(" \t") == std::string_view::npos;
            }
        }
        if (seen > 1 || (empty && name == "x-vigil-session")) {
            const std::string shown = name == "authorization" ? "Authorization" : "X-Vigil-Session";
            net::Action action;
            action.local = errorResponse(DetailsCode::InvalidRequest,
                                         seen > 1 ? shown + " may be given once (it was given " + std::to_string(seen) + " times)"
                                                  : shown + " is empty: give a session id or leave the header out",
                                         requestId);
            return action;
        }
    }

    RequestContext context;
    context.request = &request;
    context.received = Clock::now();
    if (path.starts_with("/api/") && (recording_.api || reviews_.api)) {
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
    if (session == record::kGatewaySession) {
        net::Action action;
        action.local = errorResponse(DetailsCode::InvalidRequest,
                                     "X-Vigil-Session 'gateway' is reserved for the gateway's own events", requestId);
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
    context.ownSessionId = requestId == clientId ? newRequestId() : requestId;
    context.sessionNamed = !session.empty();
    context.sessionId = session.empty() ? context.ownSessionId : std::string(session);
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
    masker->keepLogprobs();  // a request's logprobs asks for them; it holds no text
    // A body the inspect stage read as an API's JSON is masked as JSON whatever type the
    // caller gave it: the upstream may read it as JSON all the same.
    const bool inspectedJson = context.facts && context.facts->api != inspect::RequestFacts::Api::Other;
    std::string masked;
    masker->maskBody(inspectedJson ? std::string_view("application/json") : request.header("content-type"), request.body,
                     masked);
    if (masker->summary().empty() && masker->rewrites() == 0) return nullptr;
    context.maskedBody = std::move(masked);
    return masker;
}

static void recordMasking(SessionRecording* recording, const mask::BodyMasker* masker, std::string_view direction) {
    if (recording == nullptr || masker == nullptr) return;
    recording->masked(direction, masker->profile().spec().name, masker->summary().total(), masker->summary().toJson());
}

std::vector<std::string> Pipeline::reviewReadersOf(const policy::PolicySource* policy) {
    std::vector<std::string> allowed = {"auditor", "approver", "admin"};
    for (auto& r : reviewRolesOf(policy)) {
        if (std::find(allowed.begin(), allowed.end(), r) == allowed.end()) allowed.push_back(std::move(r));
    }
    return allowed;
}

std::vector<std::string> Pipeline::reviewRolesOf(const policy::PolicySource* source) {
    std::vector<std::string> roles;
    if (source == nullptr) return roles;
    const auto policy = source->current();
    for (const auto& rule : policy->rules) {
        if (!rule.review) continue;
        for (const auto& r : rule.review->approverRoles) {
            if (std::find(roles.begin(), roles.end(), r) == roles.end()) roles.push_back(r);
        }
    }
    return roles;
}

net::Action Pipeline::answerApi(RequestContext& context) {
    net::Action action;
    auto exchange = std::make_unique<Exchange>(*metrics_, *context.request, context.requestId, std::nullopt, "", nullptr, false);
    const auto path = context.request->path();
    if (context.localReply) {
        exchange->setCode(context.localReply->code);
        action.local = errorResponse(context.localReply->code, context.localReply->message, context.requestId, &*context.localReply);
    } else if (path == "/api/events" && reviews_.bus) {
        std::optional<std::int64_t> after;
        bool summaries = true;
        const auto query = context.request->target.size() > path.size() ? context.request->target.substr(path.size() + 1)
                                                                         : std::string_view();
        const auto parsed = api::parseQuery(query);
        std::string problem;
        if (!parsed) problem = "the query string is malformed";
        if (const auto shape = parsed ? api::repeatedOrEmpty(*parsed, {"after", "summaries"}) : std::nullopt) problem = shape->message;
        for (const auto& [name, value] : parsed && problem.empty() ? *parsed : std::multimap<std::string, std::string>{}) {
            if (name == "summaries") {
                if (value != "true" && value != "false") {
                    problem = "'summaries' must be true or false (got '" + value + "')";
                    break;
                }
                summaries = value == "true";
                continue;
            }
            if (name != "after") {
                problem = "unknown parameter '" + name + "' (known: after, summaries)";
                break;
            }
            std::int64_t v = 0;
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (ec != std::errc() || end != value.data() + value.size() || v < 0) {
                problem = "'after' must be the sequence number of the last event received (got '" + value + "')";
                break;
            }
            after = v;
        }
        if (context.request->method != "GET") {
            action.local = errorResponse(DetailsCode::MethodNotAllowed, "/api/events accepts GET (a WebSocket upgrade) only",
                                         context.requestId);
            action.local.headers.push_back({"Allow", "GET"});
        } else if (!problem.empty()) {
            action.local = errorResponse(DetailsCode::InvalidRequest, problem, context.requestId);
        } else if (const auto handshake = webSocketHandshakeProblem(*context.request); !handshake.empty()) {
            action.local = errorResponse(DetailsCode::InvalidRequest, handshake, context.requestId);
        } else if (const auto version = context.request->header("sec-websocket-version");
                   version != "13" || headerCount(*context.request, "sec-websocket-version") != 1) {
            exchange->setCode(DetailsCode::WebSocketVersionUnsupported);
            action.local = errorResponse(DetailsCode::WebSocketVersionUnsupported,
                                         "the gateway speaks WebSocket version 13 (RFC 6455); the client asked for '" +
                                             std::string(version) + "'",
                                         context.requestId);
            action.local.headers.push_back({"Sec-WebSocket-Version", "13"});
        } else if (auto slot = reviews_.sockets ? reviews_.sockets->take(context.identity->issuer + " " + context.identity->subject)
                                                : std::shared_ptr<void>();
                   reviews_.sockets && !slot) {
            action.local = errorResponse(DetailsCode::RateLimited,
                                         context.identity->subject + " has " + std::to_string(reviews_.sockets->perIdentity()) +
                                             " event sockets open (reviews.max_event_sockets_per_identity); close one first",
                                         context.requestId);
            action.local.headers.push_back({"Retry-After", "30"});
        } else {
            static const std::vector<std::string> kWatchers = {"auditor", "admin"};
            action.kind = net::Action::Kind::Upgrade;
            // The socket outlives the handshake's check: it checks the credential again as it
            // goes (a key revoked, a token expired, the reviewing roles taken away by a reload).
            api::StillAllowed stillAllowed = [tokens = tokens_, apiKeys = apiKeys_, policy = policy_,
                                              credential = std::string(auth::bearerCredential(context.request->header("authorization"))),
                                              watcher = context.identity->hasAnyRole(kWatchers)]() -> std::optional<std::string> {
                if (!tokens || !apiKeys) return std::nullopt;
                const auto check = auth::recheckCredential(credential, *tokens, *apiKeys, std::chrono::system_clock::now());
                if (!check.identity) return check.problem;
                if (!check.identity->hasAnyRole(reviewReadersOf(policy.get()))) return std::string("role_not_allowed");
                // Following sessions was granted to an auditor or admin at the handshake.
                if (watcher && !check.identity->hasAnyRole(kWatchers)) return std::string("role_not_allowed");
                return std::nullopt;
            };
            action.webSocket = api::makeEventsSocket(reviews_.bus, after, context.identity->subject,
                                                     context.identity->hasAnyRole(kWatchers), reviews_.maxReplayBytes, summaries,
                                                     std::move(stillAllowed), std::move(slot));
            observe::LogLine(observe::LogLevel::Info, "events connected")
                .str("request_id", context.requestId)
                .str("subject", context.identity->subject)
                .num("after", after.value_or(-1))
                .flag("summaries", summaries);
            // Logged and counted as a request once the handshake is answered (101).
            exchange->setIdentity(context.identity);
            action.observer = std::move(exchange);
            return action;
        }
    } else if (path == "/api/me") {
        // Who the caller is, as the gateway sees it (the console shows it and its roles).
        const auto& who = *context.identity;
        if (context.request->method != "GET" && context.request->method != "HEAD") {
            action.local = errorResponse(DetailsCode::MethodNotAllowed, "/api/me accepts GET only", context.requestId);
            action.local.headers.push_back({"Allow", "GET, HEAD"});
        } else {
            JsonObjectWriter me;
            me.str("subject", who.subject)
                .str("issuer", who.issuer)
                .str("method", auth::methodName(who.method))
                .strings("roles", who.roles)
                .strings("groups", who.groups)
                .strings("approver_roles", reviewRolesOf(policy_.get()));
            action.local = jsonResponse(200, me.take(), context.requestId);
            action.local.headers.push_back({"Cache-Control", "no-store"});
        }
    } else if ((path == "/api/reviews" || path.starts_with("/api/reviews/")) && reviews_.api) {
        auto answer = reviews_.api->handle(*context.request, context.requestId, *context.identity);
        action.local = std::move(answer.response);
        exchange->setGate(std::move(answer.durable));
    } else if (path == "/api/evidence" && recording_.evidence) {
        auto prepared = recording_.evidence->prepare(*context.request, context.requestId, *context.identity);
        if (prepared.answer) {
            action.local = std::move(*prepared.answer);
        } else {
            exchange->setIdentity(std::move(context.identity));
            action.kind = net::Action::Kind::Park;
            action.parked = std::make_shared<BackgroundWork>(std::move(prepared.work), std::move(exchange), context.requestId);
            return action;
        }
    } else if (recording_.api) {
        action.local = recording_.api->handle(*context.request, context.requestId);
    } else {
        action.local = errorResponse(DetailsCode::NotFound, "no such endpoint: " + std::string(path), context.requestId);
    }
    exchange->setIdentity(std::move(context.identity));
    action.observer = std::move(exchange);
    return action;
}

std::shared_ptr<SessionRecording> Pipeline::beginRecording(RequestContext& context) {
    if (context.recording) return context.recording;
    // A caller not identified may not add to a named session: its request is its own.
    if (!context.identity && !context.ownSessionId.empty()) context.sessionId = context.ownSessionId;
    const auto requestMasker = maskRequest(context);
    std::shared_ptr<SessionRecording> recording = startRecording(context);
    recordMasking(recording.get(), requestMasker.get(), "request");
    if (recording && reviews_.bus) {
        JsonObjectWriter started;
        started.str("session_id", context.sessionId)
            .str("request_id", context.requestId)
            .str("method", context.request->method)
            .str("path", context.request->path());
        if (context.identity) started.str("subject", context.identity->subject);
        if (context.connection) started.str("connection", config_->connections[*context.connection].name);
        if (context.facts) started.str("model", context.facts->model);
        if (context.decision) started.str("decision", policy::actionName(context.decision->action));
        reviews_.bus->publish("session.started", started.take());
    }
    context.recording = recording;
    return recording;
}

net::Action Pipeline::continueChain(RequestContext context, std::size_t next) {
    const auto status = (context.api ? apiChain_ : chain_).run(context, next);
    if (context.api && status != FilterStatus::Park) return answerApi(context);
    if (status == FilterStatus::Park) {
        net::Action action;
        action.kind = net::Action::Kind::Park;
        action.parked = std::make_shared<ParkedChain>(*this, std::move(context), next);
        return action;
    }
    if (status == FilterStatus::LocalReply) return answerLocally(context);
    if (context.decision && context.decision->action == policy::Action::Review && reviews_.manager &&
        context.releasedReview.empty()) {
        return reviewGate(context, next);
    }
    return forwardNow(context);
}

net::Action Pipeline::answerLocally(RequestContext& context) {
    net::Action action;
    const net::RequestView& request = *context.request;
    const std::string_view name =
        context.connection ? std::string_view(config_->connections[*context.connection].name) : std::string_view();
    const auto& reply = *context.localReply;
    auto exchange = std::make_unique<Exchange>(*metrics_, request, context.requestId, context.connection, name, nullptr, false);
    exchange->setCode(reply.code);
    exchange->setRecording(beginRecording(context));
    exchange->setBus(reviews_.bus.get());
    exchange->setIdentity(context.identity);
    action.local = errorResponse(reply.code, reply.message, context.requestId, &reply);
    if (context.streamStarted) {
        // The caller already has the head of an event stream (review keep-alives): the
        // answer ends it as an error event, which the OpenAI SDKs raise as an APIError.
        action.local.status = 200;
        action.local.body = errorEvent(reply.code, reply.message);
        action.local.continuesStream = true;
    }
    if (recording_.recorder) action.local.headers.push_back({"X-Vigil-Session", context.sessionId});
    if (context.decision) {
        action.local.headers.push_back({"X-Vigil-Policy-Version", context.decision->policyVersion});
        exchange->setDecision(std::move(context.decision));
    }
    action.observer = std::move(exchange);
    return action;
}

net::Action Pipeline::forwardNow(RequestContext& context) {
    net::Action action;
    const net::RequestView& request = *context.request;
    const std::size_t index = *context.connection;
    const std::string_view name = config_->connections[index].name;
    const auto& runtime = connections_[index];
    action.kind = net::Action::Kind::Forward;
    action.forward.upstream = index;
    action.forward.target = context.upstreamTarget;
    action.forward.dropHeaders = kDroppedHeaders;
    action.forward.setHeaders = {{"X-Request-Id", context.requestId}};
    for (const auto& h : runtime.setHeaders) action.forward.setHeaders.push_back(h);
    action.forward.credentialHeader = runtime.authorization;
    action.forward.continuesStream = context.streamStarted;
    const auto& profile = context.decision ? context.decision->maskProfile : nullptr;
    const bool maskResponse = profile && profile->spec().responses;
    if (maskResponse) {
        action.forward.dropHeaders = kDroppedHeadersMasked;
        action.forward.setHeaders.push_back({"Accept-Encoding", "identity"});
    }
    auto recording = beginRecording(context);
    if (recording && !context.releasedReview.empty()) {
        recording->note("review.released", JsonObjectWriter().str("review_id", context.releasedReview).take());
    }
    if (context.maskedBody) action.forward.body = std::move(context.maskedBody);
    if (recording) recording->upstreamStarted(name, action.forward.target);
    auto exchange = std::make_unique<Exchange>(*metrics_, request, context.requestId, index, name, &runtime.scrubber, false);
    if (context.decision && context.decision->outputReview && reviews_.manager) {
        policy::ReviewSpec spec;
        spec.approverRoles = {"approver"};
        if (context.decision->review) spec = *context.decision->review;
        exchange->setOutputReview(reviews_.manager.get(), reviewDraft(context, true), spec.timeout, reviews_.maxOutputBytes,
                                  reviews_.keepAlive);
    }
    exchange->setMaxEventBytes(config_->limits.maxResponseBytes);
    exchange->setRecording(std::move(recording));
    exchange->setBus(reviews_.bus.get());
    exchange->setIdentity(std::move(context.identity));
    if (maskResponse) exchange->setMasking(profile, maskingKey_);
    exchange->setDecision(std::move(context.decision));
    action.observer = std::move(exchange);
    return action;
}

review::Review Pipeline::reviewDraft(const RequestContext& context, bool output) const {
    review::Review r;
    const auto& d = *context.decision;
    policy::ReviewSpec spec;
    spec.approverRoles = {"approver"};
    if (d.review) spec = *d.review;
    r.kind = output ? review::Review::Kind::Output : review::Review::Kind::Request;
    r.mode = !output && spec.mode == policy::ReviewSpec::Mode::Ticket ? review::Review::Mode::Ticket : review::Review::Mode::Hold;
    r.sessionId = context.sessionId;
    r.requestId = context.requestId;
    if (context.identity) {
        r.requester.subject = context.identity->subject;
        r.requester.issuer = context.identity->issuer;
        r.requester.method = std::string(auth::methodName(context.identity->method));
        r.requester.roles = context.identity->roles;
        r.requester.groups = context.identity->groups;
    }
    if (context.connection) r.connection = config_->connections[*context.connection].name;
    r.method = std::string(context.request->method);
    r.path = std::string(context.request->path());
    r.target = std::string(context.request->target);
    r.rules = d.rules;
    r.ruleMessage = d.message;
    if (policy_ && !d.rules.empty()) {
        const auto policy = policy_->current();
        for (const auto& rule : policy->rules) {
            if (rule.id == d.rules.front() && policy->version == d.policyVersion) r.ruleDescription = rule.description;
        }
    }
    r.policyVersion = d.policyVersion;
    r.approverRoles = spec.approverRoles;
    r.quorum = spec.quorum;
    for (const auto& req : spec.requirements) r.requirements.push_back({req.rule, req.approverRoles, req.quorum});
    r.bodySha256 = crypto::toHex(crypto::sha256(context.request->body));
    for (const auto& m : d.matches) {
        r.matches.push_back({{"rule", m.rule},
                             {"kind", m.regex ? "regex" : "keywords"},
                             {"condition", m.condition},
                             {"expression", m.expression},
                             {"case_insensitive", m.caseless},
                             {"message", m.message},
                             {"end", m.end}});
    }
    if (context.facts) {
        const auto& f = *context.facts;
        r.model = f.model;
        r.tools = f.tools;
        r.stream = f.stream;
        r.estimatedTokens = f.estimatedPromptTokens;
        r.maxTokens = f.maxTokens;
        r.estimatedCost = f.estimatedCost;
        // The prompt as the policy saw it, masked when the request profile masks prompts.
        std::unique_ptr<mask::BodyMasker> masker;
        if (d.maskProfile && d.maskProfile->spec().requests) masker = std::make_unique<mask::BodyMasker>(d.maskProfile, maskingKey_);
        for (const auto& m : f.messages) {
            std::string text = m.text;
            if (masker) {
                std::string masked;
                masker->maskText(m.text, masked, "review");
                text = std::move(masked);
            }
            r.messages.push_back({{"role", m.role}, {"text", std::move(text)}});
        }
        // What the approver would not see in the messages: read again, now that it matters.
        inspect::RequestFacts parts;
        parts.collectParts = true;
        if (!inspect::inspectRequest(context.request->method, context.apiPath, context.request->body, {}, parts)) {
            for (auto& p : parts.otherParts) {
                std::string detail = std::move(p.detail);
                if (masker) {
                    std::string masked;
                    masker->maskText(detail, masked, "review");
                    detail = std::move(masked);
                }
                r.otherParts.push_back({{"where", std::move(p.where)}, {"kind", std::move(p.kind)}, {"detail", std::move(detail)}});
            }
            r.otherPartsOmitted = parts.partsOmitted;
        }
    }
    return r;
}

// A request released by its approvers reaches the upstream: it now counts against the
// caller's rate and token budget (it was taken back when it was held). The approval
// stands above the limits, so it is not refused for them; later requests see it.
void Pipeline::countReleased(const RequestContext& context) {
    if (!usage_) return;
    const std::int64_t tokens = context.facts ? context.facts->estimatedPromptTokens : 0;
    (void)usage_->admit(policy::usageSubject(context.identity.get()), tokens, std::chrono::system_clock::now());
}

net::Action Pipeline::reviewGate(RequestContext& context, std::size_t next) {
    auto& manager = *reviews_.manager;
    const auto& decision = *context.decision;
    policy::ReviewSpec spec;
    spec.approverRoles = {"approver"};
    if (decision.review) spec = *decision.review;
    const std::string rule = decision.rules.empty() ? std::string() : decision.rules.front();
    if (!context.reviewId.empty()) {
        // Woken (or the wait ended): the review decides.
        const auto id = context.reviewId;
        auto r = manager.get(id);
        if (r && r->pending()) {
            manager.expireDue();
            r = manager.get(id);
        }
        if (r && r->pending()) {
            manager.cancel(id, "the gateway stopped waiting for a decision");
            r = manager.get(id);
        }
        if (r && r->state == review::Review::State::Approved) {
            context.releasedReview = id;
            countReleased(context);
            return forwardNow(context);
        }
        LocalReply reply{DetailsCode::ReviewCancelled, "review " + id + " was cancelled", {{"review_id", id}, {"rule", rule}}};
        if (r && r->state == review::Review::State::Denied && r->denial) {
            reply.code = DetailsCode::ReviewDenied;
            reply.message = "review " + id + " was denied by '" + r->denial->subject + "': " + r->denial->reason;
        } else if (r && r->state == review::Review::State::Expired) {
            reply.code = DetailsCode::ReviewExpired;
            reply.message = "review " + id + " expired: " + r->endReason;
        }
        reply.fields.push_back({"policy_version", decision.policyVersion});
        context.localReply = std::move(reply);
        return answerLocally(context);
    }
    const std::string connection = config_->connections[*context.connection].name;
    if (spec.mode == policy::ReviewSpec::Mode::Ticket) {
        const auto bodyHash = crypto::toHex(crypto::sha256(context.request->body));
        if (auto released = manager.releaseGrant(context.identity->subject, context.identity->issuer, connection,
                                                 std::string(context.request->method), std::string(context.request->target), bodyHash,
                                                 context.requestId,
                                                 context.sessionId)) {
            context.releasedReview = released->id;
            countReleased(context);
            return forwardNow(context);
        }
    }
    beginRecording(context);
    review::ReviewManager::Refusal why{};
    auto created = manager.create(reviewDraft(context, false), spec.timeout, &why);
    if (!created) {
        auto [code, message] = manager.explain(why);
        context.localReply = LocalReply{code, std::move(message)};
        return answerLocally(context);
    }
    if (spec.mode == policy::ReviewSpec::Mode::Ticket) {
        context.localReply = LocalReply{
            DetailsCode::ReviewRequired,
            decision.message + ": approval is pending as review " + created->id +
                "; once it is approved, send the same request again to have it released (once)",
            {{"rule", rule}, {"review_id", created->id}, {"policy_version", decision.policyVersion}}};
        return answerLocally(context);
    }
    context.reviewId = created->id;
    context.parkedOn = created->signal;
    const bool stream = context.facts && context.facts->stream;
    const auto waitMicros = std::max<std::int64_t>(created->deadlineMicros - unixMicrosNow(), 0);
    net::ParkedRequest::Heartbeat heartbeat;
    if (stream) {
        heartbeat.status = 200;
        heartbeat.headers = {{"Content-Type", "text/event-stream"},
                             {"Cache-Control", "no-cache"},
                             {"X-Request-Id", context.requestId},
                             {"X-Vigil-Review", created->id},
                             {"X-Vigil-Policy-Version", decision.policyVersion}};
        if (recording_.recorder) heartbeat.headers.push_back({"X-Vigil-Session", context.sessionId});
        heartbeat.comment = ": pending review " + created->id + "\n\n";
        heartbeat.interval = reviews_.keepAlive;
    }
    auto parked = std::make_shared<ParkedChain>(*this, std::move(context), next);
    parked->deadline = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::microseconds(waitMicros)) +
                       std::chrono::seconds(2);
    if (stream) parked->setHeartbeat(std::move(heartbeat));
    net::Action action;
    action.kind = net::Action::Kind::Park;
    action.parked = std::move(parked);
    return action;
}

net::Action Pipeline::expireParked(RequestContext context, std::size_t next) {
    if (!context.reviewId.empty()) return continueChain(std::move(context), next);
    context.localReply = LocalReply{DetailsCode::ParkTimeout, "timed out waiting to decide on the request"};
    if (context.api) return answerApi(context);
    return answerLocally(context);
}

void Pipeline::abandonParked(RequestContext context) {
    if (!context.reviewId.empty() && reviews_.manager) {
        reviews_.manager->cancel(context.reviewId, "the caller disconnected while the request waited");
    }
    if (context.api) return;
    const std::string_view name =
        context.connection ? std::string_view(config_->connections[*context.connection].name) : std::string_view();
    Exchange exchange(*metrics_, *context.request, context.requestId, context.connection, name, nullptr, false);
    exchange.setCode(context.reviewId.empty() ? DetailsCode::ParkTimeout : DetailsCode::ReviewCancelled);
    exchange.setRecording(beginRecording(context));
    exchange.setBus(reviews_.bus.get());
    exchange.setIdentity(context.identity);
    exchange.setDecision(context.decision);
    net::ExchangeOutcome outcome;
    // Nothing was sent (or only a stream's head): the log, the metrics and the recording say
    // 499, "client closed request" as nginx names it, as the docs promise.
    outcome.status = context.streamStarted ? 200 : 499;
    outcome.requestBytes = context.request->body.size();
    outcome.duration = Clock::now() - context.received;
    outcome.clientAborted = true;
    exchange.onComplete(outcome);
}

// A request the server could not read is an interaction too: it is answered, logged,
// counted and recorded (in a session of its own: nobody vouches for it, so no identity, no
// X-Vigil-Session, and no body, of which the gateway has read at most part).
net::Action Pipeline::rejected(DetailsCode code, std::string_view message, const net::RequestView* request,
                               std::string_view clientAddress) {
    net::RequestView unread;  // the headers could not be read: what is known of the request
    unread.clientAddress = clientAddress;
    RequestContext context;
    context.request = request != nullptr ? request : &unread;
    context.received = Clock::now();
    if (request != nullptr && isValidRequestId(request->header("x-request-id"))) {
        context.requestId = std::string(request->header("x-request-id"));
        context.ownSessionId = newRequestId();  // never a session the client chose
    } else {
        context.requestId = newRequestId();
        context.ownSessionId = context.requestId;
    }
    context.sessionId = context.ownSessionId;
    auto exchange = std::make_unique<Exchange>(*metrics_, *context.request, context.requestId, std::nullopt, "", nullptr, false);
    exchange->setCode(code);
    net::Action action;
    action.local = errorResponse(code, message, context.requestId);
    if (recording_.recorder && recording_.recorder->accepting()) {
        exchange->setRecording(beginRecording(context));
        action.local.headers.push_back({"X-Vigil-Session", context.sessionId});
    }
    exchange->setBus(reviews_.bus.get());
    action.observer = std::move(exchange);
    return action;
}

}  // namespace vigil::chain

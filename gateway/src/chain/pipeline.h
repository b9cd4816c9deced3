#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "auth/api_keys.h"
#include "auth/token_verifier.h"
#include "chain/filter.h"
#include "chain/session_owners.h"
#include "chain/session_recording.h"
#include "config/gateway_config.h"
#include "forward/credential_scrubber.h"
#include "net/http_types.h"
#include "observe/metrics.h"

namespace vigil::policy {
class PolicySource;
class UsageTracker;
}

namespace vigil::mask {
class BodyMasker;
}

namespace vigil::api {
class RecordingApi;
class ReviewApi;
class EvidenceApi;
class EventSocketQuota;
}

namespace vigil::review {
class ReviewManager;
struct Review;
}

namespace vigil::events {
class EventBus;
}

namespace vigil::chain {

struct RecordingSetup {
    std::shared_ptr<record::Recorder> recorder;  // null: nothing is recorded (unit tests)
    SessionRecording::Durability durability = SessionRecording::Durability::Strict;
    std::shared_ptr<api::RecordingApi> api;      // /api/sessions...; null: no API
    std::shared_ptr<api::EvidenceApi> evidence;  // /api/evidence; null: none
    std::shared_ptr<SessionOwners> sessionOwners;  // X-Vigil-Session: one caller's; null: not checked
};

// The review gate (docs/reviews.md): without a manager, a review decision is answered
// 403 review_required and nothing waits.
struct ReviewSetup {
    std::shared_ptr<review::ReviewManager> manager;
    std::shared_ptr<events::EventBus> bus;    // session.started / session.ended; /api/events
    std::shared_ptr<api::ReviewApi> api;      // /api/reviews
    std::chrono::milliseconds keepAlive{15'000};  // comments to a streaming caller that waits
    std::size_t maxOutputBytes = 1024 * 1024;     // output review: the most an answer held may be
    // A reconnecting /api/events client is replayed at most this many bytes of missed events
    // (else it gets stream.gap and reloads): half its queue bound, so a replay never
    // overflows the queue and gets the client dropped again.
    std::size_t maxReplayBytes = 2 * 1024 * 1024;
    std::shared_ptr<api::EventSocketQuota> sockets;  // /api/events sockets per identity (none: no limit)
};

// The gateway's request path: the gateway's own endpoints (/healthz, /readyz, /metrics),
// then the request stages in order, then forwarding to the chosen connection with its
// credential. Built once from the configuration; shared by every worker thread.
class Pipeline final : public net::RequestHandler {
public:
    Pipeline(std::shared_ptr<const config::GatewayConfig> config,
             std::shared_ptr<observe::Metrics> metrics,
             std::shared_ptr<auth::TokenVerifier> tokens,
             std::shared_ptr<const auth::ApiKeyRegistry> apiKeys,
             std::shared_ptr<const policy::PolicySource> policy = nullptr,
             std::shared_ptr<policy::UsageTracker> usage = nullptr,
             RecordingSetup recording = {},
             ReviewSetup reviews = {});

    net::Action handle(const net::RequestView& request) override;
    net::Action rejected(DetailsCode code, std::string_view message, const net::RequestView* request,
                         std::string_view clientAddress) override;
    void onShutdownStarted() override { draining_.store(true); }
    // The key of the masking profiles' hash operator (set before serving).
    void setMaskingKey(std::string key) { maskingKey_ = std::move(key); }

    // Headers a client sends that never reach the upstream.
    static std::span<const std::string_view> droppedClientHeaders();

    // Runs the stages from `next` on and turns the outcome into the server's next step.
    net::Action continueChain(RequestContext context, std::size_t next);
    net::Action expireParked(RequestContext context, std::size_t next);
    // The caller of a parked request went away.
    void abandonParked(RequestContext context);

private:
    struct ConnectionRuntime {
        std::string authorization;  // "Bearer <credential>"
        forward::CredentialScrubber scrubber;
        net::Headers setHeaders;  // OpenAI-Organization, OpenAI-Project when configured
    };

    net::Action builtin(const net::RequestView& request, std::string requestId);
    net::Action answerApi(RequestContext& context);
    std::unique_ptr<SessionRecording> startRecording(const RequestContext& context);
    // The request's recording: the one begun when it was held, or a new one (with the
    // masking of its prompt, and session.started on the event bus).
    std::shared_ptr<SessionRecording> beginRecording(RequestContext& context);
    net::Action answerLocally(RequestContext& context);
    net::Action forwardNow(RequestContext& context);
    net::Action reviewGate(RequestContext& context, std::size_t next);
    void countReleased(const RequestContext& context);
    review::Review reviewDraft(const RequestContext& context, bool output) const;
    // The roles some review rule names as approvers; the roles that may read the reviews
    // (auditor, approver, admin and those).
    static std::vector<std::string> reviewRolesOf(const policy::PolicySource* policy);
    static std::vector<std::string> reviewReadersOf(const policy::PolicySource* policy);
    // Masks the prompt when the decided profile says so; returns what it masked, for the recording.
    std::unique_ptr<mask::BodyMasker> maskRequest(RequestContext& context) const;

    std::shared_ptr<const config::GatewayConfig> config_;
    std::shared_ptr<observe::Metrics> metrics_;
    FilterChain chain_;
    FilterChain apiChain_;  // authenticate, then the auditor/admin check
    std::vector<ConnectionRuntime> connections_;
    RecordingSetup recording_;
    ReviewSetup reviews_;
    std::shared_ptr<const policy::PolicySource> policy_;
    std::shared_ptr<policy::UsageTracker> usage_;  // rates and budgets; null without a policy
    std::shared_ptr<auth::TokenVerifier> tokens_;           // open event sockets check their
    std::shared_ptr<const auth::ApiKeyRegistry> apiKeys_;   // credential again with these
    std::atomic<bool> draining_{false};
    std::string maskingKey_;
};

// Valid client request ids are kept: 1-128 characters of [A-Za-z0-9._:-].
bool isValidRequestId(std::string_view id);
// A new id: 32 hex digits, time-ordered (Unix milliseconds first, then 80 random bits).
std::string newRequestId();

}  // namespace vigil::chain

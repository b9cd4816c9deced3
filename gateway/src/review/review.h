#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace vigil::review {

// One human review (docs/reviews.md): a request (or, for output review, its answer) that
// waits until `quorum` distinct approvers, none of them the requester, approve it; any one
// denial ends it.
struct Review {
    enum class State { Pending, Approved, Denied, Expired, Cancelled };
    enum class Kind { Request, Output };
    enum class Mode { Hold, Ticket };

    struct Person {
        std::string subject;
        std::string issuer;
        std::string method;  // "oidc", "api_key"
        std::vector<std::string> roles;
        std::vector<std::string> groups;
    };
    struct Verdict {
        std::string subject;
        std::string issuer;
        std::int64_t atMicros = 0;
        std::string reason;
        std::vector<std::string> roles;  // the decider's roles then: which requirements it counts for
    };
    // One deciding rule's requirement: `quorum` approvals from holders of one of `approverRoles`.
    struct Requirement {
        std::string rule;
        std::vector<std::string> approverRoles;
        int quorum = 1;
    };

    std::string id;  // "rv_" + 32 hex digits
    Kind kind = Kind::Request;
    Mode mode = Mode::Hold;
    State state = State::Pending;
    std::string sessionId;
    std::string requestId;
    Person requester;
    std::string connection;
    std::string method;
    std::string path;
    std::string target;  // path and query as the client sent them: a ticket is released to the same call
    std::string model;
    std::vector<std::string> rules;  // the deciding rules (each one's requirement holds)
    std::string ruleMessage;
    std::string ruleDescription;  // the first deciding rule's description in the policy
    std::string policyVersion;
    std::vector<std::string> approverRoles;  // anyone holding one may decide
    int quorum = 1;                          // the most any requirement asks
    // Approved once every requirement is met (several review rules decided); empty: quorum
    // approvals from holders of approverRoles.
    std::vector<Requirement> requirements;
    std::int64_t timeoutSeconds = 900;
    // What the approvers decide on: the prompt as the policy saw it (masked by the request
    // profile when there is one), one {"role", "text"} per message, and the facts.
    nlohmann::json messages = nlohmann::json::array();
    // Why: the text conditions of the deciding rules that matched ({"rule", "kind",
    // "condition", "expression", "case_insensitive", "message", "end"}).
    nlohmann::json matches = nlohmann::json::array();
    std::vector<std::string> tools;
    // The request's parts outside `messages` (inspect::RequestFacts::Part as JSON:
    // where, kind, detail), and how many more there were.
    nlohmann::json otherParts = nlohmann::json::array();
    std::size_t otherPartsOmitted = 0;
    bool stream = false;
    std::int64_t estimatedTokens = 0;
    std::optional<std::int64_t> maxTokens;
    double estimatedCost = 0.0;
    std::string bodySha256;  // hex, of the body as sent: a ticket is released to the same body
    // Output review: the answer as the client would receive it (after masking).
    std::string output;
    std::string outputContentType;
    int outputStatus = 0;

    std::int64_t createdMicros = 0;
    std::int64_t deadlineMicros = 0;
    std::int64_t decidedMicros = 0;  // 0 while pending
    std::vector<Verdict> approvals;
    std::optional<Verdict> denial;
    std::string endReason;  // expired / cancelled: why
    // Ticket mode: the approved request may be sent again until `grantUntilMicros`, once.
    std::int64_t grantUntilMicros = 0;
    std::int64_t releasedMicros = 0;
    std::string releasedRequestId;

    bool pending() const { return state == State::Pending; }
    // Approvals still wanted, per requirement not yet met ("1 more from hr-approver").
    std::vector<std::string> missingApprovals() const;
    bool grantOpen(std::int64_t nowMicros) const {
        return state == State::Approved && mode == Mode::Ticket && kind == Kind::Request && releasedMicros == 0 &&
               nowMicros < grantUntilMicros;
    }

    // What of the prompt and the held answer a JSON view carries: nothing (the recorded
    // events: the session has the request itself), a preview (pushed events and lists: each
    // cut to kPreviewBytes, marked "truncated" with its "text_bytes", and the review marked
    // "payload_truncated"), or everything (one review, and the store).
    enum class Payload { None, Preview, Full };
    static constexpr std::size_t kPreviewBytes = 16 * 1024;
    nlohmann::json toJson(Payload payload = Payload::Full) const;
    static std::optional<Review> fromJson(const nlohmann::json& j);
};

std::string_view stateName(Review::State state);
std::optional<Review::State> stateFromName(std::string_view name);
std::string_view kindName(Review::Kind kind);
std::string_view modeName(Review::Mode mode);

// Unix microseconds as RFC 3339 UTC ("2026-11-22T10:04:05.123456Z").
std::string formatTime(std::int64_t micros);

}  // namespace vigil::review

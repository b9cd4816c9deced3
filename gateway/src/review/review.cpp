#include "review/review.h"

#include "vigil/json_text.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

namespace vigil::review {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 5> kStates = {"pending", "approved", "denied", "expired", "cancelled"};

json person(const Review::Person& p) {
    return {{"subject", p.subject}, {"issuer", p.issuer}, {"method", p.method}, {"roles", p.roles}, {"groups", p.groups}};
}

json verdict(const Review::Verdict& v) {
    json j = {{"subject", v.subject}, {"issuer", v.issuer}, {"at", formatTime(v.atMicros)}, {"at_us", v.atMicros}};
    if (!v.reason.empty()) j["reason"] = v.reason;
    if (!v.roles.empty()) j["roles"] = v.roles;
    return j;
}

Review::Verdict verdictFrom(const json& j) {
    Review::Verdict v;
    v.subject = j.value("subject", "");
    v.issuer = j.value("issuer", "");
    v.atMicros = j.value("at_us", std::int64_t{0});
    v.reason = j.value("reason", "");
    v.roles = j.value("roles", std::vector<std::string>{});
    return v;
}

}  // namespace

std::vector<std::string> Review::missingApprovals() const {
    std::vector<Requirement> wanted = requirements;
    if (wanted.empty()) wanted.push_back({std::string(), approverRoles, quorum});
    std::vector<std::string> missing;
    for (const auto& req : wanted) {
        int count = 0;
        for (const auto& a : approvals) {
            // An approval from before roles were kept (a store of an older version) counts for
            // a review with one requirement, as it did then.
            const bool holds = (a.roles.empty() && requirements.size() <= 1) ||
                               std::any_of(a.roles.begin(), a.roles.end(), [&](const std::string& role) {
                                   return std::find(req.approverRoles.begin(), req.approverRoles.end(), role) != req.approverRoles.end();
                               });
            if (holds) ++count;
        }
        if (count >= req.quorum) continue;
        std::string roles;
        for (const auto& role : req.approverRoles) roles += (roles.empty() ? "" : " or ") + role;
        missing.push_back(std::to_string(req.quorum - count) + " more from " + roles + (req.rule.empty() ? "" : " (rule '" + req.rule + "')"));
    }
    return missing;
}

std::string_view stateName(Review::State state) { return kStates[static_cast<std::size_t>(state)]; }

std::optional<Review::State> stateFromName(std::string_view name) {
    for (std::size_t i = 0; i < kStates.size(); ++i) {
        if (kStates[i] == name) return static_cast<Review::State>(i);
    }
    return std::nullopt;
}

std::string_view kindName(Review::Kind kind) { return kind == Review::Kind::Request ? "request" : "output"; }
std::string_view modeName(Review::Mode mode) { return mode == Review::Mode::Hold ? "hold" : "ticket"; }

std::string formatTime(std::int64_t micros) {
    if (micros <= 0) return {};
    const std::time_t seconds = static_cast<std::time_t>(micros / 1'000'000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(micros % 1'000'000));
    return buffer;
}

namespace {

// The first messages (at most kPreviewMessages) with their texts cut to `budget` bytes in
// all; `cut` tells whether anything was left out.
constexpr std::size_t kPreviewMessages = 200;
json previewMessages(const json& messages, std::size_t budget, bool& cut) {
    json out = json::array();
    for (const auto& m : messages) {
        if (out.size() == kPreviewMessages) {
            cut = true;
            break;
        }
        json copy = m;
        if (m.is_object() && m.contains("text") && m["text"].is_string()) {
            const auto& text = m["text"].get_ref<const std::string&>();
            if (text.size() > budget) {
                copy["text"] = std::string(utf8Prefix(text, budget));
                copy["truncated"] = true;
                copy["text_bytes"] = text.size();
                cut = true;
                budget = 0;
            } else {
                budget -= text.size();
            }
        }
        out.push_back(std::move(copy));
    }
    return out;
}

}  // namespace

json Review::toJson(Payload payload) const {
    json j = {
        {"id", id},
        {"kind", kindName(kind)},
        {"mode", modeName(mode)},
        {"state", stateName(state)},
        {"session_id", sessionId},
        {"request_id", requestId},
        {"requester", person(requester)},
        {"connection", connection},
        {"method", method},
        {"path", path},
        {"model", model},
        {"rules", rules},
        {"rule", rules.empty() ? std::string() : rules.front()},
        {"rule_message", ruleMessage},
        {"rule_description", ruleDescription},
        {"policy_version", policyVersion},
        {"approver_roles", approverRoles},
        {"quorum", quorum},
        {"requirements", [this] {
             json list = json::array();
             for (const auto& req : requirements) {
                 list.push_back({{"rule", req.rule}, {"approver_roles", req.approverRoles}, {"quorum", req.quorum}});
             }
             return list;
         }()},
        {"timeout_seconds", timeoutSeconds},
        {"stream", stream},
        {"estimated_tokens", estimatedTokens},
        {"estimated_cost", estimatedCost},
        {"body_sha256", bodySha256},
        {"target", target},
        {"created_at", formatTime(createdMicros)},
        {"created_us", createdMicros},
        {"deadline", formatTime(deadlineMicros)},
        {"deadline_us", deadlineMicros},
    };
    j["max_tokens"] = maxTokens ? json(*maxTokens) : json(nullptr);
    j["tools"] = tools;
    j["matches"] = matches;
    if (payload == Payload::Full) {
        j["messages"] = messages;
        j["other_parts"] = otherParts;
        j["other_parts_omitted"] = otherPartsOmitted;
        if (kind == Kind::Output) {
            j["output"] = output;
            j["output_content_type"] = outputContentType;
            j["output_status"] = outputStatus;
        }
    } else if (payload == Payload::Preview) {
        bool cut = false;
        j["messages"] = previewMessages(messages, kPreviewBytes, cut);
        if (j["messages"].size() < messages.size()) j["messages_total"] = messages.size();
        if (kind == Kind::Output) {
            j["output"] = std::string(utf8Prefix(output, kPreviewBytes));
            if (output.size() > kPreviewBytes) {
                j["output_truncated"] = true;
                j["output_bytes"] = output.size();
                cut = true;
            }
            j["output_content_type"] = outputContentType;
            j["output_status"] = outputStatus;
        }
        // The other parts only by number: the whole review (by id) lists them.
        const auto parts = otherParts.size() + otherPartsOmitted;
        j["other_parts_count"] = parts;
        if (parts > 0) cut = true;
        j["payload_truncated"] = cut;
    }
    json approvalList = json::array();
    for (const auto& a : approvals) approvalList.push_back(verdict(a));
    j["approvals"] = std::move(approvalList);
    j["denial"] = denial ? verdict(*denial) : json(nullptr);
    if (decidedMicros > 0) {
        j["decided_at"] = formatTime(decidedMicros);
        j["decided_us"] = decidedMicros;
    }
    if (!endReason.empty()) j["end_reason"] = endReason;
    if (grantUntilMicros > 0) {
        j["grant_until"] = formatTime(grantUntilMicros);
        j["grant_until_us"] = grantUntilMicros;
    }
    if (releasedMicros > 0) {
        j["released_at"] = formatTime(releasedMicros);
        j["released_us"] = releasedMicros;
        j["released_request_id"] = releasedRequestId;
    }
    return j;
}

std::optional<Review> Review::fromJson(const json& j) {
    try {
        Review r;
        r.id = j.at("id").get<std::string>();
        r.kind = j.at("kind").get<std::string>() == "output" ? Kind::Output : Kind::Request;
        r.mode = j.at("mode").get<std::string>() == "ticket" ? Mode::Ticket : Mode::Hold;
        const auto state = stateFromName(j.at("state").get<std::string>());
        if (!state) return std::nullopt;
        r.state = *state;
        r.sessionId = j.value("session_id", "");
        r.requestId = j.value("request_id", "");
        const auto& p = j.at("requester");
        r.requester.subject = p.value("subject", "");
        r.requester.issuer = p.value("issuer", "");
        r.requester.method = p.value("method", "");
        r.requester.roles = p.value("roles", std::vector<std::string>{});
        r.requester.groups = p.value("groups", std::vector<std::string>{});
        r.connection = j.value("connection", "");
        r.method = j.value("method", "");
        r.path = j.value("path", "");
        r.model = j.value("model", "");
        r.rules = j.value("rules", std::vector<std::string>{});
        r.ruleMessage = j.value("rule_message", "");
        r.ruleDescription = j.value("rule_description", "");
        r.policyVersion = j.value("policy_version", "");
        r.approverRoles = j.value("approver_roles", std::vector<std::string>{});
        r.quorum = j.value("quorum", 1);
        for (const auto& req : j.value("requirements", json::array())) {
            r.requirements.push_back({req.value("rule", ""), req.value("approver_roles", std::vector<std::string>{}),
                                      req.value("quorum", 1)});
        }
        r.timeoutSeconds = j.value("timeout_seconds", std::int64_t{900});
        r.messages = j.value("messages", json::array());
        r.otherParts = j.value("other_parts", json::array());
        r.otherPartsOmitted = j.value("other_parts_omitted", std::size_t{0});
        r.matches = j.value("matches", json::array());
        r.tools = j.value("tools", std::vector<std::string>{});
        r.stream = j.value("stream", false);
        r.estimatedTokens = j.value("estimated_tokens", std::int64_t{0});
        if (j.contains("max_tokens") && j["max_tokens"].is_number_integer()) r.maxTokens = j["max_tokens"].get<std::int64_t>();
        r.estimatedCost = j.value("estimated_cost", 0.0);
        r.bodySha256 = j.value("body_sha256", "");
        r.target = j.value("target", "");
        r.output = j.value("output", "");
        r.outputContentType = j.value("output_content_type", "");
        r.outputStatus = j.value("output_status", 0);
        r.createdMicros = j.value("created_us", std::int64_t{0});
        r.deadlineMicros = j.value("deadline_us", std::int64_t{0});
        r.decidedMicros = j.value("decided_us", std::int64_t{0});
        for (const auto& a : j.value("approvals", json::array())) r.approvals.push_back(verdictFrom(a));
        if (j.contains("denial") && j["denial"].is_object()) r.denial = verdictFrom(j["denial"]);
        r.endReason = j.value("end_reason", "");
        r.grantUntilMicros = j.value("grant_until_us", std::int64_t{0});
        r.releasedMicros = j.value("released_us", std::int64_t{0});
        r.releasedRequestId = j.value("released_request_id", "");
        return r;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

}  // namespace vigil::review

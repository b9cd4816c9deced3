#include "record/index_rebuild.h"

#include <nlohmann/json.hpp>

namespace vigil::record {
namespace {

using json = nlohmann::json;

std::string text(const json& o, const char* key) {
    const auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t number(const json& o, const char* key) {
    const auto it = o.find(key);
    return it != o.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

}  // namespace

void IndexRebuilder::feed(const Event& e) {
    const json payload = json::parse(e.payload, nullptr, false);
    if (!payload.is_object()) return;
    const auto open = lastBegin_.find(e.sessionId);
    RequestIndex* begin = open != lastBegin_.end() ? &rows_[open->second] : nullptr;
    if (begin != nullptr && e.type == "identity") {
        begin->subject = text(payload, "subject");
        begin->authMethod = text(payload, "method");
        // As auth::callerKey: a token's subject qualified by its issuer.
        begin->owner = begin->authMethod == "oidc" ? text(payload, "issuer") + " " + begin->subject : begin->subject;
        return;
    }
    if (begin != nullptr && e.type == "decision") {
        begin->decision = text(payload, "action");
        std::string rules;
        if (payload.value("by_default", false)) {
            rules = "(default)";
        } else if (const auto it = payload.find("rules"); it != payload.end() && it->is_array()) {
            for (const auto& r : *it) {
                if (r.is_string()) rules += (rules.empty() ? "" : ",") + r.get<std::string>();
            }
        }
        begin->rules = rules;
        return;
    }
    if (e.type == "request.received") {
        RequestIndex r;
        r.kind = RequestIndex::Kind::Begin;
        r.seq = e.seq;
        r.requestId = text(payload, "request_id");
        r.sessionId = e.sessionId;
        r.startedMicros = e.timeMicros;
        r.method = text(payload, "method");
        const auto target = text(payload, "target");
        r.path = target.substr(0, target.find('?'));
        r.connection = text(payload, "connection");
        r.model = text(payload, "model");
        lastBegin_[e.sessionId] = rows_.size();
        rows_.push_back(std::move(r));
    } else if (e.type == "request.completed" || e.type == "request.failed" || e.type == "request.interrupted") {
        RequestIndex r;
        r.kind = RequestIndex::Kind::End;
        r.seq = e.seq;
        r.requestId = text(payload, "request_id");
        r.sessionId = e.sessionId;
        r.endedMicros = e.timeMicros;
        r.status = static_cast<int>(number(payload, "status"));
        r.code = text(payload, "code");
        r.outcome = e.type == "request.completed" ? "completed" : e.type == "request.failed" ? "failed" : "interrupted";
        r.requestBytes = number(payload, "request_bytes");
        r.responseBytes = number(payload, "response_bytes");
        r.durationMicros = number(payload, "duration_us");
        rows_.push_back(std::move(r));
    }
}

std::vector<RequestIndex> IndexRebuilder::take() {
    lastBegin_.clear();
    return std::move(rows_);
}

}  // namespace vigil::record

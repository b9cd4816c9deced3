#include "chain/session_recording.h"

#include "auth/base64url.h"
#include "auth/identity.h"
#include "inspect/request_facts.h"
#include "policy/policy.h"
#include "vigil/json_text.h"

namespace vigil::chain {
namespace {

std::int64_t unixMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
    return out;
}

// Text as text; anything that is not UTF-8 as base64url, so the bytes survive exactly.
void putBytes(JsonObjectWriter& w, std::string_view key, std::string_view bytes) {
    if (isValidUtf8(bytes)) {
        w.str(key, bytes);
    } else {
        w.str(std::string(key) + "_base64url", auth::base64UrlEncode(bytes));
    }
}

}  // namespace

SessionRecording::SessionRecording(record::Recorder& recorder, Durability durability, std::string sessionId,
                                   std::string requestId, Clock::time_point start)
    : recorder_(recorder),
      durability_(durability),
      sessionId_(std::move(sessionId)),
      requestId_(std::move(requestId)),
      start_(start),
      startedMicros_(unixMicros() - std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count()) {}

std::int64_t SessionRecording::offsetMicros() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_).count();
}

void SessionRecording::begin(const Request& r) {
    record::RequestIndex index;
    index.kind = record::RequestIndex::Kind::Begin;
    index.requestId = requestId_;
    index.sessionId = sessionId_;
    index.startedMicros = startedMicros_;
    index.method = std::string(r.method);
    // The index is text: a byte that is not printable ASCII is kept percent-encoded (the
    // event has the exact target).
    for (const char c : r.target.substr(0, r.target.find('?'))) {
        const auto octet = static_cast<unsigned char>(c);
        if (octet > 0x20 && octet < 0x7F) {
            index.path += c;
        } else {
            static constexpr char kHex[] = "0123456789ABCDEF";
            index.path += '%';
            index.path += kHex[octet >> 4];
            index.path += kHex[octet & 15];
        }
    }
    index.connection = std::string(r.connection);
    index.authMethod = r.identity != nullptr ? std::string(auth::methodName(r.identity->method)) : std::string();
    index.subject = r.identity != nullptr ? r.identity->subject : std::string();
    index.owner = r.identity != nullptr ? auth::callerKey(*r.identity) : std::string();
    if (r.facts != nullptr) index.model = r.facts->model;
    if (r.decision != nullptr) {
        index.decision = std::string(policy::actionName(r.decision->action));
        index.rules = r.decision->byDefault ? std::string("(default)") : joined(r.decision->rules);
    }

    JsonObjectWriter received;
    received.str("request_id", requestId_).str("method", r.method);
    putBytes(received, "target", r.target);  // exactly as sent, also when it is not UTF-8
    received.str("client_address", r.clientAddress)
        .str("connection", r.connection);
    if (r.facts != nullptr) {
        received.str("model", r.facts->model).boolean("stream", r.facts->stream);
    }
    received.num("body_bytes", static_cast<std::int64_t>(r.body.size()));
    if (r.identity != nullptr) {
        putBytes(received, "body", r.body);
    } else {
        received.str("body_omitted", "the caller was not identified");
    }
    // The early events may wait for the end of a fast exchange (one commit for all).
    recorder_.recordSoon(sessionId_, "request.received", received.take(), std::move(index));

    if (r.identity != nullptr) {
        JsonObjectWriter identity;
        identity.str("method", auth::methodName(r.identity->method))
            .str("subject", r.identity->subject)
            .str("issuer", r.identity->issuer)
            .strings("groups", r.identity->groups)
            .strings("roles", r.identity->roles);
        recorder_.recordSoon(sessionId_, "identity", identity.take());
    }
    if (r.decision != nullptr) {
        const auto& d = *r.decision;
        JsonObjectWriter decision;
        decision.str("request_id", requestId_)
            .str("action", policy::actionName(d.action))
            .strings("rules", d.rules)
            .boolean("by_default", d.byDefault)
            .str("policy_version", d.policyVersion);
        if (d.action != policy::Action::Allow) decision.str("code", detailsCodeName(d.code));
        if (!d.message.empty()) decision.str("message", d.message);
        if (!d.masking.empty()) decision.str("masking", d.masking);
        if (d.outputReview) decision.boolean("output_review", true);
        recorder_.recordSoon(sessionId_, "decision", decision.take());
    }
}

void SessionRecording::upstreamStarted(std::string_view connection, std::string_view target) {
    recorder_.recordSoon(sessionId_, "upstream.started",
                     JsonObjectWriter()
                         .str("request_id", requestId_)
                         .num("offset_us", offsetMicros())
                         .str("connection", connection)
                         .str("target", target)
                         .take());
}

void SessionRecording::note(std::string_view type, std::string payload) {
    if (payload.size() > 1 && payload.front() == '{') {
        const std::string prefix = R"({"request_id":)" + [&] {
            std::string quoted;
            appendJsonString(quoted, requestId_);
            return quoted;
        }() + R"(,"offset_us":)" + std::to_string(offsetMicros());
        payload = prefix + (payload.size() > 2 ? "," : "") + payload.substr(1);
    }
    recorder_.recordSoon(sessionId_, std::string(type), std::move(payload));
}

void SessionRecording::masked(std::string_view direction, std::string_view profile, std::uint64_t total,
                              std::string_view entitiesJson) {
    recorder_.recordSoon(sessionId_, "masking.applied",
                         JsonObjectWriter()
                             .num("offset_us", offsetMicros())
                             .str("direction", direction)
                             .str("profile", profile)
                             .num("total", static_cast<std::int64_t>(total))
                             .raw("entities", entitiesJson)
                             .take());
}

void SessionRecording::responseStarted(int status, std::string_view contentType, bool streaming) {
    headRecorded_ = true;
    recorder_.recordSoon(sessionId_, "response.started",
                     JsonObjectWriter()
                         .num("offset_us", offsetMicros())
                         .num("status", status)
                         .str("content_type", contentType)
                         .boolean("streaming", streaming)
                         .take());
}

void SessionRecording::chunk(std::string_view data) {
    if (data.empty()) return;
    JsonObjectWriter w;
    w.num("offset_us", offsetMicros());
    putBytes(w, "data", data);
    recorder_.recordSoon(sessionId_, "response.chunk", w.take());
}

void SessionRecording::failedMidStream(DetailsCode code, std::string_view message) {
    midStreamFailure_ = std::make_pair(code, std::string(message));
}

void SessionRecording::end(std::string_view type, const net::ExchangeOutcome& outcome, std::optional<DetailsCode> code,
                           record::Recorder::Done done) {
    ended_ = true;
    const auto durationMicros = std::chrono::duration_cast<std::chrono::microseconds>(outcome.duration).count();
    JsonObjectWriter w;
    w.str("request_id", requestId_).num("offset_us", offsetMicros()).num("status", outcome.status);
    if (code) w.str("code", detailsCodeName(*code));
    if (midStreamFailure_) w.str("message", midStreamFailure_->second);
    if (outcome.clientAborted) w.boolean("client_aborted", true);
    w.num("request_bytes", static_cast<std::int64_t>(outcome.requestBytes))
        .num("response_bytes", static_cast<std::int64_t>(outcome.responseBytes))
        .num("duration_us", durationMicros);

    record::RequestIndex index;
    index.kind = record::RequestIndex::Kind::End;
    index.requestId = requestId_;
    index.sessionId = sessionId_;
    index.endedMicros = unixMicros();
    index.status = outcome.status;
    if (code) index.code = std::string(detailsCodeName(*code));
    outcome_ = type == "request.completed" ? std::string_view("completed") : std::string_view("failed");
    index.outcome = std::string(outcome_);
    index.requestBytes = static_cast<std::int64_t>(outcome.requestBytes);
    index.responseBytes = static_cast<std::int64_t>(outcome.responseBytes);
    index.durationMicros = durationMicros;
    if (!done && durability_ == Durability::Relaxed) {
        // Nobody waits for it: the writer takes it with the next batch (within the linger)
        // instead of being woken for it, off the response's path.
        recorder_.recordSoon(sessionId_, std::string(type), w.take(), std::move(index));
        return;
    }
    recorder_.record(sessionId_, std::string(type), w.take(), std::move(index), std::move(done));
}

std::optional<net::FinishGate> SessionRecording::finish(std::string_view finalData, const net::ExchangeOutcome& outcome) {
    if (!headRecorded_) responseStarted(outcome.status, "application/json", false);
    chunk(finalData);
    std::optional<DetailsCode> code = outcome.code;
    if (midStreamFailure_) code = midStreamFailure_->first;
    const auto type = midStreamFailure_ ? std::string_view("request.failed") : std::string_view("request.completed");
    // Relaxed: the response does not wait for the commit, unless the writer has fallen
    // behind; then it does (as with strict), so a disk slower than the traffic slows the
    // callers down instead of filling the queue until new requests are refused with 503.
    if (durability_ == Durability::Relaxed && !recorder_.behind()) {
        end(type, outcome, code, {});
        return std::nullopt;
    }
    net::FinishGate gate;
    gate.signal = std::make_shared<net::WakeSignal>();
    gate.ok = std::make_shared<std::atomic<bool>>(false);
    gate.spin = recorder_.waitSpin();
    end(type, outcome, code, [gate](bool durable) {
        gate.ok->store(durable);
        gate.signal->wake();
    });
    return gate;
}

void SessionRecording::complete(const net::ExchangeOutcome& outcome, bool finishRefused) {
    if (finishRefused) return;  // the store failed: nothing more can be recorded now
    if (!ended_) {
        // The exchange broke before its end (the client went away mid-stream).
        end("request.failed", outcome, outcome.code, {});
        return;
    }
    if (outcome.clientAborted) {
        auto payload = JsonObjectWriter().str("request_id", requestId_).num("offset_us", offsetMicros()).take();
        if (durability_ == Durability::Relaxed) {
            recorder_.recordSoon(sessionId_, "client.disconnected", std::move(payload));
        } else {
            recorder_.record(sessionId_, "client.disconnected", std::move(payload));
        }
    }
}

}  // namespace vigil::chain

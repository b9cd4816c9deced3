#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_types.h"
#include "record/recorder.h"

namespace vigil::auth {
struct Identity;
}
namespace vigil::policy {
struct Decision;
}
namespace vigil::inspect {
struct RequestFacts;
}

namespace vigil::chain {

// The record stage for one request: the ordered events of its session (docs/recording.md),
// written through the recorder as the request goes. Never sees a credential: the
// identity carries none and request headers are not recorded.
class SessionRecording {
public:
    using Clock = std::chrono::steady_clock;
    enum class Durability { Strict, Relaxed };

    struct Request {
        std::string_view method;
        std::string_view target;
        std::string_view clientAddress;
        std::string_view connection;  // empty when not routed
        std::string_view body;
        const auth::Identity* identity = nullptr;
        const inspect::RequestFacts* facts = nullptr;
        const policy::Decision* decision = nullptr;
    };

    SessionRecording(record::Recorder& recorder, Durability durability, std::string sessionId, std::string requestId,
                     Clock::time_point start);

    const std::string& sessionId() const { return sessionId_; }
    // "completed" or "failed" once the end of the request is handed to the recorder (the
    // sessions index's outcome); empty before. Whether the store took it is the caller's
    // to know (a refused finish gate).
    std::string_view outcome() const { return outcome_; }

    // request.received, identity and decision, and the index row of the request. The body
    // is recorded once the caller is identified (an unauthenticated body is not).
    void begin(const Request& request);
    void upstreamStarted(std::string_view connection, std::string_view target);
    // Another event of the request (review.released...): `payload` is a JSON object.
    void note(std::string_view type, std::string payload);
    // masking.applied: what a profile masked ("request" or "response"), never the values.
    void masked(std::string_view direction, std::string_view profile, std::uint64_t total, std::string_view entitiesJson);
    void responseStarted(int status, std::string_view contentType, bool streaming);
    void chunk(std::string_view data);
    void failedMidStream(DetailsCode code, std::string_view message);
    // The final bytes and the end of the exchange; with strict durability (or relaxed while
    // the recorder is behind) the gate opens when they are committed.
    std::optional<net::FinishGate> finish(std::string_view finalData, const net::ExchangeOutcome& outcome);
    // After the response was written (or could not be).
    void complete(const net::ExchangeOutcome& outcome, bool finishRefused);

private:
    std::int64_t offsetMicros() const;
    void end(std::string_view type, const net::ExchangeOutcome& outcome, std::optional<DetailsCode> code,
             record::Recorder::Done done);

    record::Recorder& recorder_;
    Durability durability_;
    std::string sessionId_;
    std::string requestId_;
    Clock::time_point start_;
    std::int64_t startedMicros_ = 0;
    bool headRecorded_ = false;
    bool ended_ = false;
    std::string_view outcome_;
    std::optional<DetailsCode> code_;
    std::optional<std::pair<DetailsCode, std::string>> midStreamFailure_;
};

}  // namespace vigil::chain

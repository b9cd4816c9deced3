#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "net/http_types.h"
#include "record/verifier.h"
#include "store/session_reader.h"

namespace vigil::api {

// The recording's REST API (docs/recording.md), for auditors and admins:
//   GET /api/sessions                 filters, keyset paging, newest first
//   GET /api/sessions/{id}            the session, its requests and its events
//   GET /api/sessions/{id}/events     ?after=SEQ&limit=N
//   GET /api/stats                    counts by decision, connection, outcome and hour
//   GET /api/chain/status             how far the chain verifies
// Callers are authenticated and authorized before this runs.
class RecordingApi {
public:
    // `beforeRead` makes what was recorded so far readable (the recorder's flush: the
    // sessions index is written a little after its events).
    RecordingApi(std::filesystem::path database, std::string publicKeyPem, std::function<void()> beforeRead = {});
    net::LocalResponse handle(const net::RequestView& request, std::string_view requestId);

    // Unix microseconds as RFC 3339 UTC with microseconds: "2026-11-22T10:04:05.123456Z".
    static std::string formatTime(std::int64_t micros);
    // RFC 3339 ("2026-11-22T10:04:05Z", fractions and offsets accepted) to Unix microseconds.
    static std::optional<std::int64_t> parseTime(std::string_view text);

private:
    net::LocalResponse listSessions(const std::multimap<std::string, std::string>& query, std::string_view requestId);
    net::LocalResponse oneSession(const std::string& id, std::string_view requestId);
    net::LocalResponse sessionEvents(const std::string& id, const std::multimap<std::string, std::string>& query,
                                     std::string_view requestId);
    net::LocalResponse stats(const std::multimap<std::string, std::string>& query, std::string_view requestId);
    net::LocalResponse chainStatus(std::string_view requestId);
    std::optional<nlohmann::json> sessionSummary(const std::string& id);

    std::function<void()> beforeRead_;
    store::SessionReader reader_;
    record::ChainMonitor monitor_;
};

// Splits a query string into decoded name/value pairs; nullopt when it is malformed
// (a bad percent escape).
std::optional<std::multimap<std::string, std::string>> parseQuery(std::string_view query);

// The same rule on every endpoint: a parameter is given at most once (so no value silently
// wins over another) and never empty (so "subject=" does not silently mean "any subject").
// For those of `names` in `query`: the parameter and the problem, or nullopt.
struct QueryProblem {
    std::string param;
    std::string message;
};
std::optional<QueryProblem> repeatedOrEmpty(const std::multimap<std::string, std::string>& query,
                                            std::initializer_list<std::string_view> names);

}  // namespace vigil::api

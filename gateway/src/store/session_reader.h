#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace vigil::store {

// Which sessions to list: a session matches when one of its requests started in [from, to)
// and matches every other filter given (a conversation begun before `from` is in the range
// of the requests it gets there).
struct SessionFilter {
    std::optional<std::int64_t> fromMicros;
    std::optional<std::int64_t> toMicros;
    std::string subject;
    std::string connection;
    std::string model;
    std::string decision;  // allow, deny, review
    std::optional<int> status;       // exact status
    std::optional<int> statusClass;  // 2 for 2xx, 4 for 4xx...
    std::string code;      // details code
    bool oldestFirst = false;  // order by start time ascending (default: newest first)
    std::vector<std::string> ids;  // only these sessions (none: any)
};

struct SessionRow {
    std::string id;
    std::int64_t startedMicros = 0;
    std::int64_t lastMicros = 0;
    std::string subject;
    std::string connection;
    std::string model;
    std::int64_t requests = 0;
    std::string decision;
    std::optional<std::int64_t> status;
    std::string code;
    std::string outcome;
};

struct RequestRow {
    std::int64_t firstSeq = 0;
    std::optional<std::int64_t> lastSeq;
    std::string requestId;
    std::int64_t startedMicros = 0;
    std::optional<std::int64_t> endedMicros;
    std::string method, path, subject, authMethod, connection, model, decision, rules;
    std::optional<std::int64_t> status;
    std::string code, outcome;
    std::optional<std::int64_t> requestBytes, responseBytes, durationMicros;
};

struct EventRow {
    std::int64_t seq = 0;
    std::int64_t timeMicros = 0;
    std::string type;
    std::string payload;  // JSON text
    std::string prevHash, hash;  // raw
};

// Keyset paging through sessions, newest first.
struct SessionCursor {
    std::int64_t startedMicros = 0;
    std::string id;
};

struct RequestStats {
    std::int64_t total = 0;
    std::map<std::string, std::int64_t> byDecision;
    std::map<std::string, std::int64_t> byConnection;
    std::map<std::string, std::int64_t> byOutcome;
    // Hour start (Unix microseconds) -> decision -> count.
    std::map<std::int64_t, std::map<std::string, std::int64_t>> byHour;
    std::map<std::string, std::int64_t> byRule;  // requests each rule helped decide
    // Reviews created in the range, by state (pending, approved, denied, expired,
    // cancelled), from the store: the ones decided before a restart count too.
    std::map<std::string, std::int64_t> reviewsByState;
    // The median time from a review's creation to its decision, by state (decided ones).
    std::map<std::string, double> reviewMedianSeconds;
};

// Read-only queries over the recording (the sessions index and the events) for the API.
// Thread-safe: each call borrows one of a few read-only connections (WAL lets them read
// while the recorder writes).
class SessionReader {
public:
    explicit SessionReader(std::filesystem::path path);
    // Reads through `borrowed` (not closed here), one call at a time: for a caller that holds
    // a read transaction on it, so that every query sees one snapshot. Not thread-safe.
    explicit SessionReader(sqlite3* borrowed);
    ~SessionReader();
    SessionReader(const SessionReader&) = delete;
    SessionReader& operator=(const SessionReader&) = delete;

    std::vector<SessionRow> sessions(const SessionFilter& filter, const std::optional<SessionCursor>& after, int limit);
    std::optional<SessionRow> session(const std::string& id);
    // Who began a session: its first request's subject, and its caller key across identity
    // providers (empty for sessions recorded before the gateway kept it).
    struct Owner {
        std::string subject;
        std::string callerKey;
    };
    std::optional<Owner> sessionOwner(const std::string& id);
    std::vector<RequestRow> requests(const std::string& sessionId);
    std::vector<EventRow> events(const std::string& sessionId, std::int64_t afterSeq, int limit);
    RequestStats stats(std::int64_t fromMicros, std::int64_t toMicros);

private:
    class Lease;
    sqlite3* acquire();
    void release(sqlite3* db);

    std::filesystem::path path_;
    sqlite3* borrowed_ = nullptr;
    std::mutex mutex_;
    std::vector<sqlite3*> idle_;
};

}  // namespace vigil::store

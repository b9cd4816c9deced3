#include "store/session_reader.h"

#include <sqlite3.h>

#include <algorithm>

#include "store/sqlite_store.h"

namespace vigil::store {
namespace {

// One prepared query with positional parameters bound in order.
class Query {
public:
    Query(sqlite3* db, const std::string& sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
            throw StoreError(std::string("SQLite: ") + sqlite3_errmsg(db));
        }
    }
    ~Query() { sqlite3_finalize(stmt_); }
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;

    Query& bind(const std::string& v) {
        sqlite3_bind_text(stmt_, ++next_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Query& bind(std::int64_t v) {
        sqlite3_bind_int64(stmt_, ++next_, v);
        return *this;
    }
    bool row() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc != SQLITE_DONE) throw StoreError(std::string("SQLite: ") + sqlite3_errmsg(db_));
        return false;
    }
    std::string text(int i) const {
        const auto* p = sqlite3_column_text(stmt_, i);
        return p == nullptr ? std::string()
                            : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)));
    }
    std::string blob(int i) const {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
        return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)));
    }
    std::int64_t integer(int i) const { return sqlite3_column_int64(stmt_, i); }
    std::optional<std::int64_t> optionalInteger(int i) const {
        if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) return std::nullopt;
        return sqlite3_column_int64(stmt_, i);
    }

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    int next_ = 0;
};

constexpr const char* kSessionColumns =
    "s.session_id, s.started_us, s.last_us, s.subject, s.connection, s.model, s.requests, s.decision, s.status, "
    "s.code, s.outcome";

SessionRow readSession(const Query& q) {
    SessionRow r;
    r.id = q.text(0);
    r.startedMicros = q.integer(1);
    r.lastMicros = q.integer(2);
    r.subject = q.text(3);
    r.connection = q.text(4);
    r.model = q.text(5);
    r.requests = q.integer(6);
    r.decision = q.text(7);
    r.status = q.optionalInteger(8);
    r.code = q.text(9);
    r.outcome = q.text(10);
    return r;
}

}  // namespace

class SessionReader::Lease {
public:
    explicit Lease(SessionReader& reader) : reader_(reader), db_(reader.acquire()) {}
    ~Lease() { reader_.release(db_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    sqlite3* get() const { return db_; }

private:
    SessionReader& reader_;
    sqlite3* db_;
};

SessionReader::SessionReader(std::filesystem::path path) : path_(std::move(path)) {}

SessionReader::SessionReader(sqlite3* borrowed) : borrowed_(borrowed) {}

SessionReader::~SessionReader() {
    for (auto* db : idle_) sqlite3_close(db);
}

sqlite3* SessionReader::acquire() {
    if (borrowed_ != nullptr) return borrowed_;
    {
        std::lock_guard lock(mutex_);
        if (!idle_.empty()) {
            auto* db = idle_.back();
            idle_.pop_back();
            return db;
        }
    }
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
        const std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        throw StoreError("cannot open the recording '" + path_.string() + "': " + message);
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

void SessionReader::release(sqlite3* db) {
    if (db == borrowed_) return;
    std::lock_guard lock(mutex_);
    if (idle_.size() < 4) {
        idle_.push_back(db);
    } else {
        sqlite3_close(db);
    }
}

std::vector<SessionRow> SessionReader::sessions(const SessionFilter& f, const std::optional<SessionCursor>& after,
                                                int limit) {
    // The time range is a request filter like the others: a session is in [from, to) when one
    // of its requests started there (a conversation begun before `from` and continued in the
    // range is in it). The session columns bound the search first: it started before `to`
    // and was last active at or after `from` (last_us covers every request's start).
    std::string sql = std::string("SELECT ") + kSessionColumns + " FROM sessions s WHERE 1";
    if (f.toMicros) sql += " AND s.started_us < ?";
    if (f.fromMicros) sql += " AND s.last_us >= ?";
    if (!f.ids.empty()) {
        sql += " AND s.session_id IN (?";
        for (std::size_t i = 1; i < f.ids.size(); ++i) sql += ",?";
        sql += ')';
    }
    if (after) sql += f.oldestFirst ? " AND (s.started_us, s.session_id) > (?, ?)" : " AND (s.started_us, s.session_id) < (?, ?)";
    std::string requestFilter;
    if (f.fromMicros) requestFilter += " AND r.started_us >= ?";
    if (f.toMicros) requestFilter += " AND r.started_us < ?";
    if (!f.subject.empty()) requestFilter += " AND r.subject = ?";
    if (!f.connection.empty()) requestFilter += " AND r.connection = ?";
    if (!f.model.empty()) requestFilter += " AND r.model = ?";
    if (!f.decision.empty()) requestFilter += " AND r.decision = ?";
    if (f.status) requestFilter += " AND r.status = ?";
    if (f.statusClass) requestFilter += " AND r.status >= ? AND r.status < ?";
    if (!f.code.empty()) requestFilter += " AND r.code = ?";
    if (!requestFilter.empty()) {
        if (!f.subject.empty() || !f.code.empty()) {
            // Subjects and codes are selective: find their requests by index first (a rare
            // one would otherwise scan every session), then sort the few sessions found.
            sql += " AND s.session_id IN (SELECT r.session_id FROM requests r WHERE 1" + requestFilter + ")";
        } else {
            // Decisions, statuses, connections and models are common: walk the sessions in
            // order and stop at the page's end.
            sql += " AND EXISTS (SELECT 1 FROM requests r WHERE r.session_id = s.session_id" + requestFilter + ")";
        }
    }
    sql += f.oldestFirst ? " ORDER BY s.started_us ASC, s.session_id ASC LIMIT ?" : " ORDER BY s.started_us DESC, s.session_id DESC LIMIT ?";

    Lease db(*this);
    Query q(db.get(), sql);
    if (f.toMicros) q.bind(*f.toMicros);
    if (f.fromMicros) q.bind(*f.fromMicros);
    for (const auto& id : f.ids) q.bind(id);
    if (after) q.bind(after->startedMicros).bind(after->id);
    if (f.fromMicros) q.bind(*f.fromMicros);
    if (f.toMicros) q.bind(*f.toMicros);
    if (!f.subject.empty()) q.bind(f.subject);
    if (!f.connection.empty()) q.bind(f.connection);
    if (!f.model.empty()) q.bind(f.model);
    if (!f.decision.empty()) q.bind(f.decision);
    if (f.status) q.bind(std::int64_t{*f.status});
    if (f.statusClass) q.bind(std::int64_t{*f.statusClass} * 100).bind(std::int64_t{*f.statusClass} * 100 + 100);
    if (!f.code.empty()) q.bind(f.code);
    q.bind(std::int64_t{limit});
    std::vector<SessionRow> out;
    while (q.row()) out.push_back(readSession(q));
    return out;
}

std::optional<SessionRow> SessionReader::session(const std::string& id) {
    Lease db(*this);
    Query q(db.get(), std::string("SELECT ") + kSessionColumns + " FROM sessions s WHERE s.session_id = ?");
    q.bind(id);
    if (!q.row()) return std::nullopt;
    return readSession(q);
}

std::optional<SessionReader::Owner> SessionReader::sessionOwner(const std::string& id) {
    Lease db(*this);
    Query q(db.get(), "SELECT subject, coalesce(owner, '') FROM sessions WHERE session_id = ?");
    q.bind(id);
    if (!q.row()) return std::nullopt;
    return Owner{q.text(0), q.text(1)};
}

std::vector<RequestRow> SessionReader::requests(const std::string& sessionId) {
    Lease db(*this);
    Query q(db.get(),
            "SELECT first_seq, last_seq, request_id, started_us, ended_us, method, path, subject, auth_method, connection, "
            "model, decision, rules, status, code, outcome, request_bytes, response_bytes, duration_us "
            "FROM requests WHERE session_id = ? ORDER BY first_seq");
    q.bind(sessionId);
    std::vector<RequestRow> out;
    while (q.row()) {
        RequestRow r;
        r.firstSeq = q.integer(0);
        r.lastSeq = q.optionalInteger(1);
        r.requestId = q.text(2);
        r.startedMicros = q.integer(3);
        r.endedMicros = q.optionalInteger(4);
        r.method = q.text(5);
        r.path = q.text(6);
        r.subject = q.text(7);
        r.authMethod = q.text(8);
        r.connection = q.text(9);
        r.model = q.text(10);
        r.decision = q.text(11);
        r.rules = q.text(12);
        r.status = q.optionalInteger(13);
        r.code = q.text(14);
        r.outcome = q.text(15);
        r.requestBytes = q.optionalInteger(16);
        r.responseBytes = q.optionalInteger(17);
        r.durationMicros = q.optionalInteger(18);
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<EventRow> SessionReader::events(const std::string& sessionId, std::int64_t afterSeq, int limit) {
    Lease db(*this);
    Query q(db.get(),
            "SELECT e.seq, e.ts_us, e.type, e.payload, e.prev_hash, e.hash FROM event_sessions s "
            "JOIN events e ON e.seq = s.seq WHERE s.session_id = ? AND s.seq > ? ORDER BY s.seq LIMIT ?");
    q.bind(sessionId).bind(afterSeq).bind(std::int64_t{limit});
    std::vector<EventRow> out;
    while (q.row()) {
        EventRow e;
        e.seq = q.integer(0);
        e.timeMicros = q.integer(1);
        e.type = q.text(2);
        e.payload = q.text(3);
        e.prevHash = q.blob(4);
        e.hash = q.blob(5);
        out.push_back(std::move(e));
    }
    return out;
}

RequestStats SessionReader::stats(std::int64_t fromMicros, std::int64_t toMicros) {
    Lease db(*this);
    RequestStats stats;
    Query q(db.get(),
            "SELECT started_us / 3600000000 * 3600000000, decision, connection, coalesce(outcome, 'in_progress'), count(*) "
            "FROM requests WHERE started_us >= ? AND started_us < ? GROUP BY 1, 2, 3, 4");
    q.bind(fromMicros).bind(toMicros);
    while (q.row()) {
        const auto hour = q.integer(0);
        const auto decision = q.text(1).empty() ? std::string("none") : q.text(1);
        const auto connection = q.text(2).empty() ? std::string("none") : q.text(2);
        const auto outcome = q.text(3);
        const auto n = q.integer(4);
        stats.total += n;
        stats.byDecision[decision] += n;
        stats.byConnection[connection] += n;
        stats.byOutcome[outcome] += n;
        stats.byHour[hour][decision] += n;
    }
    // Rules are stored comma-separated per request: counted here, per distinct list first.
    Query rules(db.get(), "SELECT rules, count(*) FROM requests WHERE started_us >= ? AND started_us < ? AND rules <> '' GROUP BY 1");
    rules.bind(fromMicros).bind(toMicros);
    while (rules.row()) {
        const auto list = rules.text(0);
        const auto n = rules.integer(1);
        std::size_t at = 0;
        while (at <= list.size()) {
            const auto comma = list.find(',', at);
            const auto rule = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
            if (!rule.empty() && rule != "(default)") stats.byRule[rule] += n;
            if (comma == std::string::npos) break;
            at = comma + 1;
        }
    }
    // Reviews: their current state is stored beside the chain events (the document holds
    // when they were decided).
    Query reviews(db.get(),
                  "SELECT state, json_extract(document, '$.decided_us') - created_us FROM reviews "
                  "WHERE state IN ('pending', 'approved', 'denied', 'expired', 'cancelled') "  // reviews_by_state
                  "AND created_us >= ? AND created_us < ?");
    reviews.bind(fromMicros).bind(toMicros);
    std::map<std::string, std::vector<std::int64_t>> waits;
    while (reviews.row()) {
        const auto state = reviews.text(0);
        ++stats.reviewsByState[state];
        if (const auto wait = reviews.optionalInteger(1); wait && *wait >= 0) waits[state].push_back(*wait);
    }
    for (auto& [state, list] : waits) {
        std::sort(list.begin(), list.end());
        const auto n = list.size();
        const double median = n % 2 == 1 ? static_cast<double>(list[n / 2]) : (static_cast<double>(list[n / 2 - 1]) + static_cast<double>(list[n / 2])) / 2.0;
        stats.reviewMedianSeconds[state] = median / 1e6;
    }
    return stats;
}

}  // namespace vigil::store

#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include "store/schema_version.h"

namespace vigil::store {
namespace {

// Each entry moves the schema one version up; entries are never edited once released.
constexpr std::array kMigrations = {
    R"sql(
    CREATE TABLE api_keys (
        name          TEXT PRIMARY KEY,
        key_id        TEXT NOT NULL UNIQUE,
        secret_sha256 BLOB NOT NULL,
        roles         TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER,
        revoked_at    INTEGER,
        last_used_at  INTEGER
    );
    )sql",
    // Tokens used per identity and UTC day, for the policy's tokens_per_day budgets.
    R"sql(
    CREATE TABLE usage_daily (
        subject TEXT NOT NULL,
        day     INTEGER NOT NULL,
        tokens  INTEGER NOT NULL,
        PRIMARY KEY (subject, day)
    );
    )sql",
    // The recording: one hash chain of events in commit order, signed checkpoints of its
    // head, and the public keys that signed them (docs/recording.md).
    R"sql(
    CREATE TABLE events (
        seq        INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL,
        ts_us      INTEGER NOT NULL,
        type       TEXT NOT NULL,
        payload    TEXT NOT NULL,
        prev_hash  BLOB NOT NULL,
        hash       BLOB NOT NULL
    );
    CREATE INDEX events_by_session ON events (session_id, seq);
    CREATE TABLE checkpoints (
        seq       INTEGER PRIMARY KEY,
        head_hash BLOB NOT NULL,
        ts_us     INTEGER NOT NULL,
        key_id    TEXT NOT NULL,
        signature BLOB NOT NULL
    );
    CREATE TABLE signing_keys (
        key_id         TEXT PRIMARY KEY,
        public_key_pem TEXT NOT NULL,
        first_used_us  INTEGER NOT NULL
    );
    )sql",
    // The sessions index beside the chain (derived data, not hashed): one row per request
    // (keyed by the seq of its request.received event) and one per session.
    R"sql(
    CREATE TABLE requests (
        first_seq      INTEGER PRIMARY KEY,
        last_seq       INTEGER,
        request_id     TEXT NOT NULL,
        session_id     TEXT NOT NULL,
        started_us     INTEGER NOT NULL,
        ended_us       INTEGER,
        method         TEXT NOT NULL,
        path           TEXT NOT NULL,
        subject        TEXT NOT NULL,
        auth_method    TEXT NOT NULL,
        connection     TEXT NOT NULL,
        model          TEXT NOT NULL,
        decision       TEXT NOT NULL,
        rules          TEXT NOT NULL,
        status         INTEGER,
        code           TEXT,
        outcome        TEXT,
        request_bytes  INTEGER,
        response_bytes INTEGER,
        duration_us    INTEGER
    );
    CREATE INDEX requests_by_session ON requests (session_id, first_seq);
    CREATE INDEX requests_by_start ON requests (started_us);
    CREATE INDEX requests_unfinished ON requests (first_seq) WHERE ended_us IS NULL;
    CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        started_us INTEGER NOT NULL,
        last_us    INTEGER NOT NULL,
        subject    TEXT NOT NULL,
        connection TEXT NOT NULL,
        model      TEXT NOT NULL,
        requests   INTEGER NOT NULL,
        decision   TEXT NOT NULL,
        status     INTEGER,
        code       TEXT,
        outcome    TEXT
    );
    CREATE INDEX sessions_by_start ON sessions (started_us, session_id);
    )sql",
    // The index is written in its own, less frequent transactions; this says how far.
    // Fewer indexes on the hot path: unfinished requests are found by a scan at start.
    R"sql(
    CREATE TABLE index_state (
        id            INTEGER PRIMARY KEY CHECK (id = 1),
        through_seq   INTEGER NOT NULL
    );
    INSERT INTO index_state VALUES (1, (SELECT coalesce(max(seq), 0) FROM events));
    DROP INDEX requests_unfinished;
    -- The events of a session, found without an index on the events table itself (whose
    -- every insert would then touch a second B-tree in the synced transaction).
    CREATE TABLE event_sessions (
        session_id TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    INSERT INTO event_sessions SELECT session_id, seq FROM events;
    DROP INDEX events_by_session;
    )sql",
    // Reviews (review/review.h): the current state of each, beside the chain events that
    // record every change.
    R"sql(
    CREATE TABLE reviews (
        id          TEXT PRIMARY KEY,
        state       TEXT NOT NULL,
        created_us  INTEGER NOT NULL,
        updated_us  INTEGER NOT NULL,
        document    TEXT NOT NULL
    );
    CREATE INDEX reviews_by_state ON reviews (state, created_us);
    )sql",
    // Sessions by caller and by details code (the API's selective filters).
    R"sql(
    CREATE INDEX requests_by_subject ON requests (subject, session_id);
    CREATE INDEX requests_by_code ON requests (code, session_id) WHERE code IS NOT NULL;
    )sql",
    // Who began each session across identity providers (issuer and subject; see
    // auth::callerKey): X-Vigil-Session belongs to that caller. Older rows have none.
    R"sql(
    ALTER TABLE sessions ADD COLUMN owner TEXT;
    )sql",
    // The finished reviews by their last change: what a retention purge deletes.
    R"sql(
    CREATE INDEX reviews_finished ON reviews (updated_us) WHERE state <> 'pending';
    )sql",
};

static_assert(kMigrations.size() == static_cast<std::size_t>(kSchemaVersion), "store/schema_version.h: kSchemaVersion");

// The reviews a retention purge deletes (?1: the cutoff): last changed before it, and
// nothing can change them any more. Pending ones are never purged; an approved ticket not
// yet used waits until its grant has lapsed too (a grant may outlast a short retention).
constexpr const char* kPurgeableReviews =
    "state <> 'pending' AND updated_us < ?1 AND (json_extract(document, '$.released_us') IS NOT NULL OR "
    "coalesce(json_extract(document, '$.grant_until_us'), 0) < ?1)";

class Statement {
public:
    Statement(sqlite3* db, const char* sql) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
            throw StoreError(std::string("SQLite: ") + sqlite3_errmsg(db));
        }
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    void bind(int i, const std::string& v) { sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
    void bindBlob(int i, const std::string& v) { sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
    void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
    void bind(int i, const std::optional<std::int64_t>& v) {
        if (v) {
            sqlite3_bind_int64(stmt_, i, *v);
        } else {
            sqlite3_bind_null(stmt_, i);
        }
    }
    void bindNull(int i) { sqlite3_bind_null(stmt_, i); }
    int step() { return sqlite3_step(stmt_); }
    void reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    std::string text(int i) {
        const auto* p = sqlite3_column_text(stmt_, i);
        return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)));
    }
    std::string blob(int i) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
        return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)));
    }
    std::int64_t integer(int i) { return sqlite3_column_int64(stmt_, i); }
    std::optional<std::int64_t> optionalInteger(int i) {
        if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) return std::nullopt;
        return sqlite3_column_int64(stmt_, i);
    }

private:
    sqlite3_stmt* stmt_ = nullptr;
};

std::string joinRoles(const std::vector<std::string>& roles) {
    std::string out;
    for (const auto& r : roles) out += (out.empty() ? "" : ",") + r;
    return out;
}

std::vector<std::string> splitRoles(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto comma = text.find(',', start);
        const auto end = comma == std::string::npos ? text.size() : comma;
        if (end > start) out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

}  // namespace

SqliteStore::SqliteStore(const std::filesystem::path& path, Durability durability)
    : path_(path.string()), durability_(durability) {
    std::error_code ec;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
        const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw StoreError("cannot open the store '" + path_ + "': " + message);
    }
    sqlite3_busy_timeout(db_, 5000);
    // Only for a new file: larger pages hold a request's events in fewer WAL frames.
    exec("PRAGMA page_size=8192");
    exec("PRAGMA journal_mode=WAL");
    exec(durability == Durability::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec("PRAGMA foreign_keys=ON");
    // What is deleted (a retention purge, a review's older state) is overwritten with zeros,
    // not left readable in the file's free space. Debian's SQLite does so by default; others
    // may not.
    exec("PRAGMA secure_delete=ON");
    migrate();
}

SqliteStore::~SqliteStore() {
    for (auto* st : {begin_, commit_, insertEvent_}) sqlite3_finalize(st);
    sqlite3_close(db_);
}

sqlite3_stmt* SqliteStore::prepared(sqlite3_stmt*& slot, const char* sql) {
    if (slot == nullptr && sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot, nullptr) != SQLITE_OK) {
        throw StoreError(std::string("SQLite: ") + sqlite3_errmsg(db_));
    }
    return slot;
}

bool SqliteStore::run(sqlite3_stmt*& slot, const char* sql) {
    auto* st = prepared(slot, sql);
    const int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE;
}

void SqliteStore::exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
        const std::string message = error != nullptr ? error : "unknown error";
        sqlite3_free(error);
        throw StoreError("store '" + path_ + "': " + message);
    }
}

int SqliteStore::schemaVersion() {
    Statement s(db_, "PRAGMA user_version");
    s.step();
    return static_cast<int>(s.integer(0));
}

void SqliteStore::setCacheBytes(std::int64_t bytes) {
    exec(("PRAGMA cache_size=-" + std::to_string(bytes / 1024)).c_str());
}

std::int64_t SqliteStore::dataVersion() {
    Statement s(db_, "PRAGMA data_version");
    s.step();
    return s.integer(0);
}

void SqliteStore::migrate() {
    exec("BEGIN IMMEDIATE");
    try {
        const int version = schemaVersion();
        if (version > static_cast<int>(kMigrations.size())) {
            throw StoreError("store '" + path_ + "' has schema version " + std::to_string(version) +
                             ", newer than this gateway knows (" + std::to_string(kMigrations.size()) + ")");
        }
        for (int v = version; v < static_cast<int>(kMigrations.size()); ++v) {
            exec(kMigrations[static_cast<std::size_t>(v)]);
            exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
        }
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

std::vector<record::ReviewRow> SqliteStore::reviews(const char* where, const std::string& arg) {
    std::string sql = "SELECT id, state, created_us, updated_us, document FROM reviews WHERE ";
    sql += where;
    sql += " ORDER BY created_us";
    Statement s(db_, sql.c_str());
    if (!arg.empty()) s.bind(1, arg);
    std::vector<record::ReviewRow> rows;
    while (s.step() == SQLITE_ROW) {
        rows.push_back({s.text(0), s.text(1), s.integer(2), s.integer(3), s.text(4)});
    }
    return rows;
}

std::vector<record::ReviewRow> SqliteStore::openReviews() {
    // Approved ones are loaded too: a ticket's grant may still be unused (the document says).
    return reviews("state IN ('pending', 'approved')", {});
}

std::optional<record::ReviewRow> SqliteStore::review(const std::string& id) {
    auto rows = reviews("id = ?", id);
    if (rows.empty()) return std::nullopt;
    return std::move(rows.front());
}

void SqliteStore::insertApiKey(const ApiKeyRecord& r) {
    Statement s(db_,
                "INSERT INTO api_keys (name, key_id, secret_sha256, roles, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)");
    s.bind(1, r.name);
    s.bind(2, r.keyId);
    s.bindBlob(3, r.secretHash);
    s.bind(4, joinRoles(r.roles));
    s.bind(5, r.createdAt);
    s.bind(6, r.expiresAt);
    const int rc = s.step();
    if (rc == SQLITE_CONSTRAINT) throw StoreError("an API key named '" + r.name + "' already exists");
    if (rc != SQLITE_DONE) throw StoreError(std::string("cannot store the API key: ") + sqlite3_errmsg(db_));
}

std::vector<ApiKeyRecord> SqliteStore::apiKeys() {
    Statement s(db_,
                "SELECT name, key_id, secret_sha256, roles, created_at, expires_at, revoked_at, last_used_at "
                "FROM api_keys ORDER BY name");
    std::vector<ApiKeyRecord> out;
    while (s.step() == SQLITE_ROW) {
        ApiKeyRecord r;
        r.name = s.text(0);
        r.keyId = s.text(1);
        r.secretHash = s.blob(2);
        r.roles = splitRoles(s.text(3));
        r.createdAt = s.integer(4);
        r.expiresAt = s.optionalInteger(5);
        r.revokedAt = s.optionalInteger(6);
        r.lastUsedAt = s.optionalInteger(7);
        out.push_back(std::move(r));
    }
    return out;
}

bool SqliteStore::revokeApiKey(const std::string& name, std::int64_t at) {
    Statement s(db_, "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL");
    s.bind(1, at);
    s.bind(2, name);
    if (s.step() != SQLITE_DONE) throw StoreError(std::string("cannot revoke: ") + sqlite3_errmsg(db_));
    return sqlite3_changes(db_) > 0;
}

void SqliteStore::touchApiKeys(const std::vector<std::pair<std::string, std::int64_t>>& lastUsed) {
    if (lastUsed.empty()) return;
    exec("BEGIN IMMEDIATE");
    try {
        Statement s(db_, "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE name = ?");
        for (const auto& [name, at] : lastUsed) {
            s.bind(1, at);
            s.bind(2, name);
            s.step();
            s.reset();
        }
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

void SqliteStore::saveDailyUsage(const std::vector<DailyUsage>& rows) {
    if (rows.empty()) return;
    exec("BEGIN IMMEDIATE");
    try {
        Statement s(db_, "INSERT INTO usage_daily (subject, day, tokens) VALUES (?, ?, ?) "
                         "ON CONFLICT (subject, day) DO UPDATE SET tokens = excluded.tokens");
        for (const auto& row : rows) {
            s.bind(1, row.subject);
            s.bind(2, row.day);
            s.bind(3, row.tokens);
            if (s.step() != SQLITE_DONE) throw StoreError(std::string("SQLite: ") + sqlite3_errmsg(db_));
            s.reset();
        }
        // Older days are of no use to budgets.
        Statement prune(db_, "DELETE FROM usage_daily WHERE day < ?");
        prune.bind(1, rows.front().day - 7);
        prune.step();
    } catch (...) {
        exec("ROLLBACK");
        throw;
    }
    exec("COMMIT");
}

std::vector<DailyUsage> SqliteStore::dailyUsage(std::int64_t day) {
    Statement s(db_, "SELECT subject, day, tokens FROM usage_daily WHERE day = ?");
    s.bind(1, day);
    std::vector<DailyUsage> out;
    while (s.step() == SQLITE_ROW) out.push_back({s.text(0), s.integer(1), s.integer(2)});
    return out;
}

ChainHead SqliteStore::chainHead() {
    ChainHead head;
    Statement e(db_, "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1");
    if (e.step() == SQLITE_ROW) {
        head.seq = e.integer(0);
        head.hash = e.blob(1);
    }
    Statement c(db_, "SELECT seq FROM checkpoints ORDER BY seq DESC LIMIT 1");
    if (c.step() == SQLITE_ROW) head.checkpointSeq = c.integer(0);
    return head;
}

void SqliteStore::appendBatch(const record::Batch& batch) {
    const bool lazy = !batch.synced && durability_ == Durability::Full;
    if (lazy) exec("PRAGMA synchronous=NORMAL");
    struct RestoreSync {
        SqliteStore* store;
        bool active;
        ~RestoreSync() {
            if (active) sqlite3_exec(store->db_, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
        }
    } restore{this, lazy};
    if (!run(begin_, "BEGIN IMMEDIATE")) throw StoreError(std::string("cannot begin a transaction: ") + sqlite3_errmsg(db_));
    try {
        if (batch.purgeThrough) {
            // Each statement reaches its rows through a key (the events' seq, a request's
            // first_seq, a session id), never by scanning a whole table: a purge costs what
            // it deletes, however much is kept. In this order: the sessions and event_sessions
            // rows are found from the requests and events about to go.
            // A session goes when every one of its requests goes (begun and ended up to here).
            Statement sessions(db_,
                               "DELETE FROM sessions WHERE session_id IN "
                               "(SELECT session_id FROM requests WHERE first_seq <= ?1 AND last_seq <= ?1) "
                               "AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.session_id = sessions.session_id "
                               "AND (r.first_seq > ?1 OR r.last_seq IS NULL OR r.last_seq > ?1))");
            Statement requests(db_, "DELETE FROM requests WHERE first_seq <= ?1 AND last_seq <= ?1");
            Statement eventSessions(db_,
                                    "DELETE FROM event_sessions WHERE (session_id, seq) IN "
                                    "(SELECT session_id, seq FROM events WHERE seq <= ?1)");
            Statement events(db_, "DELETE FROM events WHERE seq <= ?1");
            Statement checkpoints(db_, "DELETE FROM checkpoints WHERE seq < ?1");
            for (auto* st : {&sessions, &requests, &eventSessions, &events, &checkpoints}) {
                st->bind(1, *batch.purgeThrough);
                if (st->step() != SQLITE_DONE) throw StoreError(std::string("cannot purge: ") + sqlite3_errmsg(db_));
            }
        }
        if (batch.purgeReviewsBefore) {
            Statement reviews(db_, (std::string("DELETE FROM reviews WHERE ") + kPurgeableReviews).c_str());
            reviews.bind(1, *batch.purgeReviewsBefore);
            if (reviews.step() != SQLITE_DONE) throw StoreError(std::string("cannot purge reviews: ") + sqlite3_errmsg(db_));
        }
        if (!batch.reviews.empty()) {
            Statement s(db_, "INSERT OR REPLACE INTO reviews (id, state, created_us, updated_us, document) VALUES (?, ?, ?, ?, ?)");
            for (const auto& r : batch.reviews) {
                s.bind(1, r.id);
                s.bind(2, r.state);
                s.bind(3, r.createdMicros);
                s.bind(4, r.updatedMicros);
                s.bind(5, r.document);
                if (s.step() != SQLITE_DONE) throw StoreError(std::string("cannot store a review: ") + sqlite3_errmsg(db_));
                s.reset();
            }
        }
        if (!batch.events.empty()) {
            auto* s = prepared(insertEvent_,
                               "INSERT INTO events (seq, session_id, ts_us, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)");
            for (const auto& e : batch.events) {
                // The batch outlives the statement's use: no copies of the payloads.
                sqlite3_bind_int64(s, 1, e.seq);
                sqlite3_bind_text(s, 2, e.sessionId.data(), static_cast<int>(e.sessionId.size()), SQLITE_STATIC);
                sqlite3_bind_int64(s, 3, e.timeMicros);
                sqlite3_bind_text(s, 4, e.type.data(), static_cast<int>(e.type.size()), SQLITE_STATIC);
                sqlite3_bind_text(s, 5, e.payload.data(), static_cast<int>(e.payload.size()), SQLITE_STATIC);
                sqlite3_bind_blob(s, 6, e.prevHash.data(), static_cast<int>(e.prevHash.size()), SQLITE_STATIC);
                sqlite3_bind_blob(s, 7, e.hash.data(), static_cast<int>(e.hash.size()), SQLITE_STATIC);
                const int rc = sqlite3_step(s);
                sqlite3_reset(s);
                if (rc != SQLITE_DONE) throw StoreError(std::string("cannot store an event: ") + sqlite3_errmsg(db_));
            }
            sqlite3_clear_bindings(s);
        }
        if (!batch.index.empty()) writeIndex(batch.index);
        if (!batch.eventSessions.empty()) {
            Statement es(db_, "INSERT OR IGNORE INTO event_sessions (session_id, seq) VALUES (?, ?)");
            for (const auto& [seq, session] : batch.eventSessions) {
                es.bind(1, session);
                es.bind(2, seq);
                if (es.step() != SQLITE_DONE) throw StoreError(std::string("cannot index an event: ") + sqlite3_errmsg(db_));
                es.reset();
            }
        }
        if (batch.indexedThrough) {
            Statement st(db_, "UPDATE index_state SET through_seq = ? WHERE id = 1");
            st.bind(1, *batch.indexedThrough);
            if (st.step() != SQLITE_DONE) throw StoreError(std::string("cannot index: ") + sqlite3_errmsg(db_));
        }
        if (batch.checkpoint) {
            Statement c(db_, "INSERT INTO checkpoints (seq, head_hash, ts_us, key_id, signature) VALUES (?, ?, ?, ?, ?)");
            c.bind(1, batch.checkpoint->seq);
            c.bindBlob(2, batch.checkpoint->headHash);
            c.bind(3, batch.checkpoint->timeMicros);
            c.bind(4, batch.checkpoint->keyId);
            c.bindBlob(5, batch.checkpoint->signature);
            if (c.step() != SQLITE_DONE) throw StoreError(std::string("cannot store a checkpoint: ") + sqlite3_errmsg(db_));
        }
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    // With synchronous=FULL the commit returns once the WAL is on disk.
    if (!run(commit_, "COMMIT")) {
        const std::string message = sqlite3_errmsg(db_);
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw StoreError("cannot commit the recording: " + message);
    }
}

void SqliteStore::writeIndex(const std::vector<record::RequestIndex>& rows) {
    // A request that begins and ends within one index batch (nearly all of them: the index
    // is written every 50 ms) gets its row inserted complete, instead of inserted and then
    // found again (by session and request id) and updated. Each end is paired with the
    // latest begin of the same session and request id before it that is still open, as
    // that UPDATE would have found it. The sessions table is written as before, at each
    // begin and each end, in order.
    constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    std::vector<std::size_t> endOf(rows.size(), kNone);  // for a begin: its end in this batch
    std::vector<bool> paired(rows.size(), false);        // for an end: its begin is in this batch
    {
        std::unordered_map<std::string, std::vector<std::size_t>> open;
        std::string key;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const auto& r = rows[i];
            key.assign(r.sessionId).push_back('\n');
            key.append(r.requestId);
            if (r.kind == record::RequestIndex::Kind::Begin) {
                open[key].push_back(i);
                continue;
            }
            const auto it = open.find(key);
            if (it == open.end() || it->second.empty()) continue;
            endOf[it->second.back()] = i;
            paired[i] = true;
            it->second.pop_back();
        }
    }
    Statement begin(db_,
                    "INSERT INTO requests (first_seq, request_id, session_id, started_us, method, path, subject, "
                    "auth_method, connection, model, decision, rules, last_seq, ended_us, status, code, outcome, "
                    "request_bytes, response_bytes, duration_us) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    // A session's decision is the most restrictive of its requests' (deny > review > allow).
    Statement session(db_,
                      "INSERT INTO sessions (session_id, started_us, last_us, subject, connection, model, requests, decision, owner) "
                      "VALUES (?1, ?2, ?2, ?3, ?4, ?5, 1, ?6, ?7) ON CONFLICT (session_id) DO UPDATE SET "
                      "last_us = max(last_us, excluded.last_us), requests = requests + 1, "
                      "decision = CASE WHEN 'deny' IN (decision, excluded.decision) THEN 'deny' "
                      "WHEN 'review' IN (decision, excluded.decision) THEN 'review' "
                      "WHEN 'allow' IN (decision, excluded.decision) THEN 'allow' ELSE '' END");
    Statement end(db_,
                  "UPDATE requests SET last_seq = ?1, ended_us = ?2, status = ?3, code = ?4, outcome = ?5, "
                  "request_bytes = ?6, response_bytes = ?7, duration_us = ?8 WHERE first_seq = "
                  "(SELECT first_seq FROM requests WHERE session_id = ?9 AND request_id = ?10 AND ended_us IS NULL "
                  "ORDER BY first_seq DESC LIMIT 1)");
    Statement sessionEnd(db_,
                         "UPDATE sessions SET last_us = max(last_us, ?1), status = ?2, code = ?3, outcome = ?4 "
                         "WHERE session_id = ?5");
    const auto bindCode = [](Statement& s, int i, const std::string& code) {
        if (code.empty()) {
            s.bindNull(i);
        } else {
            s.bind(i, code);
        }
    };
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        if (r.kind == record::RequestIndex::Kind::Begin) {
            begin.bind(1, r.seq);
            begin.bind(2, r.requestId);
            begin.bind(3, r.sessionId);
            begin.bind(4, r.startedMicros);
            begin.bind(5, r.method);
            begin.bind(6, r.path);
            begin.bind(7, r.subject);
            begin.bind(8, r.authMethod);
            begin.bind(9, r.connection);
            begin.bind(10, r.model);
            begin.bind(11, r.decision);
            begin.bind(12, r.rules);
            if (endOf[i] != kNone) {  // its end, known already (else NULL, as reset() left them)
                const auto& e = rows[endOf[i]];
                begin.bind(13, e.seq);
                begin.bind(14, e.endedMicros);
                begin.bind(15, std::int64_t{e.status});
                bindCode(begin, 16, e.code);
                begin.bind(17, e.outcome);
                begin.bind(18, e.requestBytes);
                begin.bind(19, e.responseBytes);
                begin.bind(20, e.durationMicros);
            }
            if (begin.step() != SQLITE_DONE) throw StoreError(std::string("cannot index a request: ") + sqlite3_errmsg(db_));
            begin.reset();
            session.bind(1, r.sessionId);
            session.bind(2, r.startedMicros);
            session.bind(3, r.subject);
            session.bind(4, r.connection);
            session.bind(5, r.model);
            session.bind(6, r.decision);
            session.bind(7, r.owner);
            if (session.step() != SQLITE_DONE) throw StoreError(std::string("cannot index a session: ") + sqlite3_errmsg(db_));
            session.reset();
            continue;
        }
        if (!paired[i]) {  // its begin was written before: found and updated
            end.bind(1, r.seq);
            end.bind(2, r.endedMicros);
            end.bind(3, std::int64_t{r.status});
            bindCode(end, 4, r.code);
            end.bind(5, r.outcome);
            end.bind(6, r.requestBytes);
            end.bind(7, r.responseBytes);
            end.bind(8, r.durationMicros);
            end.bind(9, r.sessionId);
            end.bind(10, r.requestId);
            if (end.step() != SQLITE_DONE) throw StoreError(std::string("cannot index a request: ") + sqlite3_errmsg(db_));
            end.reset();
        }
        sessionEnd.bind(1, r.endedMicros);
        sessionEnd.bind(2, std::int64_t{r.status});
        bindCode(sessionEnd, 3, r.code);
        sessionEnd.bind(4, r.outcome);
        sessionEnd.bind(5, r.sessionId);
        if (sessionEnd.step() != SQLITE_DONE) throw StoreError(std::string("cannot index a session: ") + sqlite3_errmsg(db_));
        sessionEnd.reset();
    }
}

std::int64_t SqliteStore::purgeableThrough(std::int64_t cutoffMicros) {
    Statement s(db_,
                "SELECT c.seq FROM checkpoints c JOIN events e ON e.seq = c.seq WHERE e.ts_us < ? "
                "ORDER BY c.seq DESC LIMIT 1");
    s.bind(1, cutoffMicros);
    if (s.step() != SQLITE_ROW) return 0;
    const auto through = s.integer(0);
    Statement first(db_, "SELECT min(seq) FROM events");
    first.step();
    // Nothing before that checkpoint is left: nothing to purge.
    return first.integer(0) > 0 && first.integer(0) <= through ? through : 0;
}

std::int64_t SqliteStore::purgeableReviews(std::int64_t cutoffMicros) {
    Statement s(db_, (std::string("SELECT count(*) FROM reviews WHERE ") + kPurgeableReviews).c_str());
    s.bind(1, cutoffMicros);
    s.step();
    return s.integer(0);
}

bool SqliteStore::truncateLog() {
    // Never waits for a reader (the writer thread must not stall): busy, it is left for the
    // next purge, and the recording overwrites the log's old frames as it goes on.
    sqlite3_busy_timeout(db_, 0);
    const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    sqlite3_busy_timeout(db_, 5000);
    return rc == SQLITE_OK;
}

std::int64_t SqliteStore::purgeChunkEnd(std::int64_t through, std::int64_t maxEvents) {
    Statement first(db_, "SELECT min(seq) FROM events");
    first.step();
    const auto oldest = first.integer(0);
    if (oldest <= 0 || oldest > through) return 0;
    Statement within(db_, "SELECT max(seq) FROM checkpoints WHERE seq >= ?1 AND seq <= ?2");
    within.bind(1, oldest);
    within.bind(2, std::min(through, oldest + std::max<std::int64_t>(maxEvents, 1) - 1));
    within.step();
    if (within.integer(0) > 0) return within.integer(0);
    Statement next(db_, "SELECT min(seq) FROM checkpoints WHERE seq >= ?1 AND seq <= ?2");
    next.bind(1, oldest);
    next.bind(2, through);
    next.step();
    return next.integer(0);
}

std::int64_t SqliteStore::indexedThrough() {
    Statement s(db_, "SELECT through_seq FROM index_state WHERE id = 1");
    return s.step() == SQLITE_ROW ? s.integer(0) : 0;
}

std::vector<record::Event> SqliteStore::eventsAfter(std::int64_t seq, std::size_t limit) {
    Statement s(db_, "SELECT seq, session_id, ts_us, type, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?");
    s.bind(1, seq);
    s.bind(2, static_cast<std::int64_t>(limit));
    std::vector<record::Event> out;
    while (s.step() == SQLITE_ROW) {
        record::Event e;
        e.seq = s.integer(0);
        e.sessionId = s.text(1);
        e.timeMicros = s.integer(2);
        e.type = s.text(3);
        e.payload = s.text(4);
        out.push_back(std::move(e));
    }
    return out;
}

std::vector<record::RequestIndex> SqliteStore::unfinishedRequests() {
    std::vector<record::RequestIndex> out;
    Statement s(db_, "SELECT request_id, session_id FROM requests WHERE ended_us IS NULL ORDER BY first_seq");
    while (s.step() == SQLITE_ROW) {
        record::RequestIndex r;
        r.requestId = s.text(0);
        r.sessionId = s.text(1);
        out.push_back(std::move(r));
    }
    return out;
}

void SqliteStore::savePublicKey(const std::string& keyId, const std::string& publicKeyPem, std::int64_t nowMicros) {
    Statement s(db_, "INSERT OR IGNORE INTO signing_keys (key_id, public_key_pem, first_used_us) VALUES (?, ?, ?)");
    s.bind(1, keyId);
    s.bind(2, publicKeyPem);
    s.bind(3, nowMicros);
    if (s.step() != SQLITE_DONE) throw StoreError(std::string("cannot store the public key: ") + sqlite3_errmsg(db_));
}

std::vector<std::string> SqliteStore::signingKeyIds() {
    Statement s(db_, "SELECT key_id FROM signing_keys ORDER BY first_used_us");
    std::vector<std::string> ids;
    while (s.step() == SQLITE_ROW) ids.push_back(s.text(0));
    return ids;
}

std::filesystem::path ChainWriterLock::pathFor(const std::filesystem::path& database) {
    // One lock file per database file, however the path names it (relative, through a
    // symbolic link, with "..").
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(database, ec), ec);
    if (ec || canonical.empty()) canonical = database;
    return std::filesystem::path(canonical.string() + "-writer.lock");
}

ChainWriterLock::ChainWriterLock(const std::filesystem::path& database) {
    const auto file = pathFor(database);
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw StoreError("cannot open " + file.string() + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        char buf[32] = {};
        const auto n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
        std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
        ::close(fd_);
        fd_ = -1;
        if (err == EWOULDBLOCK) {
            throw StoreError("another process" + (holder.empty() ? std::string() : " (pid " + holder + ")") + " is recording into " +
                             database.string() + " (a gateway runs on this store); one process at a time may append to its chain");
        }
        throw StoreError("cannot lock " + file.string() + ": " + std::strerror(err));
    }
    // Who holds it, for the message above (a write that fails, on a full disk, is harmless).
    const auto pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) {
        [[maybe_unused]] const auto written = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
}

ChainWriterLock::~ChainWriterLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
}

void SqliteEventStore::rememberPublicKey(const std::string& keyId, const std::string& publicKeyPem) {
    store_.savePublicKey(keyId, publicKeyPem,
                         std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count());
}

record::EventStore::Head SqliteEventStore::head() {
    const auto h = store_.chainHead();
    Head head;
    head.seq = h.seq;
    head.hash = h.seq == 0 ? record::genesisHash() : h.hash;
    head.checkpointSeq = h.checkpointSeq;
    return head;
}

}  // namespace vigil::store

#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <array>
#include <chrono>

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
};

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

SqliteStore::SqliteStore(const std::filesystem::path& path) : path_(path.string()) {
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
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("PRAGMA foreign_keys=ON");
    migrate();
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

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

void SqliteStore::appendEvents(const std::vector<record::Event>& events, const std::optional<record::Checkpoint>& checkpoint) {
    exec("BEGIN IMMEDIATE");
    try {
        Statement s(db_, "INSERT INTO events (seq, session_id, ts_us, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)");
        for (const auto& e : events) {
            s.bind(1, e.seq);
            s.bind(2, e.sessionId);
            s.bind(3, e.timeMicros);
            s.bind(4, e.type);
            s.bind(5, e.payload);
            s.bindBlob(6, e.prevHash);
            s.bindBlob(7, e.hash);
            if (s.step() != SQLITE_DONE) throw StoreError(std::string("cannot store an event: ") + sqlite3_errmsg(db_));
            s.reset();
        }
        if (checkpoint) {
            Statement c(db_, "INSERT INTO checkpoints (seq, head_hash, ts_us, key_id, signature) VALUES (?, ?, ?, ?, ?)");
            c.bind(1, checkpoint->seq);
            c.bindBlob(2, checkpoint->headHash);
            c.bind(3, checkpoint->timeMicros);
            c.bind(4, checkpoint->keyId);
            c.bindBlob(5, checkpoint->signature);
            if (c.step() != SQLITE_DONE) throw StoreError(std::string("cannot store a checkpoint: ") + sqlite3_errmsg(db_));
        }
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    // With synchronous=FULL the commit returns once the WAL is on disk.
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
        const std::string message = sqlite3_errmsg(db_);
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw StoreError("cannot commit the recording: " + message);
    }
}

void SqliteStore::savePublicKey(const std::string& keyId, const std::string& publicKeyPem, std::int64_t nowMicros) {
    Statement s(db_, "INSERT OR IGNORE INTO signing_keys (key_id, public_key_pem, first_used_us) VALUES (?, ?, ?)");
    s.bind(1, keyId);
    s.bind(2, publicKeyPem);
    s.bind(3, nowMicros);
    if (s.step() != SQLITE_DONE) throw StoreError(std::string("cannot store the public key: ") + sqlite3_errmsg(db_));
}

void SqliteEventStore::append(const std::vector<record::Event>& events, const std::optional<record::Checkpoint>& checkpoint) {
    store_.appendEvents(events, checkpoint);
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

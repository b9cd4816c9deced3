#include "record/verifier.h"

#include <sqlite3.h>

#include <charconv>
#include <map>

#include "record/chain.h"
#include "record/signing_key.h"
#include "store/schema_version.h"

namespace vigil::record {
namespace {

std::string columnBlob(sqlite3_stmt* s, int i) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s, i));
    return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

std::string columnText(sqlite3_stmt* s, int i) {
    const auto* p = sqlite3_column_text(s, i);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

class Statement {
public:
    Statement(sqlite3* db, const char* sql) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    explicit operator bool() const { return stmt_ != nullptr; }
    sqlite3_stmt* get() const { return stmt_; }

private:
    sqlite3_stmt* stmt_ = nullptr;
};

class Database {
public:
    // `immutable`: a file nobody writes (a copy handed to a verifier) is read without
    // locks, and without creating -wal or -shm files beside it (the directory may be
    // read-only, and evidence is not to be touched). Not when it has a -wal: that holds
    // committed transactions, which only a normal read-only open sees.
    Database(const std::filesystem::path& path, bool immutable) {
        std::error_code ec;
        std::string name = path.string();
        int flags = SQLITE_OPEN_READONLY;
        if (immutable && !std::filesystem::exists(name + "-wal", ec)) {
            std::string uri = "file:";
            for (const char c : name) {
                if (c == '%' || c == '?' || c == '#') {
                    static constexpr char kHex[] = "0123456789ABCDEF";
                    uri += '%';
                    uri += kHex[static_cast<unsigned char>(c) >> 4];
                    uri += kHex[static_cast<unsigned char>(c) & 15];
                } else {
                    uri += c;
                }
            }
            name = uri + "?immutable=1";
            flags |= SQLITE_OPEN_URI;
        }
        if (sqlite3_open_v2(name.c_str(), &db_, flags, nullptr) != SQLITE_OK) error_ = message();
    }
    ~Database() { sqlite3_close(db_); }
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    std::string message() const { return db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory"; }
    sqlite3* get() const { return db_; }
    const std::string& error() const { return error_; }

private:
    sqlite3* db_ = nullptr;
    std::string error_;
};

// "through_seq" of a retention.purged payload.
// An integer member of a payload the gateway wrote ("through_seq", "from_seq"); 0 when absent.
std::int64_t jsonIntegerOf(const std::string& payload, std::string_view name) {
    const std::string key = "\"" + std::string(name) + "\":";
    const auto at = payload.find(key);
    if (at == std::string::npos) return 0;
    std::int64_t value = 0;
    const char* begin = payload.data() + at + key.size();
    std::from_chars(begin, payload.data() + payload.size(), value);
    return value;
}

std::int64_t purgeThroughOf(const std::string& payload) { return jsonIntegerOf(payload, "through_seq"); }

// The recording's tables as the gateway creates them: names, columns in order, and the
// storage class of each value it writes (SQLite would take any class in any column).
struct TableShape {
    const char* name;
    std::vector<std::pair<std::string_view, std::string_view>> columns;  // name, typeof()
};
const std::vector<TableShape>& recordingTables() {
    static const std::vector<TableShape> kTables = {
        {"events",
         {{"seq", "integer"}, {"session_id", "text"}, {"ts_us", "integer"}, {"type", "text"}, {"payload", "text"},
          {"prev_hash", "blob"}, {"hash", "blob"}}},
        {"checkpoints", {{"seq", "integer"}, {"head_hash", "blob"}, {"ts_us", "integer"}, {"key_id", "text"}, {"signature", "blob"}}},
        {"signing_keys", {{"key_id", "text"}, {"public_key_pem", "text"}, {"first_used_us", "integer"}}},
    };
    return kTables;
}

// Empty when the file is a Vigil store this verifier reads: a known schema version, and
// the recording's tables are tables (a view could return anything, or never end) with the
// gateway's columns.
std::string schemaProblem(Database& db) {
    Statement v(db.get(), "PRAGMA user_version");
    if (!v || sqlite3_step(v.get()) != SQLITE_ROW) return "not a Vigil recording (" + db.message() + ")";
    const auto version = sqlite3_column_int64(v.get(), 0);
    if (version > store::kSchemaVersion) {
        return "the store has schema version " + std::to_string(version) + ", newer than this verifier knows (" +
               std::to_string(store::kSchemaVersion) + "): verify it with the vigil of the gateway that wrote it";
    }
    if (version < store::kFirstRecordingSchemaVersion) {
        return "not a Vigil recording (schema version " + std::to_string(version) + " has no recording)";
    }
    for (const auto& table : recordingTables()) {
        Statement t(db.get(), "SELECT type FROM sqlite_schema WHERE name = ?");
        if (!t) return "not a Vigil recording (" + db.message() + ")";
        sqlite3_bind_text(t.get(), 1, table.name, -1, SQLITE_STATIC);
        if (sqlite3_step(t.get()) != SQLITE_ROW) return std::string("not a Vigil recording (no table ") + table.name + ")";
        if (columnText(t.get(), 0) != "table") {
            return std::string("the store was altered: ") + table.name + " is a " + columnText(t.get(), 0) + ", not a table";
        }
        Statement c(db.get(), (std::string("SELECT name FROM pragma_table_info('") + table.name + "') ORDER BY cid").c_str());
        if (!c) return "not a Vigil recording (" + db.message() + ")";
        std::string columns;
        while (sqlite3_step(c.get()) == SQLITE_ROW) columns += (columns.empty() ? "" : ", ") + columnText(c.get(), 0);
        std::string expected;
        for (const auto& [name, type] : table.columns) expected += (expected.empty() ? "" : ", ") + std::string(name);
        if (columns != expected) {
            return std::string("the store was altered: ") + table.name + " has the columns (" + columns + "), not (" + expected + ")";
        }
    }
    return {};
}

// The first column of the row whose storage class is not the one the gateway writes.
std::optional<std::string_view> wrongStorageClass(sqlite3_stmt* s, int firstTypeColumn, const TableShape& table) {
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
        const auto* t = sqlite3_column_text(s, firstTypeColumn + static_cast<int>(i));
        if (t == nullptr || table.columns[i].second != reinterpret_cast<const char*>(t)) return table.columns[i].first;
    }
    return std::nullopt;
}

}  // namespace

// Where a verification stopped, so that the next one goes on from there.
struct ChainMonitor::State {
    VerifyReport report;
    std::int64_t nextSeq = 0;  // 0: nothing read yet
    std::string prevHash;
    std::map<std::int64_t, Checkpoint> checkpoints;  // not yet reached by the events
    std::int64_t checkpointsReadTo = 0;
    bool purgeRecorded = false;
    std::int64_t purgeEventSeq = 0;  // the first purge event that records the cut
};

namespace {

// Reads events after `state.nextSeq` and checks them; false (with the report filled in)
// at the first problem.
bool advance(Database& db, const std::string& pem, ChainMonitor::State& state) {
    auto& report = state.report;
    auto fail = [&](std::optional<std::int64_t> at, std::string problem) {
        report.ok = false;
        report.brokenAt = at;
        report.problem = std::move(problem);
        return false;
    };
    {
        Statement c(db.get(),
                    "SELECT seq, head_hash, ts_us, key_id, signature, typeof(seq), typeof(head_hash), typeof(ts_us), "
                    "typeof(key_id), typeof(signature) FROM checkpoints WHERE seq > ? ORDER BY seq");
        if (!c) return fail(std::nullopt, "not a Vigil recording (" + db.message() + ")");
        sqlite3_bind_int64(c.get(), 1, state.checkpointsReadTo);
        int rc = SQLITE_ROW;
        while ((rc = sqlite3_step(c.get())) == SQLITE_ROW) {
            Checkpoint cp;
            cp.seq = sqlite3_column_int64(c.get(), 0);
            cp.headHash = columnBlob(c.get(), 1);
            cp.timeMicros = sqlite3_column_int64(c.get(), 2);
            cp.keyId = columnText(c.get(), 3);
            cp.signature = columnBlob(c.get(), 4);
            if (const auto column = wrongStorageClass(c.get(), 5, recordingTables()[1])) {
                return fail(cp.seq, "the checkpoint at event " + std::to_string(cp.seq) + " was changed: its " + std::string(*column) +
                                        " is not of the type the gateway writes");
            }
            state.checkpointsReadTo = cp.seq;
            state.checkpoints.emplace(cp.seq, std::move(cp));
        }
        // A damaged page ends the read with an error, not with the end of the table: it must
        // not pass for a chain with fewer checkpoints. (Not pinned to an event: a live
        // monitor asks again next time.)
        if (rc != SQLITE_DONE) return fail(std::nullopt, "the database is damaged: its checkpoints cannot be read (" + db.message() + ")");
    }
    auto checkSignature = [&](const Checkpoint& cp) {
        return cp.keyId == report.keyId && verifySignature(pem, checkpointMessage(cp), cp.signature);
    };

    Statement e(db.get(),
                "SELECT seq, session_id, ts_us, type, payload, prev_hash, hash, typeof(seq), typeof(session_id), typeof(ts_us), "
                "typeof(type), typeof(payload), typeof(prev_hash), typeof(hash) FROM events WHERE seq >= ? ORDER BY seq");
    if (!e) return fail(std::nullopt, "not a Vigil recording (" + db.message() + ")");
    sqlite3_bind_int64(e.get(), 1, state.nextSeq);
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(e.get())) == SQLITE_ROW) {
        Event ev;
        ev.seq = sqlite3_column_int64(e.get(), 0);
        ev.sessionId = columnText(e.get(), 1);
        ev.timeMicros = sqlite3_column_int64(e.get(), 2);
        ev.type = columnText(e.get(), 3);
        ev.payload = columnText(e.get(), 4);
        ev.prevHash = columnBlob(e.get(), 5);
        ev.hash = columnBlob(e.get(), 6);
        // The hash covers the bytes, not their storage class: a payload made a BLOB, or a time
        // made REAL, would read the same here yet differently elsewhere.
        if (const auto column = wrongStorageClass(e.get(), 7, recordingTables()[0])) {
            return fail(ev.seq, "event " + std::to_string(ev.seq) + " was changed after it was recorded: its " + std::string(*column) +
                                    " is not of the type the gateway writes");
        }
        if (state.nextSeq == 0) {
            // The first event: the genesis, or the new beginning left by a purge.
            report.firstSeq = ev.seq;
            if (ev.seq == 1) {
                state.prevHash = genesisHash();
                state.purgeRecorded = true;
            } else {
                const auto anchor = state.checkpoints.find(ev.seq - 1);
                if (anchor == state.checkpoints.end()) {
                    return fail(ev.seq, "events 1 to " + std::to_string(ev.seq - 1) +
                                            " are missing and no signed checkpoint marks where the chain was cut");
                }
                if (!checkSignature(anchor->second)) {
                    return fail(ev.seq - 1, "the checkpoint at event " + std::to_string(ev.seq - 1) +
                                                " (where the chain begins after a purge) has no valid signature");
                }
                report.purgedThrough = ev.seq - 1;
                state.prevHash = anchor->second.headHash;
                ++report.checkpoints;
                report.signedUpTo = ev.seq - 1;
            }
            state.nextSeq = ev.seq;
        }
        if (ev.seq != state.nextSeq) {
            return fail(state.nextSeq, "event " + std::to_string(state.nextSeq) + " is missing: the chain jumps from " +
                                           std::to_string(state.nextSeq - 1) + " to " + std::to_string(ev.seq));
        }
        if (ev.prevHash != state.prevHash) {
            return fail(ev.seq, "event " + std::to_string(ev.seq) +
                                    " does not link to the event before it (an event was removed, changed or reordered)");
        }
        const auto computed = eventHash(state.prevHash, ev);
        if (computed != ev.hash) {
            return fail(ev.seq, "event " + std::to_string(ev.seq) + " was changed after it was recorded (its content does not match its hash)");
        }
        // A purge is written in several transactions when it is large, its event in the
        // first: until the last one, the chain begins at a checkpoint before its through_seq.
        if (ev.type == "retention.purged" && report.purgedThrough > 0 && state.purgeEventSeq == 0 &&
            purgeThroughOf(ev.payload) >= report.purgedThrough) {
            state.purgeRecorded = true;
            state.purgeEventSeq = ev.seq;
        }
        if (ev.type == "recording.unsigned_tail") {
            const auto from = jsonIntegerOf(ev.payload, "from_seq");
            const auto to = jsonIntegerOf(ev.payload, "to_seq");
            if (from > 0 && to >= from) report.signedAtStart.emplace_back(from, to);
        }
        if (auto it = state.checkpoints.find(ev.seq); it != state.checkpoints.end()) {
            const auto& cp = it->second;
            if (!checkSignature(cp)) {
                return fail(ev.seq, "the checkpoint at event " + std::to_string(ev.seq) + " has no valid signature by key " +
                                        report.keyId.substr(0, 16) + "... (forged, or signed by another key)");
            }
            if (cp.headHash != computed) {
                return fail(ev.seq, "the checkpoint at event " + std::to_string(ev.seq) + " signs a different chain: events up to " +
                                        std::to_string(ev.seq) + " were rewritten");
            }
            ++report.checkpoints;
            report.signedUpTo = ev.seq;
        }
        state.checkpoints.erase(state.checkpoints.begin(), state.checkpoints.upper_bound(ev.seq));
        state.prevHash = computed;
        report.lastSeq = ev.seq;
        ++report.events;
        ++state.nextSeq;
    }
    if (rc != SQLITE_DONE) {
        return fail(std::nullopt, "the database is damaged: the events after " + std::to_string(state.nextSeq - 1) +
                                      " cannot be read (" + db.message() + ")");
    }
    if (state.nextSeq > 0 && !state.purgeRecorded) {
        return fail(report.firstSeq, "events 1 to " + std::to_string(report.purgedThrough) +
                                         " are missing and the chain records no purge of them");
    }
    // The gateway signs a purge event in the transaction that writes it: one in the unsigned
    // tail may have been appended by whoever cut the chain.
    if (state.purgeEventSeq > report.signedUpTo) {
        return fail(state.purgeEventSeq, "events 1 to " + std::to_string(report.purgedThrough) +
                                             " are missing and the purge event at " + std::to_string(state.purgeEventSeq) +
                                             " that records it is not signed by a checkpoint");
    }
    if (state.nextSeq == 0 && !state.checkpoints.empty()) {
        return fail(std::nullopt, "the chain has no events, yet a checkpoint signs event " +
                                      std::to_string(state.checkpoints.rbegin()->first) + ": its events were deleted");
    }
    if (!state.checkpoints.empty() && state.checkpoints.rbegin()->first >= state.nextSeq) {
        // Past the last event: a signed one means events were cut off; an unsigned one was
        // added by someone without the key.
        for (const auto& [seq, cp] : state.checkpoints) {
            if (!checkSignature(cp)) {
                return fail(seq, "the checkpoint at event " + std::to_string(seq) + " has no valid signature by key " +
                                     report.keyId.substr(0, 16) + "... (forged), and the last event is " +
                                     std::to_string(state.nextSeq - 1));
            }
        }
        return fail(state.nextSeq, "the chain is truncated: a checkpoint signs event " +
                                       std::to_string(state.checkpoints.rbegin()->first) + ", and the last event is " +
                                       std::to_string(state.nextSeq - 1));
    }
    report.ok = true;
    return true;
}

// Before SQLite opens it: a FIFO would block the open for ever, a directory or a device is
// no recording either. Empty when it is a regular file (symbolic links followed).
std::string fileProblem(const std::filesystem::path& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (status.type() == std::filesystem::file_type::not_found) return "no such file";
    if (ec) return "cannot open the database: " + ec.message();
    if (status.type() != std::filesystem::file_type::regular) return "not a regular file (a database is one file)";
    return {};
}

// Opens the database and resolves the key; false (report filled in) when either fails.
bool open(Database& db, const std::filesystem::path& path, std::string& pem, VerifyReport& report) {
    (void)path;  // fileProblem() checked it before SQLite opened it
    if (!db.error().empty()) {
        report.problem = "cannot open the database: " + db.error();
        return false;
    }
    if (auto problem = schemaProblem(db); !problem.empty()) {
        report.problem = std::move(problem);
        return false;
    }
    if (pem.empty()) {
        Statement k(db.get(), "SELECT public_key_pem FROM signing_keys ORDER BY first_used_us LIMIT 1");
        if (!k) {
            report.problem = "not a Vigil recording (" + db.message() + ")";
            return false;
        }
        if (sqlite3_step(k.get()) == SQLITE_ROW) pem = columnText(k.get(), 0);
        report.keyFromDatabase = true;
    }
    report.keyId = keyIdOfPem(pem);
    if (report.keyId.empty()) {
        report.problem = "no Ed25519 public key to check the signatures with";
        return false;
    }
    return true;
}

}  // namespace

VerifyReport verifyDatabase(const std::filesystem::path& path, const std::string& publicKeyPem) {
    ChainMonitor::State state;
    std::string pem = publicKeyPem;
    if (auto problem = fileProblem(path); !problem.empty()) {
        state.report.problem = std::move(problem);
        return state.report;
    }
    // A rollback journal beside the copy: every ordinary reader (sqlite3, the gateway, an
    // export) rolls it back first and reads other bytes than the file alone holds.
    if (std::error_code ec; std::filesystem::exists(path.string() + "-journal", ec)) {
        state.report.problem = "a rollback journal (" + path.filename().string() +
                               "-journal) lies beside the database: readers would roll it back and see other data than "
                               "the file holds; take a copy with sqlite3's .backup and verify that";
        return state.report;
    }
    Database db(path, /*immutable=*/true);
    if (!open(db, path, pem, state.report)) return state.report;
    // One snapshot (the file may be a live gateway's): events and checkpoints agree.
    sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr);
    advance(db, pem, state);
    sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr);
    return state.report;
}

ChainMonitor::ChainMonitor(std::filesystem::path db, std::string publicKeyPem)
    : db_(std::move(db)), pem_(std::move(publicKeyPem)), state_(std::make_unique<State>()) {}

ChainMonitor::~ChainMonitor() = default;

VerifyReport ChainMonitor::check() {
    std::lock_guard lock(mutex_);
    if (state_->report.brokenAt) return state_->report;  // broken stays broken
    if (auto problem = fileProblem(db_); !problem.empty()) {
        state_->report.ok = false;
        state_->report.problem = std::move(problem);
        return state_->report;
    }
    Database db(db_, /*immutable=*/false);
    std::string pem = pem_;
    auto& report = state_->report;
    const bool keyFromDatabase = report.keyFromDatabase;
    if (!open(db, db_, pem, report)) return report;
    report.keyFromDatabase = keyFromDatabase || pem_.empty();
    // A read transaction, so that events and checkpoints come from one snapshot.
    sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr);
    advance(db, pem, *state_);
    sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr);
    return report;
}

}  // namespace vigil::record

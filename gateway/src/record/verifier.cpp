#include "record/verifier.h"

#include <sqlite3.h>

#include <map>

#include "record/chain.h"
#include "record/signing_key.h"

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

class Database {
public:
    explicit Database(const std::filesystem::path& path) {
        if (sqlite3_open_v2(path.string().c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) error_ = message();
    }
    ~Database() { sqlite3_close(db_); }
    std::string message() const { return db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory"; }
    sqlite3_stmt* prepare(const char* sql) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) {
            error_ = message();
            return nullptr;
        }
        return s;
    }
    const std::string& error() const { return error_; }

private:
    sqlite3* db_ = nullptr;
    std::string error_;
};

}  // namespace

VerifyReport verifyDatabase(const std::filesystem::path& path, const std::string& publicKeyPem) {
    VerifyReport report;
    auto fail = [&](std::optional<std::int64_t> at, std::string problem) {
        report.ok = false;
        report.brokenAt = at;
        report.problem = std::move(problem);
        return report;
    };
    if (!std::filesystem::exists(path)) return fail(std::nullopt, "no such file");
    Database db(path);
    if (!db.error().empty()) return fail(std::nullopt, "cannot open the database: " + db.error());

    // The key to check signatures with.
    std::string pem = publicKeyPem;
    if (pem.empty()) {
        sqlite3_stmt* k = db.prepare("SELECT public_key_pem FROM signing_keys ORDER BY first_used_us LIMIT 1");
        if (k == nullptr) return fail(std::nullopt, "not a Vigil recording (" + db.error() + ")");
        if (sqlite3_step(k) == SQLITE_ROW) pem = columnText(k, 0);
        sqlite3_finalize(k);
        report.keyFromDatabase = true;
    }
    report.keyId = keyIdOfPem(pem);
    if (report.keyId.empty()) return fail(std::nullopt, "no Ed25519 public key to check the signatures with");

    std::map<std::int64_t, Checkpoint> checkpoints;
    {
        sqlite3_stmt* c = db.prepare("SELECT seq, head_hash, ts_us, key_id, signature FROM checkpoints ORDER BY seq");
        if (c == nullptr) return fail(std::nullopt, "not a Vigil recording (" + db.error() + ")");
        while (sqlite3_step(c) == SQLITE_ROW) {
            Checkpoint cp;
            cp.seq = sqlite3_column_int64(c, 0);
            cp.headHash = columnBlob(c, 1);
            cp.timeMicros = sqlite3_column_int64(c, 2);
            cp.keyId = columnText(c, 3);
            cp.signature = columnBlob(c, 4);
            checkpoints.emplace(cp.seq, std::move(cp));
        }
        sqlite3_finalize(c);
    }

    sqlite3_stmt* e = db.prepare("SELECT seq, session_id, ts_us, type, payload, prev_hash, hash FROM events ORDER BY seq");
    if (e == nullptr) return fail(std::nullopt, "not a Vigil recording (" + db.error() + ")");
    std::string prev = genesisHash();
    std::int64_t expected = 1;
    while (sqlite3_step(e) == SQLITE_ROW) {
        Event ev;
        ev.seq = sqlite3_column_int64(e, 0);
        ev.sessionId = columnText(e, 1);
        ev.timeMicros = sqlite3_column_int64(e, 2);
        ev.type = columnText(e, 3);
        ev.payload = columnText(e, 4);
        ev.prevHash = columnBlob(e, 5);
        ev.hash = columnBlob(e, 6);
        if (ev.seq != expected) {
            sqlite3_finalize(e);
            return fail(expected, "event " + std::to_string(expected) + " is missing: the chain jumps from " +
                                      std::to_string(expected - 1) + " to " + std::to_string(ev.seq));
        }
        if (ev.prevHash != prev) {
            sqlite3_finalize(e);
            return fail(ev.seq, "event " + std::to_string(ev.seq) +
                                    " does not link to the event before it (an event was removed, changed or reordered)");
        }
        const auto computed = eventHash(prev, ev);
        if (computed != ev.hash) {
            sqlite3_finalize(e);
            return fail(ev.seq, "event " + std::to_string(ev.seq) + " was changed after it was recorded (its content does not match its hash)");
        }
        if (auto it = checkpoints.find(ev.seq); it != checkpoints.end()) {
            const auto& cp = it->second;
            if (cp.keyId != report.keyId || !verifySignature(pem, checkpointMessage(cp), cp.signature)) {
                sqlite3_finalize(e);
                return fail(ev.seq, "the checkpoint at event " + std::to_string(ev.seq) +
                                        " has no valid signature by key " + report.keyId.substr(0, 16) + "... (forged, or signed by another key)");
            }
            if (cp.headHash != computed) {
                sqlite3_finalize(e);
                return fail(ev.seq, "the checkpoint at event " + std::to_string(ev.seq) +
                                        " signs a different chain: events up to " + std::to_string(ev.seq) + " were rewritten");
            }
            ++report.checkpoints;
            report.signedUpTo = ev.seq;
        }
        prev = computed;
        ++report.events;
        ++expected;
    }
    sqlite3_finalize(e);
    if (!checkpoints.empty() && checkpoints.rbegin()->first >= expected) {
        return fail(expected, "the chain is truncated: a checkpoint signs event " + std::to_string(checkpoints.rbegin()->first) +
                                  ", and the last event is " + std::to_string(expected - 1));
    }
    report.ok = true;
    return report;
}

}  // namespace vigil::record

#include "store/evidence_export.h"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <ranges>

#include "auth/base64url.h"
#include "crypto/digest.h"
#include "record/chain.h"
#include "record/signing_key.h"
#include "vigil/zip.h"
#include "review/review.h"

namespace vigil::store {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct Cancelled : std::exception {};

class ReadOnlyDb {
public:
    explicit ReadOnlyDb(const fs::path& path) {
        if (sqlite3_open_v2(path.string().c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
            error_ = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
        }
        if (db_ != nullptr) sqlite3_busy_timeout(db_, 5000);
    }
    ~ReadOnlyDb() { sqlite3_close(db_); }
    sqlite3* get() const { return db_; }
    const std::string& error() const { return error_; }

private:
    sqlite3* db_ = nullptr;
    std::string error_;
};

class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) {
        if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
    }
    ~Stmt() { sqlite3_finalize(s_); }
    Stmt& bind(int i, std::int64_t v) {
        sqlite3_bind_int64(s_, i, v);
        return *this;
    }
    Stmt& bind(int i, const std::string& v) {
        sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    // A read that fails (or is interrupted: the export was cancelled) ends the export; it
    // never passes for the end of the rows, which would leave a file cut short.
    bool row() {
        const int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        if (rc == SQLITE_INTERRUPT) throw Cancelled();
        throw std::runtime_error(std::string("cannot read the store: ") + sqlite3_errmsg(sqlite3_db_handle(s_)));
    }
    std::int64_t integer(int i) { return sqlite3_column_int64(s_, i); }
    bool null(int i) { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
    std::string text(int i) {
        const auto* p = sqlite3_column_text(s_, i);
        return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, i)));
    }
    std::string blob(int i) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, i));
        return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i)));
    }

private:
    sqlite3_stmt* s_ = nullptr;
};

std::string csvField(const std::string& v) {
    // A cell a spreadsheet would run as a formula (=, +, -, @, or a tab or CR first; OWASP's
    // CSV injection advice) gets a leading apostrophe: approvers write the reasons.
    const bool formula = !v.empty() && std::string_view("=+-@\t\r").find(v.front()) != std::string_view::npos;
    if (!formula && v.find_first_of(",\"\n\r") == std::string::npos) return v;
    std::string out = "\"";
    if (formula) out += '\'';
    for (const char c : v) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string isoTime(std::int64_t micros) { return micros > 0 ? review::formatTime(micros) : std::string(); }

bool writeFile(const fs::path& path, const std::string& bytes, std::map<std::string, std::string>& hashes,
               const std::string& name) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
    out.close();  // (a full disk may only show when the buffer is flushed)
    if (!out) return false;
    hashes[name] = crypto::toHex(crypto::sha256(bytes));
    return true;
}

// A bundle file written as it is made (events.jsonl can be gigabytes: it is never whole in
// memory), its SHA-256 summed on the way.
class StreamedFile {
public:
    StreamedFile(const fs::path& path, std::string name) : path_(path), name_(std::move(name)), out_(path, std::ios::binary | std::ios::trunc) {
        if (!out_) throw std::runtime_error("cannot write " + name_);
    }
    void write(std::string_view bytes) {
        out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        hash_.update(bytes);
    }
    void close(std::map<std::string, std::string>& hashes) {
        out_.close();
        if (!out_) throw std::runtime_error("cannot write " + name_ + " (is the disk full?)");
        hashes[name_] = crypto::toHex(hash_.finish());
    }

private:
    fs::path path_;
    std::string name_;
    std::ofstream out_;
    crypto::Sha256 hash_;
};

// Throws Cancelled once the export is no longer wanted.
void checkCancelled(const EvidenceRequest& request) {
    if (request.cancelled != nullptr && request.cancelled->load(std::memory_order_relaxed)) throw Cancelled();
}

json sessionJson(const SessionRow& s) {
    return {{"id", s.id},
            {"started_at", isoTime(s.startedMicros)},
            {"started_us", s.startedMicros},
            {"last_activity_us", s.lastMicros},
            {"subject", s.subject},
            {"connection", s.connection},
            {"model", s.model},
            {"requests", s.requests},
            {"decision", s.decision},
            {"status", s.status ? json(*s.status) : json(nullptr)},
            {"code", s.code.empty() ? json(nullptr) : json(s.code)},
            {"outcome", s.outcome}};
}

}  // namespace

EvidenceResult exportEvidence(const fs::path& database, const record::SigningKey& key, const EvidenceRequest& request,
                              const fs::path& outDir) {
    EvidenceResult result;
    std::error_code ec;
    if (fs::exists(outDir, ec) && !fs::is_empty(outDir, ec)) {
        result.error = "the output directory " + outDir.string() + " is not empty";
        return result;
    }
    if (request.fromMicros >= request.toMicros) {
        result.error = "the range is empty: 'from' must be before 'to'";
        return result;
    }
    ReadOnlyDb db(database);
    if (!db.error().empty()) {
        result.error = "cannot open " + database.string() + ": " + db.error();
        return result;
    }
    try {
        // One snapshot for every query below (WAL readers see the store as of their first read).
        if (sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK ||
            sqlite3_exec(db.get(), "SELECT 1 FROM events LIMIT 1", nullptr, nullptr, nullptr) != SQLITE_OK) {
            throw std::runtime_error(std::string("cannot read ") + database.string() + ": " + sqlite3_errmsg(db.get()));
        }
        if (request.snapshotTaken) request.snapshotTaken();
        // A long query (a scan for policy texts) is interrupted too once the export is cancelled.
        if (request.cancelled != nullptr) {
            sqlite3_progress_handler(
                db.get(), 100'000, [](void* flag) { return static_cast<const std::atomic<bool>*>(flag)->load(std::memory_order_relaxed) ? 1 : 0; },
                const_cast<std::atomic<bool>*>(request.cancelled));
        }
        // 1. The sessions in scope.
        SessionReader reader(db.get());
        SessionFilter filter = request.filter;
        filter.fromMicros = request.fromMicros;
        filter.toMicros = request.toMicros;
        std::map<std::string, SessionRow> sessions;
        std::optional<SessionCursor> after;
        for (;;) {
            checkCancelled(request);
            const auto page = reader.sessions(filter, after, 500);
            for (const auto& s : page) sessions.emplace(s.id, s);
            if (page.size() < 500) break;
            after = SessionCursor{page.back().startedMicros, page.back().id};
        }
        // A ticket released in scope was approved in its own session: that one comes too.
        std::set<std::string> pending(std::views::keys(sessions).begin(), std::views::keys(sessions).end());
        while (!pending.empty()) {
            checkCancelled(request);
            const auto id = *pending.begin();
            pending.erase(pending.begin());
            Stmt q(db.get(),
                   "SELECT e.payload FROM event_sessions s JOIN events e ON e.seq = s.seq "
                   "WHERE s.session_id = ? AND e.type = 'review.released'");
            q.bind(1, id);
            while (q.row()) {
                const auto payload = json::parse(q.text(0), nullptr, false);
                if (!payload.is_object() || !payload.contains("review_id")) continue;
                Stmt r(db.get(), "SELECT document FROM reviews WHERE id = ?");
                r.bind(1, payload["review_id"].get<std::string>());
                if (!r.row()) continue;
                const auto doc = json::parse(r.text(0), nullptr, false);
                const auto other = doc.is_object() ? doc.value("session_id", "") : std::string();
                if (other.empty() || sessions.contains(other)) continue;
                if (auto row = reader.session(other)) {
                    sessions.emplace(other, *row);
                    pending.insert(other);
                }
            }
        }
        if (sessions.empty()) {
            result.error = "no recorded session matches the range and filters";
            return result;
        }

        // 2. Their events, and the signed checkpoints around them.
        std::set<std::int64_t> inScope;
        std::map<std::string, std::int64_t> firstSeqOf;  // session -> its first event
        for (const auto& [id, s] : sessions) {
            checkCancelled(request);
            Stmt q(db.get(), "SELECT seq FROM event_sessions WHERE session_id = ? ORDER BY seq");
            q.bind(1, id);
            while (q.row()) {
                inScope.insert(q.integer(0));
                firstSeqOf.emplace(id, q.integer(0));
            }
        }
        if (inScope.empty()) {
            result.error = "the sessions in scope have no events in the index (is the database a complete copy?)";
            return result;
        }
        const auto firstInScope = *inScope.begin();
        const auto lastInScope = *inScope.rbegin();
        std::int64_t anchor = 0;
        {
            Stmt q(db.get(), "SELECT coalesce(max(seq), 0) FROM checkpoints WHERE seq < ?");
            q.bind(1, firstInScope);
            if (q.row()) anchor = q.integer(0);
        }
        std::int64_t closing = 0;
        {
            Stmt q(db.get(), "SELECT min(seq) FROM checkpoints WHERE seq >= ?");
            q.bind(1, lastInScope);
            if (q.row() && !q.null(0)) closing = q.integer(0);
        }
        std::int64_t unsignedExcluded = 0;
        if (closing == 0) {
            // Requests still running wrote events after the newest checkpoint: the bundle
            // covers the chain up to that checkpoint, and says how many events it leaves out.
            Stmt q(db.get(), "SELECT coalesce(max(seq), 0) FROM checkpoints");
            if (q.row()) closing = q.integer(0);
            if (closing < firstInScope) {
                result.error = "the events in scope (from " + std::to_string(firstInScope) +
                               ") are not yet covered by a signed checkpoint; the gateway signs one every few seconds "
                               "and at shutdown: export again shortly";
                return result;
            }
            for (auto it = inScope.upper_bound(closing); it != inScope.end();) {
                it = inScope.erase(it);
                ++unsignedExcluded;
            }
            // A session that began after the checkpoint is not in this bundle at all.
            for (auto it = sessions.begin(); it != sessions.end();) {
                const auto first = firstSeqOf.find(it->first);
                if (first == firstSeqOf.end() || first->second > closing) {
                    it = sessions.erase(it);
                } else {
                    ++it;
                }
            }
        }

        fs::create_directories(outDir / "policies");
        std::map<std::string, std::string> hashes;

        StreamedFile events(outDir / "events.jsonl", "events.jsonl");
        std::set<std::string> policyVersions;
        std::string firstPrevHash, lastHash;
        std::int64_t firstSeq = 0;
        {
            Stmt q(db.get(), "SELECT seq, session_id, ts_us, type, payload, prev_hash, hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq");
            q.bind(1, anchor).bind(2, closing);
            while (q.row()) {
                if (result.events % 256 == 0) checkCancelled(request);
                const auto seq = q.integer(0);
                const auto prev = q.blob(5);
                const auto hash = q.blob(6);
                if (firstSeq == 0) {
                    firstSeq = seq;
                    firstPrevHash = record::toHex(prev);
                }
                lastHash = record::toHex(hash);
                json line;
                // In scope by the event's own session (the index may lag behind the events).
                if (sessions.contains(q.text(1))) {
                    const auto type = q.text(3);
                    const auto payload = q.text(4);
                    line = {{"seq", seq},          {"time_us", q.integer(2)},       {"session_id", q.text(1)}, {"type", type},
                            {"payload", payload}, {"prev_hash", record::toHex(prev)}, {"hash", record::toHex(hash)}};
                    ++result.eventsInScope;
                    if (type == "decision") {
                        const auto p = json::parse(payload, nullptr, false);
                        if (p.is_object() && p.contains("policy_version")) policyVersions.insert(p["policy_version"].get<std::string>());
                    }
                } else {
                    line = {{"seq", seq}, {"prev_hash", record::toHex(prev)}, {"hash", record::toHex(hash)}, {"redacted", true}};
                }
                auto text = line.dump();
                text += '\n';
                events.write(text);
                ++result.events;
            }
        }
        if (firstSeq != anchor + 1) {
            result.error = "events " + std::to_string(anchor + 1) + " to " + std::to_string(firstSeq - 1) +
                           " are missing from the database";
            return result;
        }

        std::string checkpoints;
        std::vector<std::int64_t> checkpointSeqs;
        {
            Stmt q(db.get(), "SELECT seq, head_hash, ts_us, key_id, signature FROM checkpoints WHERE seq >= ? AND seq <= ? ORDER BY seq");
            q.bind(1, anchor).bind(2, closing);
            while (q.row()) {
                checkpointSeqs.push_back(q.integer(0));
                checkpoints += json{{"seq", q.integer(0)},
                                    {"head_hash", record::toHex(q.blob(1))},
                                    {"time_us", q.integer(2)},
                                    {"key_id", q.text(3)},
                                    {"signature", auth::base64UrlEncode(q.blob(4))}}
                                   .dump();
                checkpoints += '\n';
            }
        }

        events.close(hashes);
        {
            StreamedFile lines(outDir / "sessions.jsonl", "sessions.jsonl");
            for (const auto& [id, s] : sessions) lines.write(sessionJson(s).dump() + "\n");
            lines.close(hashes);
        }
        result.sessions = static_cast<std::int64_t>(sessions.size());
        checkCancelled(request);

        // 3. Reviews of the sessions in scope: one row each in reviews.csv, one row per
        // approval in approvals.csv (free-text reasons never share a cell).
        std::string csv = "review,kind,mode,state,session,requester,rules,quorum,approvals,denied_by,denied_at,denial_reason,created_at,decided_at\n";
        std::string approvalsCsv = "review,approver,issuer,roles,approved_at,reason\n";
        {
            // Rule ids and role names are restricted to [A-Za-z0-9._:-]: a space separates them.
            const auto spaced = [](const std::vector<std::string>& names) {
                std::string out;
                for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
                return out;
            };
            Stmt q(db.get(), "SELECT document FROM reviews ORDER BY created_us");
            for (std::int64_t n = 0; q.row(); ++n) {
                if (n % 256 == 0) checkCancelled(request);
                const auto doc = json::parse(q.text(0), nullptr, false);
                if (!doc.is_object() || !sessions.contains(doc.value("session_id", ""))) continue;
                const auto r = review::Review::fromJson(doc);
                if (!r) continue;
                for (const auto& a : r->approvals) {
                    approvalsCsv += csvField(r->id) + "," + csvField(a.subject) + "," + csvField(a.issuer) + "," + csvField(spaced(a.roles)) +
                                    "," + isoTime(a.atMicros) + "," + csvField(a.reason) + "\n";
                    ++result.approvals;
                }
                csv += csvField(r->id) + "," + std::string(review::kindName(r->kind)) + "," + std::string(review::modeName(r->mode)) +
                       "," + std::string(review::stateName(r->state)) + "," + csvField(r->sessionId) + "," +
                       csvField(r->requester.subject) + "," + csvField(spaced(r->rules)) + "," + std::to_string(r->quorum) + "," +
                       std::to_string(r->approvals.size()) + "," + csvField(r->denial ? r->denial->subject : std::string()) + "," +
                       csvField(r->denial ? isoTime(r->denial->atMicros) : std::string()) + "," +
                       csvField(r->denial ? r->denial->reason : std::string()) + "," + isoTime(r->createdMicros) + "," +
                       isoTime(r->decidedMicros) + "\n";
                ++result.reviews;
            }
        }

        // 4. The text of every policy version that decided in scope (from the chain).
        json policiesMissing = json::array();
        {
            std::map<std::string, std::string> texts;
            checkCancelled(request);
            Stmt q(db.get(), "SELECT payload FROM events WHERE type = 'policy.loaded'");
            for (std::int64_t n = 0; q.row(); ++n) {
                if (n % 256 == 0) checkCancelled(request);
                const auto p = json::parse(q.text(0), nullptr, false);
                if (p.is_object() && p.contains("version") && p.contains("text")) texts[p["version"]] = p["text"];
            }
            for (const auto& v : policyVersions) {
                const auto it = texts.find(v);
                if (it == texts.end()) {
                    policiesMissing.push_back(v);
                    continue;
                }
                const auto name = "policies/" + v.substr(v.find(':') + 1) + ".json";
                if (!writeFile(outDir / name, it->second, hashes, name)) throw std::runtime_error("cannot write " + name);
                ++result.policies;
            }
        }

        for (const auto& [name, bytes] : std::vector<std::pair<std::string, std::string>>{
                 {"checkpoints.jsonl", checkpoints},
                 {"reviews.csv", csv},
                 {"approvals.csv", approvalsCsv},
                 {"public-key.pem", key.publicKeyPem()}}) {
            if (!writeFile(outDir / name, bytes, hashes, name)) throw std::runtime_error("cannot write " + name);
        }

        const auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        json filters = json::object();
        const auto& f = request.filter;
        if (!f.subject.empty()) filters["subject"] = f.subject;
        if (!f.connection.empty()) filters["connection"] = f.connection;
        if (!f.model.empty()) filters["model"] = f.model;
        if (!f.decision.empty()) filters["decision"] = f.decision;
        if (f.status) filters["status"] = std::to_string(*f.status);
        if (f.statusClass) filters["status"] = std::to_string(*f.statusClass) + "xx";
        if (!f.code.empty()) filters["code"] = f.code;
        json manifest = {
            {"format", "vigil.evidence.v1"},
            {"range", {{"from", isoTime(request.fromMicros)}, {"to", isoTime(request.toMicros)}, {"from_us", request.fromMicros}, {"to_us", request.toMicros}}},
            {"filters", filters},
            {"generated_at", isoTime(now)},
            {"generated_by", request.generatedBy},
            {"counts",
             {{"sessions", result.sessions}, {"events", result.events}, {"events_in_scope", result.eventsInScope},
              {"reviews", result.reviews}, {"approvals", result.approvals}, {"policies", result.policies}}},
            {"chain",
             {{"first_seq", firstSeq}, {"last_seq", closing}, {"first_prev_hash", firstPrevHash}, {"last_hash", lastHash},
              {"anchor_checkpoint", anchor}, {"closing_checkpoint", closing}, {"checkpoints", checkpointSeqs}}},
            {"policies_missing", policiesMissing},
            {"events_after_last_checkpoint_excluded", unsignedExcluded},
            {"key_id", key.keyId()},
            {"files", hashes},
        };
        checkCancelled(request);
        const auto manifestText = manifest.dump(2) + "\n";
        std::map<std::string, std::string> ignored;
        if (!writeFile(outDir / "manifest.json", manifestText, ignored, "manifest.json") ||
            !writeFile(outDir / "manifest.sig", auth::base64UrlEncode(key.sign(manifestText)) + "\n", ignored, "manifest.sig")) {
            throw std::runtime_error("cannot write the manifest");
        }
        result.manifestSha256 = crypto::toHex(crypto::sha256(manifestText));
        result.ok = true;
    } catch (const Cancelled&) {
        result.ok = false;
        result.cancelled = true;
        result.error = "the export was cancelled";
    } catch (const std::exception& e) {
        result.ok = false;
        result.error = e.what();
    }
    return result;
}

bool zipBundle(const fs::path& dir, const fs::path& archive, std::string& error, const std::atomic<bool>* cancelled) {
    std::map<std::string, fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file()) files[fs::relative(it->path(), dir).generic_string()] = it->path();
    }
    if (ec) {
        error = "cannot list the bundle in " + dir.string() + ": " + ec.message();
        return false;
    }
    return writeZipFile(archive, files, error, cancelled);
}

}  // namespace vigil::store

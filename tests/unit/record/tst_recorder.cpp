// The recorder and the verifier: a chain written with group commit verifies; every kind of
// tampering is found and named; a failing store is reported and recovered from; the
// signing key file is private.
#include <QDir>
#include <QTemporaryDir>
#include <QTest>

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/evidence_api.h"
#include "auth/identity.h"
#include "chain/session_owners.h"
#include "chain/session_recording.h"
#include "record/chain.h"
#include "record/recorder.h"
#include "record/signing_key.h"
#include "record/verifier.h"
#include "store/session_reader.h"
#include "store/sqlite_store.h"

using namespace vigil;

namespace {

// Records a response's end and waits for its commit, the way the server waits for a strict
// one; false if it failed or did not come within 10 s.
bool commitAndWait(record::Recorder& recorder, const char* session) {
    auto durable = std::make_shared<std::promise<bool>>();
    auto committed = durable->get_future();
    recorder.record(session, "request.completed", "{}", [durable](bool ok) { durable->set_value(ok); });
    return committed.wait_for(std::chrono::seconds(10)) == std::future_status::ready && committed.get();
}

std::vector<std::int64_t> checkpointSeqs(const std::string& db) {
    sqlite3* h = nullptr;
    sqlite3_open(db.c_str(), &h);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(h, "SELECT seq FROM checkpoints ORDER BY seq", -1, &s, nullptr);
    std::vector<std::int64_t> out;
    while (sqlite3_step(s) == SQLITE_ROW) out.push_back(sqlite3_column_int64(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(h);
    return out;
}

std::int64_t count(const std::string& db, const char* sql) {
    sqlite3* h = nullptr;
    sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(h, sql, -1, &s, nullptr);
    const std::int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    sqlite3_close(h);
    return n;
}

// Every row of a query, one line each, columns separated by '|'.
std::string dump(const std::string& db, const char* sql) {
    sqlite3* h = nullptr;
    sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(h, sql, -1, &s, nullptr) != SQLITE_OK) {
        std::string error = std::string("cannot read: ") + sqlite3_errmsg(h);
        sqlite3_close(h);
        return error;
    }
    std::string out;
    while (sqlite3_step(s) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(s); ++c) {
            const auto* text = sqlite3_column_text(s, c);
            out += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
            out += '|';
        }
        out += '\n';
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
    return out;
}

// Appends an event to the tail of a recording, correctly linked, as someone who can write
// the file (but has no signing key) would.
void appendForged(const std::string& db, const std::string& type, const std::string& payload) {
    sqlite3* h = nullptr;
    QCOMPARE(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    sqlite3_stmt* last = nullptr;
    sqlite3_prepare_v2(h, "SELECT seq, hash, ts_us FROM events ORDER BY seq DESC LIMIT 1", -1, &last, nullptr);
    QCOMPARE(sqlite3_step(last), SQLITE_ROW);
    record::Event e;
    e.seq = sqlite3_column_int64(last, 0) + 1;
    const std::string prev(static_cast<const char*>(sqlite3_column_blob(last, 1)), static_cast<std::size_t>(sqlite3_column_bytes(last, 1)));
    e.timeMicros = sqlite3_column_int64(last, 2) + 1;
    sqlite3_finalize(last);
    e.sessionId = record::kGatewaySession;
    e.type = type;
    e.payload = payload;
    const auto hash = record::eventHash(prev, e);
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(h, "INSERT INTO events (seq, session_id, ts_us, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       -1, &insert, nullptr);
    sqlite3_bind_int64(insert, 1, e.seq);
    sqlite3_bind_text(insert, 2, e.sessionId.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 3, e.timeMicros);
    sqlite3_bind_text(insert, 4, e.type.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 5, e.payload.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 6, prev.data(), static_cast<int>(prev.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 7, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
    QCOMPARE(sqlite3_step(insert), SQLITE_DONE);
    sqlite3_finalize(insert);
    sqlite3_close(h);
}

// Rewrites the hashes of every event from `seq` on, as someone without the key would after
// changing one: the links hold again; only a checkpoint can tell.
void rehashFrom(const std::string& db, std::int64_t seq) {
    sqlite3* h = nullptr;
    QCOMPARE(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    sqlite3_stmt* read = nullptr;
    sqlite3_prepare_v2(h, "SELECT seq, session_id, ts_us, type, payload FROM events WHERE seq >= ? ORDER BY seq", -1, &read, nullptr);
    sqlite3_bind_int64(read, 1, seq);
    std::vector<record::Event> events;
    while (sqlite3_step(read) == SQLITE_ROW) {
        record::Event e;
        e.seq = sqlite3_column_int64(read, 0);
        e.sessionId = reinterpret_cast<const char*>(sqlite3_column_text(read, 1));
        e.timeMicros = sqlite3_column_int64(read, 2);
        e.type = reinterpret_cast<const char*>(sqlite3_column_text(read, 3));
        e.payload = reinterpret_cast<const char*>(sqlite3_column_text(read, 4));
        events.push_back(std::move(e));
    }
    sqlite3_finalize(read);
    sqlite3_stmt* prevStmt = nullptr;
    sqlite3_prepare_v2(h, "SELECT hash FROM events WHERE seq = ?", -1, &prevStmt, nullptr);
    sqlite3_bind_int64(prevStmt, 1, seq - 1);
    QCOMPARE(sqlite3_step(prevStmt), SQLITE_ROW);
    std::string prev(static_cast<const char*>(sqlite3_column_blob(prevStmt, 0)), static_cast<std::size_t>(sqlite3_column_bytes(prevStmt, 0)));
    sqlite3_finalize(prevStmt);
    sqlite3_stmt* update = nullptr;
    sqlite3_prepare_v2(h, "UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", -1, &update, nullptr);
    sqlite3_exec(h, "BEGIN", nullptr, nullptr, nullptr);
    for (const auto& e : events) {
        const auto hash = record::eventHash(prev, e);
        sqlite3_bind_blob(update, 1, prev.data(), static_cast<int>(prev.size()), SQLITE_TRANSIENT);
        sqlite3_bind_blob(update, 2, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(update, 3, e.seq);
        QCOMPARE(sqlite3_step(update), SQLITE_DONE);
        sqlite3_reset(update);
        prev = hash;
    }
    sqlite3_exec(h, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_finalize(update);
    sqlite3_close(h);
}

void exec(const std::string& db, const std::string& sql) {
    sqlite3* h = nullptr;
    QCOMPARE(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &error);
    QVERIFY2(rc == SQLITE_OK, error != nullptr ? error : "");
    sqlite3_close(h);
}

// A store that fails while `failing` is set (disk full, say).
class FlakyStore final : public record::EventStore {
public:
    explicit FlakyStore(std::atomic<bool>& failing) : failing_(failing) {}
    Head head() override { return {0, record::genesisHash(), 0}; }
    void append(const record::Batch& batch) override {
        if (failing_.load()) throw std::runtime_error("disk full");
        for (const auto& e : batch.events) types.push_back(e.type);
        if (!batch.events.empty()) batches.push_back(batch.events.size());
    }
    std::int64_t purgeableThrough(std::int64_t) override { return 0; }
    std::int64_t purgeableReviews(std::int64_t) override { return 0; }
    std::int64_t purgeChunkEnd(std::int64_t, std::int64_t) override { return 0; }
    bool releaseDeleted() override { return true; }
    std::vector<record::RequestIndex> unfinishedRequests() override { return {}; }
    std::int64_t indexedThrough() override { return 0; }
    std::vector<record::Event> eventsAfter(std::int64_t, std::size_t) override { return {}; }
    void rememberPublicKey(const std::string&, const std::string&) override {}
    std::vector<std::string> types;  // of the events stored, in order
    std::vector<std::size_t> batches;  // events per transaction

private:
    std::atomic<bool>& failing_;
};

// A store whose writes wait until `open` is set (a disk slower than the traffic).
class SlowStore final : public record::EventStore {
public:
    explicit SlowStore(std::atomic<bool>& open) : open_(open) {}
    Head head() override { return {0, record::genesisHash(), 0}; }
    void append(const record::Batch& batch) override {
        while (!open_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        events += batch.events.size();
    }
    std::int64_t purgeableThrough(std::int64_t) override { return 0; }
    std::int64_t purgeableReviews(std::int64_t) override { return 0; }
    std::int64_t purgeChunkEnd(std::int64_t, std::int64_t) override { return 0; }
    bool releaseDeleted() override { return true; }
    std::vector<record::RequestIndex> unfinishedRequests() override { return {}; }
    std::int64_t indexedThrough() override { return 0; }
    std::vector<record::Event> eventsAfter(std::int64_t, std::size_t) override { return {}; }
    void rememberPublicKey(const std::string&, const std::string&) override {}
    std::atomic<std::size_t> events{0};

private:
    std::atomic<bool>& open_;
};

// The SQLite store, counting the transactions that purge; the `failAt`-th fails (0: none).
class PurgeCountingStore final : public record::EventStore {
public:
    PurgeCountingStore(const std::string& path, int failAt, std::chrono::milliseconds restDelay = {})
        : inner_(path), failAt_(failAt), restDelay_(restDelay) {}
    Head head() override { return inner_.head(); }
    void append(const record::Batch& batch) override {
        if (batch.purgeThrough && ++purges == failAt_) throw std::runtime_error("disk full");
        // A purge's later transactions (no events) take this long: a slow disk.
        if (batch.purgeThrough && batch.events.empty()) std::this_thread::sleep_for(restDelay_);
        inner_.append(batch);
    }
    std::int64_t purgeableThrough(std::int64_t cutoff) override { return inner_.purgeableThrough(cutoff); }
    std::int64_t purgeableReviews(std::int64_t cutoff) override { return inner_.purgeableReviews(cutoff); }
    std::int64_t purgeChunkEnd(std::int64_t through, std::int64_t maxEvents) override {
        return inner_.purgeChunkEnd(through, maxEvents);
    }
    bool releaseDeleted() override { return inner_.releaseDeleted(); }
    std::vector<record::RequestIndex> unfinishedRequests() override { return inner_.unfinishedRequests(); }
    std::int64_t indexedThrough() override { return inner_.indexedThrough(); }
    std::vector<record::Event> eventsAfter(std::int64_t seq, std::size_t limit) override {
        return inner_.eventsAfter(seq, limit);
    }
    void rememberPublicKey(const std::string& keyId, const std::string& pem) override { inner_.rememberPublicKey(keyId, pem); }
    std::atomic<int> purges{0};

private:
    store::SqliteEventStore inner_;
    int failAt_;
    std::chrono::milliseconds restDelay_;
};

}  // namespace

class TestRecorder : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string original_;
    std::string pem_;

    std::string copyOf(const char* name) {
        const auto path = dir_.filePath(QString::fromLatin1(name)).toStdString();
        std::filesystem::copy_file(original_, path, std::filesystem::copy_options::overwrite_existing);
        return path;
    }

private slots:
    void initTestCase() {
        original_ = dir_.filePath(QStringLiteral("vigil.db")).toStdString();
        auto key = record::SigningKey::loadOrCreate(dir_.filePath(QStringLiteral("signing-key.pem")).toStdString());
        pem_ = key.publicKeyPem();
        record::Recorder::Options options;
        options.checkpointEvery = 1000;
        options.checkpointInterval = std::chrono::hours(1);
        options.maxBatch = 500;  // at least five transactions, so checkpoints fall inside the chain
        std::atomic<int> durable{0};
        {
            record::Recorder recorder(std::make_unique<store::SqliteEventStore>(original_), std::move(key), options);
            std::vector<std::thread> threads;
            for (int t = 0; t < 4; ++t) {
                threads.emplace_back([&, t] {
                    for (int i = 0; i < 625; ++i) {
                        recorder.record("session-" + std::to_string(t) + "-" + std::to_string(i / 5), "test.event",
                                        "{\"n\":" + std::to_string(i) + ",\"text\":\"" + std::string(200, 'x') + "\"}",
                                        [&](bool ok) {
                                            if (ok) durable.fetch_add(1);
                                        });
                    }
                });
            }
            for (auto& t : threads) t.join();
            QVERIFY(recorder.flush());
            QCOMPARE(durable.load(), 2500);
            QCOMPARE(recorder.committedSeq(), std::int64_t(2500));
        }  // the destructor signs the head
    }

    // Someone who can write the file, without the key: deletes the checkpoints, changes an
    // event, re-hashes the rest. The links hold, but nothing signs the events: not proven
    // (the CLI exits 1 on it). A restart signs them, and the chain says so first.
    void checkpointsDeletedLeaveTheChainUnprovenAndARestartSaysSo() {
        const auto db = copyOf("unproven.db");
        exec(db, "DELETE FROM checkpoints");
        exec(db, "UPDATE events SET payload = replace(payload, 'xxxx', 'yyyy') WHERE seq = 47");
        QVERIFY(!record::verifyDatabase(db, pem_).ok);  // changed: the link breaks
        rehashFrom(db, 47);
        auto r = record::verifyDatabase(db, pem_);
        QVERIFY2(r.ok, r.problem.c_str());
        QCOMPARE(r.lastSeq, std::int64_t(2500));
        QCOMPARE(r.signedUpTo, std::int64_t(0));  // every event unproven
        QVERIFY(r.signedAtStart.empty());
        {
            auto key = record::SigningKey::loadOrCreate(dir_.filePath(QStringLiteral("signing-key.pem")).toStdString());
            record::Recorder recorder(std::make_unique<store::SqliteEventStore>(db), std::move(key), {});
            QVERIFY(recorder.flush());
        }
        r = record::verifyDatabase(db, pem_);
        QVERIFY2(r.ok, r.problem.c_str());
        QCOMPARE(r.lastSeq, std::int64_t(2501));
        QCOMPARE(r.signedUpTo, std::int64_t(2501));
        QCOMPARE(r.signedAtStart.size(), std::size_t(1));
        QCOMPARE(r.signedAtStart[0], std::make_pair(std::int64_t(1), std::int64_t(2500)));
        // A clean stop leaves nothing unsigned: the next start adds no such event.
        {
            auto key = record::SigningKey::loadOrCreate(dir_.filePath(QStringLiteral("signing-key.pem")).toStdString());
            record::Recorder recorder(std::make_unique<store::SqliteEventStore>(db), std::move(key), {});
            QVERIFY(recorder.flush());
        }
        r = record::verifyDatabase(db, pem_);
        QCOMPARE(r.lastSeq, std::int64_t(2501));
        QCOMPARE(r.signedAtStart.size(), std::size_t(1));
    }

    // A damaged page ends SQLite's read with an error: reported as such, never taken for the
    // end of the table (a chain with fewer checkpoints, or fewer events).
    void aDamagedDatabaseIsReportedNotShortened() {
        const auto db = copyOf("damaged.db");
        std::int64_t root = 0, pageSize = 0;
        {
            sqlite3* h = nullptr;
            QCOMPARE(sqlite3_open(db.c_str(), &h), SQLITE_OK);
            sqlite3_stmt* s = nullptr;
            sqlite3_prepare_v2(h, "SELECT rootpage, (SELECT page_size FROM pragma_page_size()) FROM sqlite_master WHERE name = 'checkpoints'",
                               -1, &s, nullptr);
            QCOMPARE(sqlite3_step(s), SQLITE_ROW);
            root = sqlite3_column_int64(s, 0);
            pageSize = sqlite3_column_int64(s, 1);
            sqlite3_finalize(s);
            sqlite3_close(h);
        }
        QVERIFY(root > 1 && pageSize >= 512);
        {
            std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp((root - 1) * pageSize);
            f.put(static_cast<char>(0xff));  // the B-tree page type: no valid page has it
        }
        const auto r = record::verifyDatabase(db, pem_);
        QVERIFY(!r.ok);
        QVERIFY2(r.problem.find("the database is damaged") != std::string::npos, r.problem.c_str());
    }

    void anIntactChainVerifies() {
        const auto r = record::verifyDatabase(original_, pem_);
        QVERIFY2(r.ok, r.problem.c_str());
        QCOMPARE(r.events, std::int64_t(2500));
        QCOMPARE(r.signedUpTo, std::int64_t(2500));
        // Group commit: a checkpoint closes the first batch that reaches 1000 events past the
        // previous one; the last signs the final head at shutdown.
        const auto seqs = checkpointSeqs(original_);
        QVERIFY(seqs.size() >= 2);
        QCOMPARE(r.checkpoints, std::int64_t(seqs.size()));
        QVERIFY(seqs.front() >= 1000);
        for (std::size_t i = 1; i + 1 < seqs.size(); ++i) QVERIFY(seqs[i] - seqs[i - 1] >= 1000);
        QCOMPARE(seqs.back(), std::int64_t(2500));
        QVERIFY(!r.keyFromDatabase);
        const auto fromDb = record::verifyDatabase(original_, "");
        QVERIFY(fromDb.ok && fromDb.keyFromDatabase);
    }

    void aChangedByteIsFound() {
        const auto db = copyOf("changed.db");
        exec(db, "UPDATE events SET payload = replace(payload, '\"n\":', '\"N\":') WHERE seq = 1234");
        const auto r = record::verifyDatabase(db, pem_);
        QVERIFY(!r.ok);
        QCOMPARE(r.brokenAt, std::optional<std::int64_t>(1234));
        QVERIFY2(r.problem.find("was changed after it was recorded") != std::string::npos, r.problem.c_str());
        QCOMPARE(r.events, std::int64_t(1233));
    }

    void aDeletedEventIsFound() {
        const auto db = copyOf("deleted.db");
        exec(db, "DELETE FROM events WHERE seq = 777");
        const auto r = record::verifyDatabase(db, pem_);
        QVERIFY(!r.ok);
        QCOMPARE(r.brokenAt, std::optional<std::int64_t>(777));
        QVERIFY2(r.problem.find("event 777 is missing") != std::string::npos, r.problem.c_str());
    }

    void aReorderedEventIsFound() {
        const auto db = copyOf("reordered.db");
        // Swap the contents of events 10 and 11, each keeping its own hashes.
        exec(db, "UPDATE events SET seq = -10 WHERE seq = 10; UPDATE events SET seq = 10 WHERE seq = 11;"
                 "UPDATE events SET seq = 11 WHERE seq = -10;");
        const auto r = record::verifyDatabase(db, pem_);
        QVERIFY(!r.ok);
        QCOMPARE(r.brokenAt, std::optional<std::int64_t>(10));
        QVERIFY2(r.problem.find("does not link") != std::string::npos, r.problem.c_str());
    }

    void aTruncatedTailIsFound() {
        const auto db = copyOf("truncated.db");
        exec(db, "DELETE FROM events WHERE seq > 2400");
        const auto r = record::verifyDatabase(db, pem_);
        QVERIFY(!r.ok);
        QVERIFY2(r.problem.find("truncated") != std::string::npos, r.problem.c_str());
    }

    void aRewrittenChainIsFoundAtTheNextCheckpoint() {
        // Someone without the key changes event 5 and recomputes every hash after it: all
        // links hold, but the signed head at 1000 no longer matches.
        const auto db = copyOf("rewritten.db");
        exec(db, "UPDATE events SET payload = '{\"n\":0,\"text\":\"rewritten\"}' WHERE seq = 5");
        sqlite3* h = nullptr;
        sqlite3_open(db.c_str(), &h);
        sqlite3_stmt* read = nullptr;
        sqlite3_prepare_v2(h, "SELECT seq, session_id, ts_us, type, payload FROM events ORDER BY seq", -1, &read, nullptr);
        std::vector<record::Event> events;
        while (sqlite3_step(read) == SQLITE_ROW) {
            record::Event e;
            e.seq = sqlite3_column_int64(read, 0);
            e.sessionId = reinterpret_cast<const char*>(sqlite3_column_text(read, 1));
            e.timeMicros = sqlite3_column_int64(read, 2);
            e.type = reinterpret_cast<const char*>(sqlite3_column_text(read, 3));
            e.payload = reinterpret_cast<const char*>(sqlite3_column_text(read, 4));
            events.push_back(std::move(e));
        }
        sqlite3_finalize(read);
        sqlite3_exec(h, "BEGIN", nullptr, nullptr, nullptr);
        sqlite3_stmt* write = nullptr;
        sqlite3_prepare_v2(h, "UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", -1, &write, nullptr);
        std::string prev = record::genesisHash();
        for (auto& e : events) {
            const auto hash = record::eventHash(prev, e);
            sqlite3_bind_blob(write, 1, prev.data(), static_cast<int>(prev.size()), SQLITE_TRANSIENT);
            sqlite3_bind_blob(write, 2, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
            sqlite3_bind_int64(write, 3, e.seq);
            sqlite3_step(write);
            sqlite3_reset(write);
            prev = hash;
        }
        sqlite3_finalize(write);
        sqlite3_exec(h, "COMMIT", nullptr, nullptr, nullptr);
        sqlite3_close(h);
        const auto r = record::verifyDatabase(db, pem_);
        QVERIFY(!r.ok);
        QCOMPARE(r.brokenAt, std::optional<std::int64_t>(checkpointSeqs(db).front()));
        QVERIFY2(r.problem.find("signs a different chain") != std::string::npos, r.problem.c_str());
    }

    void aForgedCheckpointIsFound() {
        const auto db = copyOf("forged.db");
        const auto last = checkpointSeqs(db).back();
        exec(db, "UPDATE checkpoints SET signature = zeroblob(64) WHERE seq = " + std::to_string(last));
        auto r = record::verifyDatabase(db, pem_);
        QVERIFY(!r.ok);
        QCOMPARE(r.brokenAt, std::optional<std::int64_t>(last));
        QVERIFY2(r.problem.find("no valid signature") != std::string::npos, r.problem.c_str());
        // Signed by another key: the attacker's own.
        const auto other = record::SigningKey::generate();
        r = record::verifyDatabase(original_, other.publicKeyPem());
        QVERIFY(!r.ok);
        QCOMPARE(r.brokenAt, std::optional<std::int64_t>(checkpointSeqs(original_).front()));
    }

    // A large purge is written in several transactions (the events arriving meanwhile go
    // between them), its event in the first. Cut short (a failed write, a stop), the chain
    // still verifies, beginning at the checkpoint where the last transaction stopped; the
    // next purge finishes the job.
    void aLargePurgeIsWrittenInSeveralTransactions() {
        const auto db = dir_.filePath(QStringLiteral("purge-chunks.db")).toStdString();
        std::atomic<std::int64_t> now{1'700'000'000'000'000};
        const std::int64_t day = 86'400'000'000;
        record::Recorder::Options options;
        options.checkpointEvery = 100;
        options.checkpointInterval = std::chrono::hours(1);
        options.maxBatch = 50;
        options.retentionDays = 30;
        options.purgeCheckInterval = std::chrono::hours(1);
        options.purgeChunkEvents = 100;
        const auto keyFile = dir_.filePath(QStringLiteral("purge-chunks.key")).toStdString();
        auto key = record::SigningKey::loadOrCreate(keyFile);
        const auto pem = key.publicKeyPem();
        auto requests = [&](record::Recorder& recorder, int from, int count) {
            for (int i = from; i < from + count; ++i) {
                record::RequestIndex begin;
                begin.requestId = std::to_string(i).insert(0, "request-");
                begin.sessionId = std::to_string(i).insert(0, "session-");
                begin.startedMicros = now.load();
                begin.method = "POST";
                begin.path = "/v1/chat/completions";
                recorder.record(begin.sessionId, "request.received", "{}", begin);
                record::RequestIndex end = begin;
                end.kind = record::RequestIndex::Kind::End;
                end.endedMicros = now.load();
                end.status = 200;
                end.outcome = "completed";
                recorder.record(end.sessionId, "request.completed", "{}", end);
                QVERIFY(recorder.flush());
            }
        };
        {
            // The third transaction fails.
            auto store = std::make_unique<PurgeCountingStore>(db, 3);
            auto* counting = store.get();
            record::Recorder recorder(std::move(store), std::move(key), options, [&] { return now.load(); });
            requests(recorder, 0, 150);  // 300 events, checkpoints at 100, 200 and 300
            now += 40 * day;
            requests(recorder, 150, 25);
            QVERIFY(!recorder.purgeOlderThan(now.load() - 30 * day));
            QCOMPARE(counting->purges.load(), 3);
        }
        auto r = record::verifyDatabase(db, pem);
        QVERIFY2(r.ok, r.problem.c_str());
        QCOMPARE(r.purgedThrough, std::int64_t(200));  // two of the three transactions
        QCOMPARE(count(db, "SELECT json_extract(payload, '$.through_seq') FROM events WHERE type = 'retention.purged'"),
                 std::int64_t(300));
        QCOMPARE(count(db, "SELECT count(*) FROM requests"), std::int64_t(75));
        {
            // The next start purges the rest, in one more transaction: its first check, or
            // the call below if that came first; either way once, and a second finds nothing.
            auto store = std::make_unique<PurgeCountingStore>(db, 0);
            auto* counting = store.get();
            record::Recorder recorder(std::move(store), record::SigningKey::loadOrCreate(keyFile), options,
                                      [&] { return now.load(); });
            QVERIFY(recorder.purgeOlderThan(now.load() - 30 * day));  // after the check at start: nothing left
            QCOMPARE(counting->purges.load(), 1);
            requests(recorder, 175, 5);
        }
        r = record::verifyDatabase(db, pem);
        QVERIFY2(r.ok, r.problem.c_str());
        QCOMPARE(r.purgedThrough, std::int64_t(300));
        QCOMPARE(count(db, "SELECT count(*) FROM events WHERE type = 'retention.purged'"), std::int64_t(2));
        QCOMPARE(count(db, "SELECT count(*) FROM requests"), std::int64_t(30));
        QCOMPARE(count(db, "SELECT count(*) FROM sessions"), std::int64_t(30));
        QCOMPARE(count(db, "SELECT count(*) FROM event_sessions WHERE seq <= 300"), std::int64_t(0));
        QCOMPARE(count(db, "SELECT count(*) FROM event_sessions"), count(db, "SELECT count(*) FROM events"));
    }

    // flush() (the API calls it before reading) waits for what was queued before it, not for
    // the rest of a large purge.
    void aFlushDoesNotWaitForTheRestOfAPurge() {
        const auto db = dir_.filePath(QStringLiteral("purge-flush.db")).toStdString();
        std::atomic<std::int64_t> now{1'700'000'000'000'000};
        const std::int64_t day = 86'400'000'000;
        record::Recorder::Options options;
        options.checkpointEvery = 100;
        options.checkpointInterval = std::chrono::hours(1);
        options.maxBatch = 50;
        options.retentionDays = 30;
        options.purgeCheckInterval = std::chrono::hours(1);
        options.purgeChunkEvents = 100;
        auto store = std::make_unique<PurgeCountingStore>(db, 0, std::chrono::milliseconds(600));
        auto* counting = store.get();
        record::Recorder recorder(std::move(store), record::SigningKey::generate(), options, [&] { return now.load(); });
        for (int i = 0; i < 150; ++i) {  // 300 events, checkpoints at 100, 200 and 300
            recorder.record("session-" + std::to_string(i), "request.received", "{}");
            recorder.record("session-" + std::to_string(i), "request.completed", "{}");
            QVERIFY(recorder.flush());
        }
        now += 40 * day;
        auto purge = std::async(std::launch::async, [&] { return recorder.purgeOlderThan(now.load() - 30 * day); });
        // The first of the two later transactions is being written (600 ms each).
        QTRY_VERIFY_WITH_TIMEOUT(counting->purges.load() >= 2, 10000);
        std::atomic<bool> durable{false};
        recorder.record("during", "request.received", "{}", [&](bool ok) { durable = ok; });
        QVERIFY(recorder.flush());
        QVERIFY(durable.load());
        // The purge still has its last transaction to write.
        QCOMPARE(purge.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
        QVERIFY(purge.get());
        QCOMPARE(counting->purges.load(), 3);
        QCOMPARE(count(db, "SELECT min(seq) FROM events"), std::int64_t(301));
    }

    // A purge takes along the reviews that finished before the cutoff: their documents hold
    // the prompts. Pending reviews and approved tickets whose grant is still open stay.
    void aRetentionPurgeTakesFinishedReviewsAlong() {
        const auto db = dir_.filePath(QStringLiteral("purge-reviews.db")).toStdString();
        const std::int64_t start = 1'700'000'000'000'000;
        std::atomic<std::int64_t> now{start};
        const std::int64_t day = 86'400'000'000;
        record::Recorder::Options options;
        options.checkpointEvery = 1;
        options.checkpointInterval = std::chrono::hours(1);
        options.retentionDays = 30;
        options.purgeCheckInterval = std::chrono::hours(1);
        auto key = record::SigningKey::generate();
        const auto pem = key.publicKeyPem();
        {
            record::Recorder recorder(std::make_unique<store::SqliteEventStore>(db), std::move(key), options,
                                      [&] { return now.load(); });
            auto review = [&](const std::string& id, const std::string& state, std::int64_t grantUntil, bool released = false) {
                nlohmann::json doc = {{"id", id}, {"state", state}, {"messages", {{{"role", "user"}, {"text", "the prompt of " + id}}}}};
                if (grantUntil > 0) doc["grant_until_us"] = grantUntil;
                if (released) doc["released_us"] = now.load();
                record::ReviewRow row{id, state, now.load(), now.load(), doc.dump()};
                recorder.record("s-" + id, "review." + state, nlohmann::json{{"prompt", "the prompt of " + id}}.dump(),
                                std::move(row), {});
                QVERIFY(recorder.flush());
            };
            // Old answers, enough to fill whole pages that the purge frees.
            for (int i = 0; i < 64; ++i) {
                recorder.record("s-old", "response.chunk",
                                nlohmann::json{{"text", "an old answer " + std::string(1000, 'x')}}.dump());
            }
            QVERIFY(recorder.flush());
            review("rv_denied", "denied", 0);
            review("rv_expired", "expired", 0);
            review("rv_pending", "pending", 0);                  // never purged
            review("rv_lapsed", "approved", now.load() + day);   // its grant lapsed long ago
            now += 5 * day;
            review("rv_grant", "approved", now.load() + 7 * day);  // open until 12 days in
            review("rv_released", "approved", now.load() + 7 * day, true);  // used: nothing left
            now += 15 * day;
            review("rv_twenty", "cancelled", 0);                   // 20 days old at the purge
            now += 20 * day;
            review("rv_recent", "cancelled", 0);
            QVERIFY(recorder.purgeOlderThan(now.load() - 30 * day));  // cutoff: 10 days in
            // Nothing more to purge: no second purge event.
            QVERIFY(recorder.purgeOlderThan(now.load() - 30 * day));

            // What was purged is not left readable in the file's free space, nor in its
            // write-ahead log, while the gateway runs on.
            std::string bytes;
            for (const auto* suffix : {"", "-wal"}) {
                std::ifstream in(db + suffix, std::ios::binary);
                bytes.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            }
            for (const auto* id : {"rv_denied", "rv_expired", "rv_lapsed", "rv_released", "rv_grant", "rv_pending"}) {
                // The events of all six are gone; the reviews of the last two are kept.
                const auto prompt = std::string("the prompt of ") + id;
                std::size_t found = 0;
                for (auto at = bytes.find(prompt); at != std::string::npos; at = bytes.find(prompt, at + 1)) ++found;
                const bool kept = std::string_view(id) == "rv_grant" || std::string_view(id) == "rv_pending";
                QVERIFY2(kept ? found >= 1 : found == 0, id);
            }
            QVERIFY(bytes.find("the prompt of rv_recent") != std::string::npos);
            QVERIFY(bytes.find("an old answer") == std::string::npos);

            QCOMPARE(count(db, "SELECT count(*) FROM reviews"), std::int64_t(4));
            QCOMPARE(count(db, "SELECT count(*) FROM reviews WHERE id IN ('rv_pending', 'rv_grant', 'rv_twenty', 'rv_recent')"),
                     std::int64_t(4));
            QCOMPARE(count(db, "SELECT count(*) FROM events WHERE type = 'retention.purged'"), std::int64_t(1));
            QCOMPARE(count(db, "SELECT json_extract(payload, '$.reviews_purged') FROM events WHERE type = 'retention.purged'"),
                     std::int64_t(4));
            // The events went by their own time: those before the cutoff, the open grant's too.
            QCOMPARE(count(db, "SELECT count(*) FROM events WHERE session_id IN ('s-rv_denied', 's-rv_expired', 's-rv_lapsed', "
                               "'s-rv_pending', 's-rv_grant', 's-rv_released')"),
                     std::int64_t(0));
            QCOMPARE(count(db, "SELECT count(*) FROM events WHERE session_id IN ('s-rv_twenty', 's-rv_recent')"), std::int64_t(2));

            // Three days on, the open grant has lapsed before the cutoff: it goes alone, no
            // events being old enough, in a purge of reviews only (through_seq 0).
            now += 3 * day;
            QVERIFY(recorder.purgeOlderThan(now.load() - 30 * day));
            QCOMPARE(count(db, "SELECT count(*) FROM reviews WHERE id = 'rv_grant'"), std::int64_t(0));
            QCOMPARE(count(db, "SELECT count(*) FROM reviews"), std::int64_t(3));
            QCOMPARE(count(db, "SELECT count(*) FROM events WHERE type = 'retention.purged'"), std::int64_t(2));
            QCOMPARE(count(db, "SELECT json_extract(payload, '$.through_seq') FROM events WHERE type = 'retention.purged' "
                               "ORDER BY seq DESC LIMIT 1"),
                     std::int64_t(0));
            QCOMPARE(count(db, "SELECT json_extract(payload, '$.reviews_purged') FROM events WHERE type = 'retention.purged' "
                               "ORDER BY seq DESC LIMIT 1"),
                     std::int64_t(1));
        }
        const auto r = record::verifyDatabase(db, pem);
        QVERIFY2(r.ok, r.problem.c_str());
        QVERIFY(r.purgedThrough > 0);
    }

    // What the gateway would not open, or could read differently from the verifier, is
    // refused with a message, not verified (and not waited on for ever).
    void anAlteredStoreIsRefused_data() {
        QTest::addColumn<QByteArray>("sql");
        QTest::addColumn<qint64>("brokenAt");  // -1: refused before reading the chain
        QTest::addColumn<QString>("says");
        QTest::newRow("newer schema") << QByteArray("PRAGMA user_version = 99") << qint64(-1) << "schema version 99";
        QTest::newRow("extra column") << QByteArray("ALTER TABLE events ADD COLUMN note TEXT") << qint64(-1)
                                      << "events has the columns";
        QTest::newRow("a view that never ends")
            << QByteArray("ALTER TABLE events RENAME TO events_real; CREATE VIEW events AS WITH RECURSIVE n(x) AS "
                          "(SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x AS seq, '' AS session_id, 0 AS ts_us, "
                          "'' AS type, '' AS payload, x'' AS prev_hash, x'' AS hash FROM n")
            << qint64(-1) << "events is a view, not a table";
        QTest::newRow("payload made a BLOB") << QByteArray("UPDATE events SET payload = CAST(payload AS BLOB) WHERE seq = 321")
                                             << qint64(321) << "its payload is not of the type";
        QTest::newRow("time made REAL") << QByteArray("UPDATE events SET ts_us = ts_us + 0.25 WHERE seq = 654") << qint64(654)
                                        << "its ts_us is not of the type";
        QTest::newRow("checkpoint time made TEXT")
            << QByteArray("UPDATE checkpoints SET ts_us = CAST(ts_us AS TEXT) || 'x' WHERE seq = (SELECT max(seq) FROM checkpoints)")
            << qint64(2500) << "its ts_us is not of the type";
        QTest::newRow("a junk checkpoint past the head")
            << QByteArray("INSERT INTO checkpoints VALUES (2600, zeroblob(32), 1, (SELECT key_id FROM checkpoints LIMIT 1), zeroblob(64))")
            << qint64(2600) << "forged";
    }
    void anAlteredStoreIsRefused() {
        QFETCH(QByteArray, sql);
        QFETCH(qint64, brokenAt);
        QFETCH(QString, says);
        const auto db = copyOf("altered.db");
        exec(db, sql.toStdString());
        const auto r = record::verifyDatabase(db, pem_);
        QVERIFY(!r.ok);
        QVERIFY2(r.problem.find(says.toStdString()) != std::string::npos, r.problem.c_str());
        if (brokenAt < 0) {
            QVERIFY(!r.brokenAt);
        } else {
            QCOMPARE(r.brokenAt, std::optional<std::int64_t>(brokenAt));
        }
    }
    // A FIFO would block SQLite's open for ever.
    void aFifoIsNotOpened() {
        const auto path = dir_.filePath(QStringLiteral("fifo.db")).toStdString();
        QCOMPARE(::mkfifo(path.c_str(), 0600), 0);
        const auto r = record::verifyDatabase(path, pem_);
        QVERIFY(!r.ok);
        QVERIFY2(r.problem.find("not a regular file") != std::string::npos, r.problem.c_str());
        record::ChainMonitor monitor(path, pem_);
        QVERIFY(!monitor.check().ok);
    }

    void notARecording() {
        const auto path = dir_.filePath(QStringLiteral("empty.db")).toStdString();
        exec(path, "CREATE TABLE x (a)");
        const auto r = record::verifyDatabase(path, pem_);
        QVERIFY(!r.ok);
        QVERIFY2(r.problem.find("not a Vigil recording") != std::string::npos, r.problem.c_str());
        QVERIFY(!record::verifyDatabase(dir_.filePath(QStringLiteral("missing.db")).toStdString(), pem_).ok);
    }

    void aRetentionPurgeKeepsTheChainVerifiable() {
        const auto db = dir_.filePath(QStringLiteral("purge.db")).toStdString();
        std::atomic<std::int64_t> now{1'700'000'000'000'000};  // injected clock, Unix microseconds
        const std::int64_t day = 86'400'000'000;
        record::Recorder::Options options;
        options.checkpointEvery = 100;
        options.checkpointInterval = std::chrono::hours(1);
        options.maxBatch = 50;
        options.retentionDays = 30;
        options.purgeCheckInterval = std::chrono::hours(1);
        auto key = record::SigningKey::generate();
        const auto pem = key.publicKeyPem();
        {
            record::Recorder recorder(std::make_unique<store::SqliteEventStore>(db), std::move(key), options,
                                      [&] { return now.load(); });
            auto requests = [&](int from, int count) {
                for (int i = from; i < from + count; ++i) {
                    record::RequestIndex begin;
                    // (Not "r" + std::to_string(i): GCC 12 warns about it, wrongly, with -Wrestrict.)
                    begin.requestId = std::to_string(i).insert(0, "request-");
                    begin.sessionId = std::to_string(i).insert(0, "session-");
                    begin.startedMicros = now.load();
                    begin.method = "POST";
                    begin.path = "/v1/chat/completions";
                    recorder.record(begin.sessionId, "request.received", "{}", begin);
                    record::RequestIndex end = begin;
                    end.kind = record::RequestIndex::Kind::End;
                    end.endedMicros = now.load();
                    end.status = 200;
                    end.outcome = "completed";
                    recorder.record(end.sessionId, "request.completed", "{}", end);
                    QVERIFY(recorder.flush());
                }
            };
            requests(0, 150);  // 300 events, 40 days ago
            now += 40 * day;
            requests(150, 25);  // 50 events now
            QVERIFY(recorder.purgeOlderThan(now.load() - 30 * day));
            requests(175, 25);  // 50 more after the purge
        }
        const auto r = record::verifyDatabase(db, pem);
        QVERIFY2(r.ok, r.problem.c_str());
        QCOMPARE(r.purgedThrough, std::int64_t(300));
        QCOMPARE(r.firstSeq, std::int64_t(301));
        QCOMPARE(r.lastSeq, std::int64_t(401));  // 50 recent events, the purge event, 50 more
        QCOMPARE(r.signedUpTo, r.lastSeq);
        // The index forgot the purged requests and kept the recent ones.
        QCOMPARE(count(db, "SELECT count(*) FROM requests"), std::int64_t(50));
        QCOMPARE(count(db, "SELECT count(*) FROM sessions"), std::int64_t(50));
        QCOMPARE(count(db, "SELECT min(seq) FROM checkpoints"), std::int64_t(300));
        QCOMPARE(count(db, "SELECT count(*) FROM events WHERE type = 'retention.purged'"), std::int64_t(1));

        // Removing the checkpoint that anchors the new beginning is found...
        auto copy = [&](const char* name) {
            const auto path = dir_.filePath(QString::fromLatin1(name)).toStdString();
            std::filesystem::copy_file(db, path, std::filesystem::copy_options::overwrite_existing);
            return path;
        };
        const auto noAnchor = copy("purge-no-anchor.db");
        exec(noAnchor, "DELETE FROM checkpoints WHERE seq = 300");
        auto broken = record::verifyDatabase(noAnchor, pem);
        QVERIFY(!broken.ok);
        QVERIFY2(broken.problem.find("no signed checkpoint marks where the chain was cut") != std::string::npos, broken.problem.c_str());
        // ...and so is cutting more than the recorded purge, even at a signed checkpoint.
        const auto cutMore = copy("purge-cut-more.db");
        exec(cutMore, "DELETE FROM events WHERE seq <= 351; DELETE FROM checkpoints WHERE seq < 351");
        broken = record::verifyDatabase(cutMore, pem);
        QVERIFY(!broken.ok);
        QVERIFY2(broken.problem.find("records no purge of them") != std::string::npos, broken.problem.c_str());
        // ...even with a purge event appended to cover it up: the gateway signs its purge
        // events at once, a forger cannot.
        const auto forged = copy("purge-forged.db");
        exec(forged, "DELETE FROM events WHERE seq <= 351; DELETE FROM checkpoints WHERE seq < 351");
        appendForged(forged, "retention.purged", R"({"through_seq":351,"cutoff_us":0,"retention_days":30,"reviews_purged":0})");
        broken = record::verifyDatabase(forged, pem);
        QVERIFY(!broken.ok);
        QCOMPARE(broken.brokenAt, std::optional<std::int64_t>(402));
        QVERIFY2(broken.problem.find("is not signed by a checkpoint") != std::string::npos, broken.problem.c_str());
        // Deleting everything is no way out either.
        const auto empty = copy("purge-empty.db");
        exec(empty, "DELETE FROM events");
        broken = record::verifyDatabase(empty, pem);
        QVERIFY(!broken.ok);
        QVERIFY2(broken.problem.find("no events") != std::string::npos, broken.problem.c_str());
    }

    void indexRowsLostInACrashAreRebuiltAtStart() {
        // The index is written in its own transactions after the events it describes, so a
        // crash can lose its newest rows while the events are durable. The next start
        // rebuilds them from the events (payloads as the gateway records them), row for row.
        // The same 160 events (same clock, so the same chain) are recorded twice: in full,
        // and stopped after event 58, whose index tables then stand in for those the crash left.
        auto recordInto = [](const std::string& db, int stopAfter) {
            std::atomic<std::int64_t> now{1'700'000'000'000'000};  // read by the writer too
            int recorded = 0;
            record::Recorder recorder(std::make_unique<store::SqliteEventStore>(db), record::SigningKey::generate(), {},
                                      [&] { return now.load(); });
            auto add = [&](const std::string& session, const char* type, const std::string& payload,
                           std::optional<record::RequestIndex> index = {}) {
                if (recorded++ >= stopAfter) return;
                if (index) {
                    recorder.record(session, type, payload, *index);
                } else {
                    recorder.record(session, type, payload);
                }
                QVERIFY(recorder.flush());  // one at a time: the same times, so the same chain
            };
            for (int i = 0; i < 40; ++i) {
                const bool denied = i % 5 == 0;
                record::RequestIndex begin;
                begin.requestId = std::to_string(i).insert(0, "request-");
                // Some sessions begin after the cut below, so that their rows are rebuilt whole.
                begin.sessionId = i < 20 ? std::to_string(i % 7).insert(0, "session-") : std::to_string(i % 3).insert(0, "late-");
                begin.startedMicros = now.load();
                begin.method = "POST";
                begin.path = "/v1/chat/completions";
                begin.subject = std::to_string(i % 3).insert(0, "user-");
                // Tokens (some of the late ones) are owned by issuer and subject; API keys by subject.
                const bool token = i >= 20 && i % 2 == 0;
                begin.authMethod = token ? "oidc" : "api_key";
                begin.owner = token ? "https://idp-a.example " + begin.subject : begin.subject;
                begin.connection = "openai";
                begin.model = "gpt-4o-mini";
                begin.decision = denied ? "deny" : "allow";
                begin.rules = denied ? "no-secrets" : "(default)";
                add(begin.sessionId, "request.received",
                    "{\"request_id\":\"" + begin.requestId +
                        "\",\"method\":\"POST\",\"target\":\"/v1/chat/completions?x=1\","
                        "\"connection\":\"openai\",\"model\":\"gpt-4o-mini\"}",
                    begin);
                add(begin.sessionId, "identity",
                    token ? "{\"method\":\"oidc\",\"subject\":\"" + begin.subject + "\",\"issuer\":\"https://idp-a.example\"}"
                          : "{\"method\":\"api_key\",\"subject\":\"" + begin.subject + "\"}");
                add(begin.sessionId, "decision",
                    denied ? std::string("{\"action\":\"deny\",\"rules\":[\"no-secrets\"],\"by_default\":false}")
                           : std::string("{\"action\":\"allow\",\"rules\":[],\"by_default\":true}"));
                now += 1500;
                record::RequestIndex end = begin;
                end.kind = record::RequestIndex::Kind::End;
                end.endedMicros = now.load();
                end.status = denied ? 403 : 200;
                end.code = denied ? "policy_denied" : "";
                end.outcome = "completed";
                end.requestBytes = 100 + i;
                end.responseBytes = 200 + i;
                end.durationMicros = 1500;
                add(end.sessionId, "request.completed",
                    "{\"request_id\":\"" + end.requestId + "\",\"status\":" + std::to_string(end.status) +
                        (denied ? ",\"code\":\"policy_denied\"" : "") +
                        ",\"request_bytes\":" + std::to_string(end.requestBytes) +
                        ",\"response_bytes\":" + std::to_string(end.responseBytes) + ",\"duration_us\":1500}",
                    end);
                now += 500;
            }
        };
        const auto db = dir_.filePath(QStringLiteral("rebuild.db")).toStdString();
        const auto early = dir_.filePath(QStringLiteral("rebuild-early.db")).toStdString();
        recordInto(db, 160);
        recordInto(early, 58);  // request 14 (events 57-60) has begun, its end is not there
        const char* requests = "SELECT * FROM requests ORDER BY first_seq";
        const char* sessions = "SELECT * FROM sessions ORDER BY session_id";
        const char* eventSessions = "SELECT * FROM event_sessions ORDER BY seq";
        const char* chain = "SELECT seq, hex(hash) FROM events WHERE seq <= 58 ORDER BY seq";
        const auto sameStart = dump(db, chain);
        QCOMPARE(dump(early, chain), sameStart);
        QCOMPARE(std::count(sameStart.begin(), sameStart.end(), '\n'), std::ptrdiff_t(58));
        const auto wantRequests = dump(db, requests), wantSessions = dump(db, sessions),
                   wantEventSessions = dump(db, eventSessions);
        QCOMPARE(count(db, "SELECT count(*) FROM requests"), std::int64_t(40));
        QCOMPARE(count(db, "SELECT through_seq FROM index_state"), std::int64_t(160));
        QCOMPARE(count(early, "SELECT through_seq FROM index_state"), std::int64_t(58));
        QCOMPARE(count(early, "SELECT count(*) FROM requests WHERE ended_us IS NULL"), std::int64_t(1));

        // The crash: the events are all there, the index is as it was after event 58.
        exec(db, "ATTACH '" + early + "' AS early;"
                 "DELETE FROM requests; INSERT INTO requests SELECT * FROM early.requests;"
                 "DELETE FROM sessions; INSERT INTO sessions SELECT * FROM early.sessions;"
                 "DELETE FROM event_sessions; INSERT INTO event_sessions SELECT * FROM early.event_sessions;"
                 "UPDATE index_state SET through_seq = 58");
        QCOMPARE(count(db, "SELECT count(*) FROM requests"), std::int64_t(15));
        {
            record::Recorder recorder(std::make_unique<store::SqliteEventStore>(db), record::SigningKey::generate(), {});
            QVERIFY(recorder.flush());
        }
        QCOMPARE(dump(db, requests), wantRequests);
        QCOMPARE(dump(db, sessions), wantSessions);
        QCOMPARE(dump(db, eventSessions), wantEventSessions);
        QCOMPARE(count(db, "SELECT through_seq FROM index_state"), std::int64_t(160));
    }

    void theIndexIsTheSameWrittenAtOnceOrRowByRow() {
        // A request whose begin and end fall into one index transaction is written as one
        // complete row. The tables must be the same as when every row is written on its own,
        // also where pairing is ambiguous or order matters: requests of one session that end
        // in another order than they began, a request id a client used twice in a session
        // (X-Request-Id is the client's), an end whose begin was written before, a request
        // still open at the end, one opened in a session that has ended requests; a session
        // whose first request ends after its second (its model stays the first's), and a
        // begin whose start is earlier than the one recorded before it.
        struct Step {
            const char* session;
            const char* request;
            bool end;
            int status;
        };
        const std::vector<Step> steps = {
            {"s-1", "early", false, 0},  // its end comes after the first flush in both runs
            {"s-1", "a", false, 0},      {"s-1", "b", false, 0},       {"s-1", "b", true, 201},
            {"s-1", "a", true, 403},     {"s-2", "same", false, 0},    {"s-2", "same", false, 0},
            {"s-2", "same", true, 500},  {"s-2", "x", false, 0},       {"s-2", "x", true, 200},
            {"s-2", "same", true, 429},  {"s-1", "early", true, 502},  {"s-3", "open", false, 0},
            {"s-1", "c", false, 0},      {"s-1", "c", true, 200},      {"s-2", "late", false, 0},
        };
        auto recordInto = [&](const std::string& db, bool rowByRow) {
            std::int64_t now = 1'700'000'000'000'000;
            record::Recorder::Options options;
            options.indexDelay = std::chrono::hours(1);  // only flush() writes the index
            record::Recorder recorder(std::make_unique<store::SqliteEventStore>(db), record::SigningKey::generate(), options,
                                      [] { return std::int64_t{1'700'000'000'000'000}; });
            for (std::size_t i = 0; i < steps.size(); ++i) {
                const auto& s = steps[i];
                record::RequestIndex index;
                index.kind = s.end ? record::RequestIndex::Kind::End : record::RequestIndex::Kind::Begin;
                index.requestId = s.request;
                index.sessionId = s.session;
                now += 1000;
                if (s.end) {
                    index.endedMicros = now;
                    index.status = s.status;
                    index.code = s.status == 200 ? "" : "code-" + std::to_string(s.status);
                    index.outcome = s.status == 502 ? "failed" : "completed";
                    index.requestBytes = 100 + static_cast<std::int64_t>(i);
                    index.responseBytes = 200 + static_cast<std::int64_t>(i);
                    index.durationMicros = 10 + static_cast<std::int64_t>(i);
                } else {
                    // The second "same" of s-2 arrived before the first was recorded (its start is
                    // taken at arrival, its begin recorded after the policy), and asks another model.
                    index.startedMicros = i == 6 ? now - 1500 : now;
                    index.method = "POST";
                    index.path = "/v1/chat/completions";
                    index.subject = std::string("user-") + s.session;
                    index.owner = index.subject;
                    index.authMethod = "api_key";
                    index.connection = "openai";
                    index.model = i == 6 ? "other-model" : "gpt-4o-mini";
                    index.decision = i == 2 ? "review" : "allow";
                    index.rules = "(default)";
                }
                recorder.record(s.session, s.end ? "request.completed" : "request.received", "{}", index);
                if (rowByRow || i == 0) QVERIFY(recorder.flush());
            }
            QVERIFY(recorder.flush());
        };
        const auto atOnce = dir_.filePath(QStringLiteral("index-at-once.db")).toStdString();
        const auto rowByRow = dir_.filePath(QStringLiteral("index-row-by-row.db")).toStdString();
        recordInto(atOnce, false);
        recordInto(rowByRow, true);
        const char* requests = "SELECT * FROM requests ORDER BY first_seq";
        const char* sessions = "SELECT * FROM sessions ORDER BY session_id";
        QCOMPARE(dump(atOnce, requests), dump(rowByRow, requests));
        QCOMPARE(dump(atOnce, sessions), dump(rowByRow, sessions));
        // And what a user of the sessions API would check, spelled out.
        QCOMPARE(dump(atOnce, "SELECT request_id, status, code FROM requests WHERE session_id = 's-2' ORDER BY first_seq"),
                 std::string("same|429|code-429|\nsame|500|code-500|\nx|200|NULL|\nlate|NULL|NULL|\n"));
        QCOMPARE(dump(atOnce, "SELECT session_id, requests, decision, status, outcome, started_us, last_us, model FROM sessions "
                              "ORDER BY session_id"),
                 std::string("s-1|4|review|200|completed|1700000000001000|1700000000015000|gpt-4o-mini|\n"
                             "s-2|4|allow|429|completed|1700000000006000|1700000000016000|gpt-4o-mini|\n"
                             "s-3|1|allow|NULL|NULL|1700000000013000|1700000000013000|gpt-4o-mini|\n"));
        QCOMPARE(count(atOnce, "SELECT count(*) FROM requests WHERE ended_us IS NULL"), std::int64_t(2));
    }

    void eventsThatMayWaitJoinTheNextCommit() {
        std::atomic<bool> failing{false};
        auto store = std::make_unique<FlakyStore>(failing);
        auto* counting = store.get();
        record::Recorder::Options options;
        options.linger = std::chrono::milliseconds(2000);  // long: a slow machine stays inside it
        record::Recorder recorder(std::move(store), record::SigningKey::generate(), options);
        // Three early events and the end of a fast exchange: one transaction.
        recorder.recordSoon("s", "request.received", "{}");
        recorder.recordSoon("s", "identity", "{}");
        recorder.recordSoon("s", "decision", "{}");
        std::atomic<bool> durable{false};
        recorder.record("s", "request.completed", "{}", [&](bool ok) { durable = ok; });
        QTRY_VERIFY(durable.load());
        QCOMPARE(counting->batches, (std::vector<std::size_t>{4}));
        // Alone, an event that may wait is still committed, after the linger.
        recorder.recordSoon("s2", "request.received", "{}");
        QTest::qWait(20);
        QCOMPARE(recorder.committedSeq(), std::int64_t(4));
        QTRY_COMPARE_WITH_TIMEOUT(recorder.committedSeq(), std::int64_t(5), 5000);
        QCOMPARE(counting->batches.back(), std::size_t(1));
    }

    void theWriterStaysAwakeOnlyForDenseStrictCommits() {
        std::atomic<bool> failing{false};
        record::Recorder::Options options;
        options.spin = std::chrono::milliseconds(20);  // generous: a slow machine stays inside it
        record::Recorder recorder(std::make_unique<FlakyStore>(failing), record::SigningKey::generate(), options);
        // Dense: each end comes 1 ms after the previous commit (the next request's exchange).
        // From the third on, the writer is awake for it (the first has no predecessor close
        // to it, the second arms the spin); a writer preempted past the 1 ms misses one.
        for (int i = 0; i < 20; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            QVERIFY(commitAndWait(recorder, "dense"));
        }
        const auto dense = recorder.stats();
        QVERIFY2(dense.spinsCaught >= 5, qPrintable(QString::number(dense.spinsCaught)));
        // Sparse: commits further apart than twice the spin time do not make it spin, and
        // the spin armed by the last dense commit runs out.
        for (int i = 0; i < 3; ++i) {
            QTest::qWait(60);
            QVERIFY(commitAndWait(recorder, "sparse"));
        }
        const auto sparse = recorder.stats();
        QCOMPARE(sparse.spinsCaught, dense.spinsCaught);
        QVERIFY(sparse.spinsExpired <= dense.spinsExpired + 1);
    }

    void aSpinningWriterStillFlushesAndStopsAtOnce() {
        std::atomic<bool> failing{false};
        record::Recorder::Options options;
        options.spin = std::chrono::seconds(30);  // far longer than the test may take
        auto recorder = std::make_unique<record::Recorder>(std::make_unique<FlakyStore>(failing),
                                                           record::SigningKey::generate(), options);
        const auto armed = [&] {
            // Two commits close together arm the spin; 50 ms later the writer is polling.
            const bool ok = commitAndWait(*recorder, "s") && commitAndWait(*recorder, "s");
            QTest::qWait(50);
            return ok;
        };
        QVERIFY(armed());
        const auto started = std::chrono::steady_clock::now();
        recorder->recordSoon("s", "note", "{}");  // may wait: does not end the spin by itself
        QVERIFY(recorder->flush());               // a flush does
        QCOMPARE(recorder->committedSeq(), std::int64_t(3));
        QVERIFY(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
        // Ended by the flush: neither an urgent event caught nor a spin run out.
        QCOMPARE(recorder->stats().spinsCaught, std::uint64_t(0));
        QCOMPARE(recorder->stats().spinsExpired, std::uint64_t(0));
        QVERIFY(armed());
        const auto stopping = std::chrono::steady_clock::now();
        recorder.reset();  // and so does the stop
        QVERIFY(std::chrono::steady_clock::now() - stopping < std::chrono::seconds(10));
    }

    void waitersPollOnlyWhileCommitsAreFast() {
        std::atomic<bool> open{true};
        struct Release {
            std::atomic<bool>& open;
            ~Release() { open = true; }
        };
        record::Recorder::Options options;
        options.spin = std::chrono::milliseconds(50);
        record::Recorder recorder(std::make_unique<SlowStore>(open), record::SigningKey::generate(), options);
        const Release release{open};
        // A fast commit (the store does nothing; on a loaded machine the writer may still be
        // preempted inside one, so a few are allowed).
        const auto fastCommit = [&] {
            for (int i = 0; i < 20; ++i) {
                if (!commitAndWait(recorder, "s")) return false;
                if (recorder.waitSpin().count() == 50'000) return true;
            }
            return false;
        };
        QVERIFY(fastCommit());  // fast disk: waiters poll
        // The disk stalls: once the commit being written has taken longer than the spin,
        // a thread waiting for it sleeps instead of polling.
        open = false;
        auto durable = std::make_shared<std::promise<bool>>();
        auto committed = durable->get_future();
        recorder.record("s", "request.completed", "{}", [durable](bool ok) { durable->set_value(ok); });
        QTRY_COMPARE_WITH_TIMEOUT(recorder.waitSpin().count(), std::int64_t(0), 5000);
        QTest::qWait(100);
        // It lands, slowly: the last commit was slow, still no polling...
        open = true;
        QVERIFY(committed.wait_for(std::chrono::seconds(10)) == std::future_status::ready && committed.get());
        QCOMPARE(recorder.waitSpin().count(), std::int64_t(0));
        // ...until a commit is fast again.
        QVERIFY(fastCommit());
        // And never with the spin off.
        record::Recorder::Options off;
        off.spin = std::chrono::microseconds(0);
        record::Recorder quiet(std::make_unique<SlowStore>(open), record::SigningKey::generate(), off);
        QVERIFY(commitAndWait(quiet, "s"));
        QCOMPARE(quiet.waitSpin().count(), std::int64_t(0));
    }

    void relaxedResponsesWaitForTheirCommitWhileTheWriterIsBehind() {
        std::atomic<bool> open{false};
        std::atomic<bool> opened{false};  // outlives the recorder (the gate's waker sets it)
        // Whatever happens below, the stalled store is released before the recorder is
        // destroyed (its destructor waits for the writer).
        struct Release {
            std::atomic<bool>& open;
            ~Release() { open = true; }
        };
        record::Recorder::Options options;
        options.behindQueuedBytes = 64 * 1024;
        options.maxQueuedBytes = 1024 * 1024;
        auto store = std::make_unique<SlowStore>(open);
        auto* slow = store.get();
        record::Recorder recorder(std::move(store), record::SigningKey::generate(), options);
        const Release release{open};
        using chain::SessionRecording;
        net::ExchangeOutcome outcome;
        outcome.status = 200;
        // Keeping up: a relaxed response is completed at once.
        {
            SessionRecording session(recorder, SessionRecording::Durability::Relaxed, "s0", "r0", SessionRecording::Clock::now());
            QVERIFY(!session.finish("{}", outcome).has_value());
        }
        // The disk stalls and events pile up past the mark: the writer is behind, and a
        // relaxed response now waits for its commit, as a strict one does...
        const std::string big(8 * 1024, 'x');
        for (int i = 0; i < 10; ++i) recorder.recordSoon("filler", "test.event", "{\"x\":\"" + big + "\"}");
        QVERIFY(recorder.behind());
        QVERIFY(recorder.accepting());  // ...and new requests are still served, not refused
        SessionRecording late(recorder, SessionRecording::Durability::Relaxed, "s1", "r1", SessionRecording::Clock::now());
        auto gate = late.finish("{\"answer\":42}", outcome);
        QVERIFY(gate.has_value());
        gate->signal->setWaker([&] { opened = true; });
        QTest::qWait(50);
        QVERIFY(!opened.load());
        // The disk catches up: the gate opens with the events committed, and the writer is
        // no longer behind.
        open = true;
        QTRY_VERIFY(opened.load());
        QVERIFY(gate->ok->load());
        QVERIFY(recorder.flush());
        QVERIFY(!recorder.behind());
        QCOMPARE(slow->events.load(), std::size_t(16));  // r0's 3, the 10 fillers, r1's 3
        SessionRecording after(recorder, SessionRecording::Durability::Relaxed, "s2", "r2", SessionRecording::Clock::now());
        QVERIFY(!after.finish("{}", outcome).has_value());
    }

    void aFailingStoreIsReportedAndRecovers() {
        std::atomic<bool> failing{true};
        auto store = std::make_unique<FlakyStore>(failing);
        auto* flaky = store.get();
        record::Recorder recorder(std::move(store), record::SigningKey::generate(), {});
        std::atomic<int> failed{0}, stored{0};
        recorder.record("s", "t", "{}", [&](bool ok) { ok ? ++stored : ++failed; });
        QVERIFY(!recorder.flush());
        QVERIFY(!recorder.healthy());
        QCOMPARE(failed.load(), 1);
        failing = false;
        recorder.record("s", "t", "{}", [&](bool ok) { ok ? ++stored : ++failed; });
        QVERIFY(recorder.flush());
        QVERIFY(recorder.healthy());
        QCOMPARE(stored.load(), 1);
        // The first write after the failure records the gap before the event.
        QCOMPARE(flaky->types, (std::vector<std::string>{"recording.resumed", "t"}));
    }

    void theSigningKeyFileIsPrivate() {
        const auto path = dir_.filePath(QStringLiteral("keys/new-key.pem")).toStdString();
        const auto key = record::SigningKey::loadOrCreate(path);
        struct stat st {};
        QCOMPARE(::stat(path.c_str(), &st), 0);
        QCOMPARE(st.st_mode & 0777, 0600u);
        // Loaded again: the same key.
        QCOMPARE(record::SigningKey::loadOrCreate(path).keyId(), key.keyId());
        ::chmod(path.c_str(), 0644);
        try {
            record::SigningKey::loadOrCreate(path);
            QFAIL("a key readable by others was accepted");
        } catch (const std::runtime_error& e) {
            QVERIFY2(std::string(e.what()).find("mode 644") != std::string::npos, e.what());
        }
    }

    // After a restart, who may name a session comes from the sessions index: its caller key
    // (issuer and subject), or for a session recorded before the key was kept, its subject.
    // Each export reads the store and writes its bundle to disk twice: two run at once, a third
    // is refused (429, with Retry-After) until one has finished or was cancelled; a refused or
    // bad request takes no slot. A cancelled export (its client left) stops and leaves nothing
    // in the temporary directory.
    void evidenceExportsAreLimitedToTwoAtOnce() {
        const auto db = dir_.filePath(QStringLiteral("exports.db")).toStdString();
        auto recorder = std::make_shared<record::Recorder>(std::make_unique<store::SqliteEventStore>(db), record::SigningKey::generate(),
                                                           record::Recorder::Options{});
        auto api = std::make_shared<api::EvidenceApi>(db, recorder);
        auth::Identity audrey;
        audrey.subject = "apikey:audrey";
        audrey.roles = {"auditor"};
        net::RequestView request;
        request.method = "GET";
        request.target = "/api/evidence?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z";
        net::RequestView bad = request;
        bad.target = "/api/evidence?from=2026-11-01T00:00:00Z";
        QCOMPARE(api->prepare(bad, "r0", audrey).answer->status, 400);
        auto first = api->prepare(request, "r1", audrey);
        auto second = api->prepare(request, "r2", audrey);
        QVERIFY(first.work && second.work);
        auto third = api->prepare(request, "r3", audrey);
        QVERIFY(third.answer);
        QCOMPARE(third.answer->status, 429);
        QVERIFY2(third.answer->body.find("2 evidence exports are being made or sent already") != std::string::npos, third.answer->body.c_str());
        QVERIFY(std::any_of(third.answer->headers.begin(), third.answer->headers.end(),
                            [](const auto& h) { return h.name == "Retry-After"; }));
        // One finishes (its work runs: no session in the range, 404), and a slot is free.
        const std::atomic<bool> wanted{false};
        QCOMPARE(first.work(wanted).status, 404);
        first.work = nullptr;
        auto fourth = api->prepare(request, "r4", audrey);
        QVERIFY(fourth.work);
        QVERIFY(api->prepare(request, "r5", audrey).answer);
        // One is cancelled: it stops, removes its directory, and gives its slot back.
        QTemporaryDir tmp;
        const bool hadTmp = qEnvironmentVariableIsSet("TMPDIR");
        const auto oldTmp = qgetenv("TMPDIR");
        qputenv("TMPDIR", tmp.path().toLocal8Bit());
        const std::atomic<bool> gone{true};
        const auto cancelled = second.work(gone);
        hadTmp ? qputenv("TMPDIR", oldTmp) : qunsetenv("TMPDIR");
        QVERIFY2(cancelled.body.find("the export was cancelled") != std::string::npos, cancelled.body.c_str());
        QVERIFY(!cancelled.file);
        QVERIFY(QDir(tmp.path()).entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden).isEmpty());
        second.work = nullptr;
        QVERIFY(api->prepare(request, "r6", audrey).work);
    }

    void sessionOwnersAreReadBackFromTheIndex() {
        const auto db = dir_.filePath(QStringLiteral("owners.db")).toStdString();
        {
            record::Recorder recorder(std::make_unique<store::SqliteEventStore>(db), record::SigningKey::generate(), {});
            auto begin = [&](const std::string& session, const std::string& subject, const std::string& owner) {
                record::RequestIndex index;
                index.requestId = "request-" + session;
                index.sessionId = session;
                index.startedMicros = 1'700'000'000'000'000;
                index.method = "POST";
                index.path = "/v1/chat/completions";
                index.subject = subject;
                index.owner = owner;
                recorder.record(session, "request.received", "{}", index);
            };
            begin("conv-a", "alice", "https://idp-a.example alice");
            begin("conv-old", "alice", "");
            QVERIFY(recorder.flush());
        }
        exec(db, "UPDATE sessions SET owner = NULL WHERE session_id = 'conv-old'");  // as rows before the column
        store::SessionReader reader(db);
        chain::SessionOwners owners([&](const std::string& id) -> std::optional<chain::SessionOwners::Stored> {
            auto o = reader.sessionOwner(id);
            if (!o) return std::nullopt;
            return chain::SessionOwners::Stored{o->subject, o->callerKey};
        });
        using Claim = chain::SessionOwners::Claim;
        QCOMPARE(owners.claim("conv-a", "https://idp-b.example alice", "alice"), Claim::Conflict);  // same subject, other provider
        QCOMPARE(owners.claim("conv-a", "https://idp-a.example alice", "alice"), Claim::Granted);
        QCOMPARE(owners.claim("conv-old", "apikey:bob", "apikey:bob"), Claim::Conflict);
        QCOMPARE(owners.claim("conv-old", "https://idp-b.example alice", "alice"), Claim::Granted);  // by subject only
        QCOMPARE(owners.claim("conv-new", "apikey:bob", "apikey:bob"), Claim::Granted);
    }
};

QTEST_APPLESS_MAIN(TestRecorder)
#include "tst_recorder.moc"

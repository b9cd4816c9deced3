#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "record/event_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace vigil::store {

class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ApiKeyRecord {
    std::string name;
    std::string keyId;       // the public part of the key, after "vgl_"
    std::string secretHash;  // SHA-256 of the secret part, raw bytes
    std::vector<std::string> roles;
    std::int64_t createdAt = 0;  // Unix seconds
    std::optional<std::int64_t> expiresAt;
    std::optional<std::int64_t> revokedAt;
    std::optional<std::int64_t> lastUsedAt;
};

struct ChainHead {
    std::int64_t seq = 0;
    std::string hash;
    std::int64_t checkpointSeq = 0;
};

struct DailyUsage {
    std::string subject;
    std::int64_t day = 0;  // days since 1970-01-01 (UTC)
    std::int64_t tokens = 0;
};

// The gateway's one SQLite database (WAL, versioned migrations). One object per thread:
// a connection is not shared between threads.
class SqliteStore {
public:
    enum class Durability { Full, Normal };
    // Creates and migrates. Durability::Normal (synchronous=NORMAL): a commit survives a
    // crash of the process but not of the machine (the relaxed recording mode).
    explicit SqliteStore(const std::filesystem::path& path, Durability durability = Durability::Full);
    ~SqliteStore();
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    int schemaVersion();
    void setCacheBytes(std::int64_t bytes);
    // Changes when another connection commits (PRAGMA data_version).
    std::int64_t dataVersion();

    // Throws StoreError when the name is taken.
    void insertApiKey(const ApiKeyRecord& record);
    std::vector<ApiKeyRecord> apiKeys();
    // False when no active key has that name.
    bool revokeApiKey(const std::string& name, std::int64_t at);
    void touchApiKeys(const std::vector<std::pair<std::string, std::int64_t>>& lastUsed);

    // Token budgets: the counts of one day replace what was stored for (subject, day).
    void saveDailyUsage(const std::vector<DailyUsage>& rows);
    std::vector<DailyUsage> dailyUsage(std::int64_t day);

    // The recording's chain (record::SqliteEventStore below is the recorder's view).
    ChainHead chainHead();
    // One transaction: the events, their sessions index rows, the checkpoint, the purge.
    void appendBatch(const record::Batch& batch);
    std::int64_t purgeableThrough(std::int64_t cutoffMicros);
    std::int64_t purgeableReviews(std::int64_t cutoffMicros);
    std::int64_t purgeChunkEnd(std::int64_t through, std::int64_t maxEvents);
    // Copies the write-ahead log into the database and truncates it to nothing, unless a
    // reader is using it (false).
    bool truncateLog();
    std::vector<record::RequestIndex> unfinishedRequests();
    std::int64_t indexedThrough();
    std::vector<record::Event> eventsAfter(std::int64_t seq, std::size_t limit);
    std::vector<record::ReviewRow> openReviews();
    std::optional<record::ReviewRow> review(const std::string& id);
    void savePublicKey(const std::string& keyId, const std::string& publicKeyPem, std::int64_t nowMicros);
    // The ids of every key that has signed this store's chain, oldest first.
    std::vector<std::string> signingKeyIds();

private:
    void exec(const char* sql);
    void migrate();
    void writeIndex(const std::vector<record::RequestIndex>& rows);
    std::vector<record::ReviewRow> reviews(const char* where, const std::string& arg);

    // Statements of the recorder's hot path, prepared once (a commit per request at low load).
    sqlite3_stmt* prepared(sqlite3_stmt*& slot, const char* sql);
    bool run(sqlite3_stmt*& slot, const char* sql);  // a statement without results

    sqlite3* db_ = nullptr;
    std::string path_;
    Durability durability_ = Durability::Full;
    sqlite3_stmt* begin_ = nullptr;
    sqlite3_stmt* commit_ = nullptr;
    sqlite3_stmt* insertEvent_ = nullptr;
};

// One process at a time appends to a store's hash chain: a second writer would fork it
// (each links its events to the head it has in memory). The lock is an flock(2) on
// "<database>-writer.lock", held while the object lives and released by the kernel when
// the process dies, so a killed gateway never leaves a stale lock.
class ChainWriterLock {
public:
    // Throws StoreError naming the process that holds the lock.
    explicit ChainWriterLock(const std::filesystem::path& database);
    ~ChainWriterLock();
    ChainWriterLock(const ChainWriterLock&) = delete;
    ChainWriterLock& operator=(const ChainWriterLock&) = delete;
    static std::filesystem::path pathFor(const std::filesystem::path& database);

private:
    int fd_ = -1;
};

// The recorder's store on SQLite: its own connection, used by the writer thread only.
class SqliteEventStore final : public record::EventStore {
public:
    explicit SqliteEventStore(const std::filesystem::path& path,
                              SqliteStore::Durability durability = SqliteStore::Durability::Full)
        : lock_(path), store_(path, durability) {
        // The writer inserts into the index B-trees at random places (by session id): a
        // cache that holds them saves a read(2) of a page per insert.
        store_.setCacheBytes(64LL * 1024 * 1024);
    }
    Head head() override;
    void append(const record::Batch& batch) override { store_.appendBatch(batch); }
    std::int64_t purgeableThrough(std::int64_t cutoffMicros) override { return store_.purgeableThrough(cutoffMicros); }
    std::int64_t purgeableReviews(std::int64_t cutoffMicros) override { return store_.purgeableReviews(cutoffMicros); }
    std::int64_t purgeChunkEnd(std::int64_t through, std::int64_t maxEvents) override {
        return store_.purgeChunkEnd(through, maxEvents);
    }
    bool releaseDeleted() override { return store_.truncateLog(); }
    std::vector<record::RequestIndex> unfinishedRequests() override { return store_.unfinishedRequests(); }
    std::int64_t indexedThrough() override { return store_.indexedThrough(); }
    std::vector<record::Event> eventsAfter(std::int64_t seq, std::size_t limit) override {
        return store_.eventsAfter(seq, limit);
    }
    void rememberPublicKey(const std::string& keyId, const std::string& publicKeyPem) override;

private:
    ChainWriterLock lock_;
    SqliteStore store_;
};

}  // namespace vigil::store

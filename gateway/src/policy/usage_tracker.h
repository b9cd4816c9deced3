#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "policy/policy.h"

namespace vigil::store {
class SqliteStore;
}

namespace vigil::policy {

// Per-identity requests in the last minute and tokens in the current UTC day, for the
// policy's requests_per_minute_over and tokens_per_day_over conditions. Thread-safe.
// Token counts are written to the store about once a second and loaded at start, so
// budgets survive a restart (a crash loses at most the last second of counts).
class UsageTracker {
public:
    using TimePoint = std::chrono::system_clock::time_point;

    // With an empty path, counts are kept in memory only.
    explicit UsageTracker(const std::filesystem::path& storePath, TimePoint now = std::chrono::system_clock::now());
    ~UsageTracker();  // writes what is not yet stored
    UsageTracker(const UsageTracker&) = delete;
    UsageTracker& operator=(const UsageTracker&) = delete;

    struct Admission {
        Usage usage;  // including this request
        std::int64_t second = 0;
        std::int64_t day = 0;
        std::int64_t tokens = 0;
    };

    // Counts a request of `subject` with `tokens` estimated tokens and returns the usage
    // including it. Counting first makes limits exact under concurrency: two requests of
    // one caller never both see the last free place.
    Admission admit(std::string_view subject, std::int64_t tokens, TimePoint now);
    // Takes back a request that was not let through (denied requests do not count).
    void refund(std::string_view subject, const Admission& admission);

    // Writes changed counts to the store now; false when the store failed.
    bool flush();

private:
    struct Entry {
        std::array<std::uint32_t, 60> bucketSecond{};  // Unix second of each bucket
        std::array<std::uint32_t, 60> bucketCount{};
        std::int64_t day = 0;
        std::int64_t tokens = 0;
        std::int64_t lastSecond = 0;
        bool dirty = false;
    };
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    struct Shard {
        std::mutex mutex;
        std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> entries;
    };
    static constexpr std::size_t kShards = 16;

    Shard& shardFor(std::string_view subject);
    void flushLoop();

    std::array<Shard, kShards> shards_;
    std::unique_ptr<store::SqliteStore> store_;
    std::mutex flushMutex_;  // one flush at a time (the store connection is not shared)
    std::mutex stopMutex_;
    std::condition_variable stopCv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace vigil::policy

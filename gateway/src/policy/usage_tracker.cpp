#include "policy/usage_tracker.h"

#include "observe/log.h"
#include "store/sqlite_store.h"
#include "observe/thread_name.h"

namespace vigil::policy {
namespace {

std::int64_t unixSeconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::int64_t dayOf(std::int64_t seconds) { return seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400; }

}  // namespace

UsageTracker::UsageTracker(const std::filesystem::path& storePath, TimePoint now) {
    if (storePath.empty()) return;
    store_ = std::make_unique<store::SqliteStore>(storePath);
    const auto today = dayOf(unixSeconds(now));
    for (auto& row : store_->dailyUsage(today)) {
        auto& shard = shardFor(row.subject);
        auto& entry = shard.entries[row.subject];
        entry.day = row.day;
        entry.tokens = row.tokens;
    }
    thread_ = std::thread([this] {
        observe::nameThisThread("vigil-usage");
        flushLoop();
    });
}

UsageTracker::~UsageTracker() {
    {
        std::lock_guard lock(stopMutex_);
        stopping_ = true;
    }
    stopCv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (store_) flush();
}

UsageTracker::Shard& UsageTracker::shardFor(std::string_view subject) {
    return shards_[std::hash<std::string_view>{}(subject) % kShards];
}

UsageTracker::Admission UsageTracker::admit(std::string_view subject, std::int64_t tokens, TimePoint now) {
    Admission admission;
    const auto second = unixSeconds(now);
    admission.second = second;
    admission.day = dayOf(second);
    admission.tokens = tokens;
    auto& shard = shardFor(subject);
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(subject);
    if (it == shard.entries.end()) it = shard.entries.emplace(std::string(subject), Entry{}).first;
    Entry& e = it->second;

    const auto slot = static_cast<std::size_t>(second % 60);
    if (e.bucketSecond[slot] != static_cast<std::uint32_t>(second)) {
        e.bucketSecond[slot] = static_cast<std::uint32_t>(second);
        e.bucketCount[slot] = 0;
    }
    ++e.bucketCount[slot];
    e.lastSecond = second;
    if (e.day != admission.day) {
        e.day = admission.day;
        e.tokens = 0;
    }
    e.tokens += tokens;
    e.dirty = e.dirty || tokens != 0;

    auto& usage = admission.usage;
    for (std::size_t i = 0; i < 60; ++i) {
        const auto s = second - 59 + static_cast<std::int64_t>(i);
        const auto k = static_cast<std::size_t>(((s % 60) + 60) % 60);
        const auto count = e.bucketSecond[k] == static_cast<std::uint32_t>(s) ? e.bucketCount[k] : 0u;
        usage.requestsPerSecond[i] = count;
        usage.requestsLastMinute += count;
    }
    usage.tokensToday = e.tokens;
    usage.secondsToDayEnd = (admission.day + 1) * 86400 - second;
    return admission;
}

void UsageTracker::refund(std::string_view subject, const Admission& admission) {
    auto& shard = shardFor(subject);
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(subject);
    if (it == shard.entries.end()) return;
    Entry& e = it->second;
    const auto slot = static_cast<std::size_t>(admission.second % 60);
    if (e.bucketSecond[slot] == static_cast<std::uint32_t>(admission.second) && e.bucketCount[slot] > 0) {
        --e.bucketCount[slot];
    }
    if (e.day == admission.day && admission.tokens != 0) {
        e.tokens -= admission.tokens;
        e.dirty = true;
    }
}

bool UsageTracker::flush() {
    if (!store_) return true;
    std::lock_guard flushLock(flushMutex_);
    std::vector<store::DailyUsage> rows;
    const auto now = unixSeconds(std::chrono::system_clock::now());
    for (auto& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        for (auto it = shard.entries.begin(); it != shard.entries.end();) {
            auto& e = it->second;
            if (e.dirty) {
                rows.push_back({it->first, e.day, e.tokens});
                e.dirty = false;
            }
            // Forget callers idle for a minute whose counts are stored and of an earlier day.
            if (!e.dirty && e.lastSecond < now - 60 && e.day < dayOf(now)) {
                it = shard.entries.erase(it);
            } else {
                ++it;
            }
        }
    }
    try {
        store_->saveDailyUsage(rows);
        return true;
    } catch (const std::exception& ex) {
        // Mark them again so the next flush retries.
        for (const auto& row : rows) {
            auto& shard = shardFor(row.subject);
            std::lock_guard lock(shard.mutex);
            if (auto it = shard.entries.find(row.subject); it != shard.entries.end()) it->second.dirty = true;
        }
        observe::LogLine(observe::LogLevel::Error, "usage not stored").str("error", ex.what());
        return false;
    }
}

void UsageTracker::flushLoop() {
    std::unique_lock lock(stopMutex_);
    while (!stopping_) {
        stopCv_.wait_for(lock, std::chrono::seconds(1));
        if (stopping_) break;
        lock.unlock();
        flush();
        lock.lock();
    }
}

}  // namespace vigil::policy

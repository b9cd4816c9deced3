#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "policy/policy.h"

namespace vigil::observe {
class Metrics;
}

namespace vigil::policy {

// The policy in force, and its reloads. Requests take the current policy with one atomic
// load and keep it for their whole evaluation, so a reload never shows them half a
// policy; a new policy is compiled completely before it is swapped in. An invalid file
// is refused and the old policy stays.
class PolicySource {
public:
    PolicySource(std::filesystem::path file, std::shared_ptr<const Policy> initial,
                 std::shared_ptr<observe::Metrics> metrics);
    ~PolicySource();
    PolicySource(const PolicySource&) = delete;
    PolicySource& operator=(const PolicySource&) = delete;

    std::shared_ptr<const Policy> current() const { return current_.load(std::memory_order_acquire); }

    enum class ReloadResult { Loaded, Unchanged, Refused };
    // Reads the file again; `trigger` ("SIGHUP", "file change") goes to the log.
    ReloadResult reload(std::string_view trigger);
    // Called with each policy put in force by a reload (from the reload thread). Set before start().
    void onLoaded(std::function<void(const std::shared_ptr<const Policy>&)> callback) { onLoaded_ = std::move(callback); }

    // Starts a thread that reloads on SIGHUP and, with `watchFile`, when the file changes
    // (checked every `poll`). SIGHUP must be blocked in every thread of the process
    // (blockReloadSignal() before any thread starts) so that this thread receives it.
    void start(bool watchFile, std::chrono::milliseconds poll);
    void stop();

    static void blockReloadSignal();

private:
    struct FileStamp {
        std::filesystem::file_time_type modified{};
        std::uintmax_t size = 0;
        bool exists = false;
        bool operator==(const FileStamp&) const = default;
    };
    FileStamp stamp() const;
    void run(bool watchFile, std::chrono::milliseconds poll);

    std::filesystem::path file_;
    std::atomic<std::shared_ptr<const Policy>> current_;
    std::shared_ptr<observe::Metrics> metrics_;
    std::mutex reloadMutex_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    std::function<void(const std::shared_ptr<const Policy>&)> onLoaded_;
};

}  // namespace vigil::policy

#include "policy/policy_source.h"

#include <csignal>
#include <ctime>

#include <pthread.h>

#include "observe/log.h"
#include "observe/metrics.h"
#include "policy/policy_loader.h"
#include "observe/thread_name.h"

namespace vigil::policy {

PolicySource::PolicySource(std::filesystem::path file, std::shared_ptr<const Policy> initial,
                           std::shared_ptr<observe::Metrics> metrics)
    : file_(std::move(file)), current_(std::move(initial)), metrics_(std::move(metrics)) {
    if (metrics_) metrics_->policyLoaded(current()->version, false);
}

PolicySource::~PolicySource() { stop(); }

void PolicySource::blockReloadSignal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

PolicySource::FileStamp PolicySource::stamp() const {
    FileStamp s;
    std::error_code ec;
    s.modified = std::filesystem::last_write_time(file_, ec);
    if (ec) return s;
    s.size = std::filesystem::file_size(file_, ec);
    s.exists = !ec;
    return s;
}

PolicySource::ReloadResult PolicySource::reload(std::string_view trigger) {
    std::lock_guard lock(reloadMutex_);
    auto result = loadPolicyFile(file_);
    const auto old = current();
    if (!result.policy) {
        if (metrics_) metrics_->policyReloadFailed();
        observe::LogLine line(observe::LogLevel::Error, "policy reload refused");
        line.str("file", file_.string())
            .str("trigger", trigger)
            .str("kept_version", old->version)
            .num("errors", static_cast<std::int64_t>(result.issues.size()))
            .str("first_error", formatIssue(file_, result.issues.front()));
        return ReloadResult::Refused;
    }
    if (result.policy->version == old->version) {
        observe::LogLine(observe::LogLevel::Info, "policy unchanged")
            .str("trigger", trigger)
            .str("version", old->version);
        return ReloadResult::Unchanged;
    }
    current_.store(result.policy, std::memory_order_release);
    if (metrics_) metrics_->policyLoaded(result.policy->version, true);
    if (onLoaded_) onLoaded_(result.policy);
    observe::LogLine(observe::LogLevel::Info, "policy reloaded")
        .str("file", file_.string())
        .str("trigger", trigger)
        .str("version", result.policy->version)
        .str("previous_version", old->version)
        .num("rules", static_cast<std::int64_t>(result.policy->rules.size()));
    return ReloadResult::Loaded;
}

void PolicySource::start(bool watchFile, std::chrono::milliseconds poll) {
    thread_ = std::thread([this, watchFile, poll] {
        observe::nameThisThread("vigil-policy");
        run(watchFile, poll);
    });
}

void PolicySource::stop() {
    stopping_.store(true);
    if (thread_.joinable()) thread_.join();
}

void PolicySource::run(bool watchFile, std::chrono::milliseconds poll) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    FileStamp seen = stamp();
    std::optional<FileStamp> changing;  // a change seen, waiting for the file to settle
    // Wake at least every 200 ms so stop() is prompt.
    const auto tick = std::min(poll, std::chrono::milliseconds(200));
    auto lastPoll = std::chrono::steady_clock::now();
    while (!stopping_.load()) {
        timespec timeout{0, static_cast<long>(std::chrono::nanoseconds(tick).count())};
        if (sigtimedwait(&set, nullptr, &timeout) == SIGHUP) {
            reload("SIGHUP");
            seen = stamp();
            changing.reset();
            continue;
        }
        if (!watchFile || std::chrono::steady_clock::now() - lastPoll < poll) continue;
        lastPoll = std::chrono::steady_clock::now();
        const auto now = stamp();
        if (now == seen) {
            changing.reset();
            continue;
        }
        if (!now.exists) {
            // Deleted (or being replaced): keep the policy in force and say so once.
            observe::LogLine(observe::LogLevel::Warn, "policy file missing")
                .str("file", file_.string())
                .str("kept_version", current()->version);
            seen = now;
            changing.reset();
            continue;
        }
        // Editors and deploy tools write in steps: reload once the file has stayed the
        // same for one poll, so a half-written file is not taken for an invalid policy.
        if (!changing || !(*changing == now)) {
            changing = now;
            continue;
        }
        changing.reset();
        seen = now;
        if (now.exists) reload("file change");
    }
}

}  // namespace vigil::policy

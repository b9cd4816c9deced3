#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vigil/details_code.h"

namespace vigil::observe {

// Prometheus metrics of the request path. Lock-free counters updated from every worker
// thread; render() writes the text exposition format (version 0.0.4).
class Metrics {
public:
    static constexpr std::array<double, 16> kBuckets = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
        0.25,   0.5,   1.0,    2.5,   5.0,  10.0,  30.0, 120.0};

    explicit Metrics(std::vector<std::string> connectionNames);

    void requestStarted() { inFlight_.fetch_add(1, std::memory_order_relaxed); }
    // `connection` is empty for requests that were not routed to a connection.
    void requestFinished(std::optional<std::size_t> connection, int status, double seconds);
    void upstreamError(std::size_t connection, DetailsCode code);

    // The decide stage: one count per decision, by action ("allow", "review", "deny").
    void decision(std::size_t action) { decisions_[action < 3 ? action : 2].fetch_add(1, std::memory_order_relaxed); }
    // Policy (re)loads: the version in force, and every refused reload.
    void policyLoaded(const std::string& version, bool reload);
    void policyReloadFailed() { policyReloadsFailed_.fetch_add(1, std::memory_order_relaxed); }

    std::string render() const;

private:
    struct Series {
        std::array<std::atomic<std::uint64_t>, 600> byStatus{};
        std::array<std::atomic<std::uint64_t>, kBuckets.size()> buckets{};  // not cumulative
        std::atomic<std::uint64_t> count{0};
        std::atomic<std::uint64_t> sumMicros{0};
        std::array<std::atomic<std::uint64_t>, 32> upstreamErrors{};  // by DetailsCode
    };

    std::vector<std::string> names_;  // [0] is "none"
    std::vector<std::unique_ptr<Series>> series_;
    std::atomic<std::int64_t> inFlight_{0};
    std::array<std::atomic<std::uint64_t>, 3> decisions_{};
    std::atomic<std::uint64_t> policyReloadsOk_{0};
    std::atomic<std::uint64_t> policyReloadsFailed_{0};
    mutable std::mutex policyMutex_;
    std::string policyVersion_;
};

// The recorder's state and work (record/recorder.h), rendered beside the request metrics.
struct RecordingStats {
    static constexpr std::array<double, 12> kCommitBuckets = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};
    bool healthy = true;
    bool behind = false;
    std::uint64_t queuedBytes = 0;
    std::int64_t committedSeq = 0;
    std::uint64_t eventsCommitted = 0;
    std::uint64_t commitsOk = 0;
    std::uint64_t commitsFailed = 0;
    std::array<std::uint64_t, kCommitBuckets.size()> commitBuckets{};  // not cumulative
    std::uint64_t commitMicrosSum = 0;
    // The writer's polls for the next urgent event (Recorder::Options::spin): caught one,
    // or gave up and slept.
    std::uint64_t spinsCaught = 0;
    std::uint64_t spinsExpired = 0;
};

// Appends the vigil_recording_* series (Prometheus text format) to `out`.
void appendRecordingMetrics(std::string& out, const RecordingStats& stats);

}  // namespace vigil::observe

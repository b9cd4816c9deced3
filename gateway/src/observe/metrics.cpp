#include "observe/metrics.h"

#include <charconv>

namespace vigil::observe {
namespace {

void appendNumber(std::string& out, std::uint64_t n) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, r.ptr);
}

void appendDouble(std::string& out, double d) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
    out.append(buf, r.ptr);
}

constexpr auto kRelaxed = std::memory_order_relaxed;

}  // namespace

Metrics::Metrics(std::vector<std::string> connectionNames) {
    names_.emplace_back("none");
    for (auto& n : connectionNames) names_.push_back(std::move(n));
    for (std::size_t i = 0; i < names_.size(); ++i) series_.push_back(std::make_unique<Series>());
}

void Metrics::requestFinished(std::optional<std::size_t> connection, int status, double seconds) {
    inFlight_.fetch_sub(1, kRelaxed);
    auto& s = *series_[connection ? *connection + 1 : 0];
    if (status >= 0 && status < static_cast<int>(s.byStatus.size())) {
        s.byStatus[static_cast<std::size_t>(status)].fetch_add(1, kRelaxed);
    }
    if (!connection) return;
    std::size_t bucket = 0;
    while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) ++bucket;
    if (bucket < kBuckets.size()) s.buckets[bucket].fetch_add(1, kRelaxed);
    s.count.fetch_add(1, kRelaxed);
    s.sumMicros.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), kRelaxed);
}

void Metrics::upstreamError(std::size_t connection, DetailsCode code) {
    const auto index = static_cast<std::size_t>(code);
    auto& s = *series_[connection + 1];
    if (index < s.upstreamErrors.size()) s.upstreamErrors[index].fetch_add(1, kRelaxed);
}

std::string Metrics::render() const {
    std::string out;
    out.reserve(4096);
    out += "# HELP vigil_requests_total Requests answered, by connection and HTTP status.\n";
    out += "# TYPE vigil_requests_total counter\n";
    for (std::size_t i = 0; i < series_.size(); ++i) {
        for (std::size_t status = 0; status < series_[i]->byStatus.size(); ++status) {
            const auto n = series_[i]->byStatus[status].load(kRelaxed);
            if (n == 0) continue;
            out += "vigil_requests_total{connection=\"" + names_[i] + "\",status=\"";
            appendNumber(out, status);
            out += "\"} ";
            appendNumber(out, n);
            out += '\n';
        }
    }
    out += "# HELP vigil_request_duration_seconds Time from request read to response sent.\n";
    out += "# TYPE vigil_request_duration_seconds histogram\n";
    for (std::size_t i = 1; i < series_.size(); ++i) {
        const auto& s = *series_[i];
        const std::string label = "connection=\"" + names_[i] + "\"";
        std::uint64_t cumulative = 0;
        for (std::size_t b = 0; b < kBuckets.size(); ++b) {
            cumulative += s.buckets[b].load(kRelaxed);
            out += "vigil_request_duration_seconds_bucket{" + label + ",le=\"";
            appendDouble(out, kBuckets[b]);
            out += "\"} ";
            appendNumber(out, cumulative);
            out += '\n';
        }
        const auto count = s.count.load(kRelaxed);
        out += "vigil_request_duration_seconds_bucket{" + label + ",le=\"+Inf\"} ";
        appendNumber(out, count);
        out += "\nvigil_request_duration_seconds_sum{" + label + "} ";
        appendDouble(out, static_cast<double>(s.sumMicros.load(kRelaxed)) / 1e6);
        out += "\nvigil_request_duration_seconds_count{" + label + "} ";
        appendNumber(out, count);
        out += '\n';
    }
    out += "# HELP vigil_requests_in_flight Requests being served now.\n";
    out += "# TYPE vigil_requests_in_flight gauge\n";
    out += "vigil_requests_in_flight ";
    out += std::to_string(inFlight_.load(kRelaxed));
    out += '\n';
    out += "# HELP vigil_upstream_errors_total Failed upstream exchanges, by connection and code.\n";
    out += "# TYPE vigil_upstream_errors_total counter\n";
    for (std::size_t i = 1; i < series_.size(); ++i) {
        for (std::size_t c = 0; c < series_[i]->upstreamErrors.size(); ++c) {
            const auto n = series_[i]->upstreamErrors[c].load(kRelaxed);
            if (n == 0) continue;
            out += "vigil_upstream_errors_total{connection=\"" + names_[i] + "\",code=\"";
            out += detailsCodeName(static_cast<DetailsCode>(c));
            out += "\"} ";
            appendNumber(out, n);
            out += '\n';
        }
    }
    static constexpr std::string_view kActions[] = {"allow", "review", "deny"};
    out += "# HELP vigil_policy_decisions_total Decisions of the policy, by action.\n";
    out += "# TYPE vigil_policy_decisions_total counter\n";
    for (std::size_t a = 0; a < decisions_.size(); ++a) {
        out += "vigil_policy_decisions_total{action=\"";
        out += kActions[a];
        out += "\"} ";
        appendNumber(out, decisions_[a].load(kRelaxed));
        out += '\n';
    }
    out += "# HELP vigil_policy_reloads_total Policy reloads, by result (refused: invalid, the old policy stays).\n";
    out += "# TYPE vigil_policy_reloads_total counter\n";
    out += "vigil_policy_reloads_total{result=\"loaded\"} ";
    appendNumber(out, policyReloadsOk_.load(kRelaxed));
    out += "\nvigil_policy_reloads_total{result=\"refused\"} ";
    appendNumber(out, policyReloadsFailed_.load(kRelaxed));
    out += '\n';
    std::lock_guard lock(policyMutex_);
    if (!policyVersion_.empty()) {
        out += "# HELP vigil_policy_info The policy in force, by version (SHA-256 of the file).\n";
        out += "# TYPE vigil_policy_info gauge\n";
        out += "vigil_policy_info{version=\"" + policyVersion_ + "\"} 1\n";
    }
    return out;
}

void Metrics::policyLoaded(const std::string& version, bool reload) {
    if (reload) policyReloadsOk_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(policyMutex_);
    policyVersion_ = version;
}

void appendRecordingMetrics(std::string& out, const RecordingStats& stats) {
    out += "# HELP vigil_recording_healthy 1 while the recorder writes; 0 after a failed write (new requests get 503).\n";
    out += "# TYPE vigil_recording_healthy gauge\n";
    out += stats.healthy ? "vigil_recording_healthy 1\n" : "vigil_recording_healthy 0\n";
    out += "# HELP vigil_recording_behind 1 while more events wait than the writer keeps up with (relaxed responses then wait for their commit).\n";
    out += "# TYPE vigil_recording_behind gauge\n";
    out += stats.behind ? "vigil_recording_behind 1\n" : "vigil_recording_behind 0\n";
    out += "# HELP vigil_recording_queued_bytes Bytes of events waiting to be written.\n";
    out += "# TYPE vigil_recording_queued_bytes gauge\n";
    out += "vigil_recording_queued_bytes ";
    appendNumber(out, stats.queuedBytes);
    out += "\n# HELP vigil_recording_committed_seq Sequence number of the last committed event of the chain.\n";
    out += "# TYPE vigil_recording_committed_seq gauge\n";
    out += "vigil_recording_committed_seq ";
    appendNumber(out, static_cast<std::uint64_t>(stats.committedSeq));
    out += "\n# HELP vigil_recording_events_total Events committed to the chain.\n";
    out += "# TYPE vigil_recording_events_total counter\n";
    out += "vigil_recording_events_total ";
    appendNumber(out, stats.eventsCommitted);
    out += "\n# HELP vigil_recording_commits_total Transactions of the chain (events, checkpoints), by result.\n";
    out += "# TYPE vigil_recording_commits_total counter\n";
    out += "vigil_recording_commits_total{result=\"ok\"} ";
    appendNumber(out, stats.commitsOk);
    out += "\nvigil_recording_commits_total{result=\"failed\"} ";
    appendNumber(out, stats.commitsFailed);
    out += "\n# HELP vigil_recording_commit_seconds Time to write and commit one transaction of events (with its fsync under strict durability).\n";
    out += "# TYPE vigil_recording_commit_seconds histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < RecordingStats::kCommitBuckets.size(); ++b) {
        cumulative += stats.commitBuckets[b];
        out += "vigil_recording_commit_seconds_bucket{le=\"";
        appendDouble(out, RecordingStats::kCommitBuckets[b]);
        out += "\"} ";
        appendNumber(out, cumulative);
        out += '\n';
    }
    const auto count = stats.commitsOk + stats.commitsFailed;
    out += "vigil_recording_commit_seconds_bucket{le=\"+Inf\"} ";
    appendNumber(out, count);
    out += "\nvigil_recording_commit_seconds_sum ";
    appendDouble(out, static_cast<double>(stats.commitMicrosSum) / 1e6);
    out += "\nvigil_recording_commit_seconds_count ";
    appendNumber(out, count);
    out += "\n# HELP vigil_recording_writer_spins_total Times the writer stayed awake after a strict commit for the next one, by whether it came in time.\n";
    out += "# TYPE vigil_recording_writer_spins_total counter\n";
    out += "vigil_recording_writer_spins_total{result=\"caught\"} ";
    appendNumber(out, stats.spinsCaught);
    out += "\nvigil_recording_writer_spins_total{result=\"expired\"} ";
    appendNumber(out, stats.spinsExpired);
    out += '\n';
}

}  // namespace vigil::observe

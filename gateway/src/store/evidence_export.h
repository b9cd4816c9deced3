#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "store/session_reader.h"

namespace vigil::record {
class SigningKey;
}

namespace vigil::store {

// What an evidence bundle covers (docs/evidence.md): the sessions with a request started in
// [from, to) that match the filters.
struct EvidenceRequest {
    std::int64_t fromMicros = 0;
    std::int64_t toMicros = 0;
    SessionFilter filter;       // subject, connection, model, decision, status, code
    std::string generatedBy;    // who asked (a subject, or "vigil export" and the OS user)
    // Read as the export goes (between pages and every few hundred events): once true, it
    // stops with `cancelled` set (the client that asked for it has gone).
    const std::atomic<bool>* cancelled = nullptr;
    // For tests: called once the export's read snapshot is taken (a purge or new traffic
    // committed from then on is not seen by the bundle).
    std::function<void()> snapshotTaken;
};

struct EvidenceResult {
    bool ok = false;
    std::string error;  // why not
    bool cancelled = false;
    std::int64_t sessions = 0;
    std::int64_t events = 0;        // in the bundle, redacted ones included
    std::int64_t eventsInScope = 0;
    std::int64_t reviews = 0;
    std::int64_t approvals = 0;     // rows in approvals.csv
    std::int64_t policies = 0;
    std::string manifestSha256;     // hex
};

// Writes the bundle into `outDir` (created; must be empty or absent), everything read in one
// read transaction (one snapshot: a retention purge or traffic committed meanwhile cannot
// make its files disagree with each other): sessions.jsonl,
// events.jsonl (the chain from the signed checkpoint before the first event in scope to
// the first signed checkpoint after the last one; events of other sessions appear with
// their hashes only), checkpoints.jsonl, reviews.csv, policies/, public-key.pem,
// manifest.json and manifest.sig (Ed25519 over manifest.json with `key`).
EvidenceResult exportEvidence(const std::filesystem::path& database, const record::SigningKey& key,
                              const EvidenceRequest& request, const std::filesystem::path& outDir);

// The bundle in `dir` as one ZIP archive written to `archive` (stored, so any unzip tool and
// verify-bundle read it; ZIP64 past 4 GiB), a piece at a time. False with `error` set.
bool zipBundle(const std::filesystem::path& dir, const std::filesystem::path& archive, std::string& error,
               const std::atomic<bool>* cancelled = nullptr);

}  // namespace vigil::store

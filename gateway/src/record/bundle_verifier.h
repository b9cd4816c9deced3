#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace vigil::record {

// What `vigil verify-bundle` found (docs/evidence.md).
struct BundleReport {
    bool ok = false;
    std::vector<std::string> problems;  // every violation, each naming what is wrong where
    std::string keyId;
    bool keyFromBundle = false;  // no --pubkey: the key inside the bundle was used
    std::int64_t sessions = 0;
    std::int64_t events = 0;
    std::int64_t eventsInScope = 0;
    std::int64_t checkpoints = 0;
    std::int64_t reviews = 0;          // reviews decided in the recorded events
    std::int64_t reviewedRequests = 0;  // requests that needed a review and were forwarded
    std::string range;
    std::string filters;                     // "decision=review, subject=apikey:alice", or empty
    std::int64_t eventsExcluded = 0;         // events after the last checkpoint, left out
    std::vector<std::string> policiesMissing;  // versions that decided but whose text is absent
    bool reportPresent = false;                // a report.pdf beside the evidence: not signed, not checked
};

// Checks an evidence bundle (a directory, or the .zip of one): the manifest's signature,
// the hash of every file, the event chain against the signed checkpoints, that every review
// was decided by approvers other than its requester and met its quorum, and that every
// request that needed a review was approved before it was forwarded.
BundleReport verifyBundle(const std::filesystem::path& bundle, const std::string& publicKeyPem);

}  // namespace vigil::record

#include "record/bundle_verifier.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "auth/base64url.h"
#include "crypto/digest.h"
#include "record/chain.h"
#include "record/signing_key.h"
#include "vigil/zip.h"

namespace vigil::record {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A regular file's bytes (symbolic links followed); nothing for anything else: a FIFO
// would block the read for ever, a device (/dev/zero) never end. Only small files are read
// whole (the manifest, its signature, a key); a larger one is refused.
constexpr std::uintmax_t kMaxSmallFile = 64u << 20;

std::optional<std::string> readFile(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return std::nullopt;
    const auto size = fs::file_size(path, ec);
    if (ec || size > kMaxSmallFile) return std::nullopt;
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The SHA-256 of a regular file, read a piece at a time; nothing when it cannot be read.
std::optional<std::string> hashFile(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return std::nullopt;
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    crypto::Sha256 digest;
    std::vector<char> piece(1 << 20);
    while (in) {
        in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
        if (in.gcount() > 0) digest.update(std::string_view(piece.data(), static_cast<std::size_t>(in.gcount())));
    }
    if (in.bad()) return std::nullopt;
    return digest.finish();
}

std::optional<std::string> fromHex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    std::string out;
    out.reserve(hex.size() / 2);
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
    }
    return out;
}

// Calls `each` with every JSON object line of a .jsonl file, one line in memory at a time
// (a period's events.jsonl can be gigabytes). A line that is not an object is a problem.
template <typename Each>
void forEachLine(const fs::path& path, const std::string& file, std::vector<std::string>& problems, Each&& each) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return;
    std::ifstream in(path, std::ios::binary);
    std::string line;
    std::int64_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty()) continue;
        auto j = json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            problems.push_back(file + ":" + std::to_string(n) + ": not a JSON object");
            continue;
        }
        each(j);
    }
}

}  // namespace

static BundleReport verifyDirectory(const fs::path& bundle, const std::string& publicKeyPem);

BundleReport verifyBundle(const fs::path& bundle, const std::string& publicKeyPem) {
    std::error_code ec;
    if (!fs::is_regular_file(bundle, ec)) return verifyDirectory(bundle, publicKeyPem);
    // A .zip: its files, checked the same way from a private temporary directory, extracted
    // a piece at a time (a bundle of gigabytes is never in memory whole).
    BundleReport report;
    // mkdtemp: a new directory only its owner can enter (the sessions it holds are private),
    // never one that exists already.
    std::string pattern;
    try {
        pattern = (fs::temp_directory_path() / "vigil-bundle-XXXXXX").string();
    } catch (const std::exception& e) {
        report.problems.push_back(bundle.string() + ": no temporary directory to check it in (" + e.what() + ")");
        return report;
    }
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    if (::mkdtemp(name.data()) == nullptr) {
        report.problems.push_back(bundle.string() + ": cannot create a temporary directory in " +
                                  fs::path(pattern).parent_path().string() + " to check it in");
        return report;
    }
    const fs::path dir(name.data());
    std::string error;
    if (extractZipFile(bundle, dir, error)) {
        report = verifyDirectory(dir, publicKeyPem);
        // What the checks name is the archive's member, not the temporary copy.
        for (auto& problem : report.problems) {
            for (auto at = problem.find(dir.string()); at != std::string::npos; at = problem.find(dir.string())) {
                problem.replace(at, dir.string().size(), bundle.string());
            }
        }
    } else {
        report.problems.push_back(bundle.string() + ": " + error);
    }
    fs::remove_all(dir, ec);
    return report;
}

static void verifyChecked(const fs::path& bundle, const std::string& publicKeyPem, BundleReport& report);

static BundleReport verifyDirectory(const fs::path& bundle, const std::string& publicKeyPem) {
    // A crafted bundle must fail with a message (and those found before), never crash.
    BundleReport report;
    try {
        verifyChecked(bundle, publicKeyPem, report);
    } catch (const std::exception& e) {
        report.problems.push_back(std::string("the bundle is malformed: ") + e.what());
        report.ok = false;
    }
    return report;
}

static void verifyChecked(const fs::path& bundle, const std::string& publicKeyPem, BundleReport& report) {
    auto& problems = report.problems;
    const auto manifestText = readFile(bundle / "manifest.json");
    const auto signatureText = readFile(bundle / "manifest.sig");
    if (!manifestText || !signatureText) {
        problems.push_back(std::string("the bundle has no ") + (!manifestText ? "manifest.json" : "manifest.sig") +
                           " (is " + bundle.string() + " an evidence bundle?)");
        return;
    }
    const auto manifest = json::parse(*manifestText, nullptr, false);
    if (!manifest.is_object() || manifest.value("format", "") != "vigil.evidence.v1") {
        problems.push_back("manifest.json is not a vigil.evidence.v1 manifest");
        return;
    }
    static const json kEmpty = json::object();
    auto member = [&](const char* key) -> const json& {
        const auto it = manifest.find(key);
        return it != manifest.end() && it->is_object() ? *it : kEmpty;
    };
    std::string pem = publicKeyPem;
    if (pem.empty()) {
        report.keyFromBundle = true;
        pem = readFile(bundle / "public-key.pem").value_or("");
    }
    if (pem.empty()) {
        problems.push_back("no public key: pass --pubkey, or keep public-key.pem in the bundle");
        return;
    }
    report.keyId = keyIdOfPem(pem);
    std::string sig = *signatureText;
    while (!sig.empty() && (sig.back() == '\n' || sig.back() == '\r' || sig.back() == ' ')) sig.pop_back();
    const auto signature = auth::base64UrlDecode(sig);
    if (!signature || !verifySignature(pem, *manifestText, *signature)) {
        problems.push_back("manifest.sig: the signature does not verify with key " + report.keyId +
                           " (the manifest was changed, or signed with another key)");
    }
    if (manifest.value("key_id", "") != report.keyId) {
        problems.push_back("manifest.json names key " + manifest.value("key_id", std::string("(none)")) + ", not the key checked (" +
                           report.keyId + ")");
    }
    report.range = member("range").value("from", "") + " to " + member("range").value("to", "");
    for (const auto& [name, value] : member("filters").items()) {
        report.filters += (report.filters.empty() ? "" : ", ") + name + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
    }
    if (const auto it = manifest.find("events_after_last_checkpoint_excluded"); it != manifest.end() && it->is_number_integer()) {
        report.eventsExcluded = it->get<std::int64_t>();
    }
    if (const auto it = manifest.find("policies_missing"); it != manifest.end() && it->is_array()) {
        for (const auto& v : *it) {
            if (v.is_string()) report.policiesMissing.push_back(v.get<std::string>());
        }
    }

    // Every file as the manifest hashed it (read a piece at a time); nothing added.
    std::set<std::string> hashed;  // the listed files whose bytes match the manifest's hash
    for (const auto& [name, hash] : member("files").items()) {
        const auto digest = hashFile(bundle / name);
        if (!digest) {
            std::error_code ec;
            problems.push_back(name + (fs::exists(bundle / name, ec) ? ": not a regular file (the manifest lists a file)"
                                                                     : ": missing (the manifest lists it)"));
            continue;
        }
        if (!hash.is_string() || crypto::toHex(*digest) != hash.get<std::string>()) {
            problems.push_back(name + ": its SHA-256 differs from the manifest's (the file was changed)");
        }
        hashed.insert(name);
    }
    std::error_code ec;
    for (const auto& entry : fs::recursive_directory_iterator(bundle, ec)) {
        std::error_code typeError;
        if (entry.is_directory(typeError)) continue;
        const auto name = fs::relative(entry.path(), bundle).generic_string();
        if (!entry.is_regular_file(typeError)) {
            if (!member("files").contains(name)) problems.push_back(name + ": not a regular file, and not listed in the manifest");
            continue;
        }
        // The console's report.pdf is a reading aid beside the evidence, not part of it.
        if (name == "report.pdf" && !member("files").contains(name)) {
            report.reportPresent = true;
            continue;
        }
        if (name == "manifest.json" || name == "manifest.sig") continue;
        if (!member("files").contains(name)) problems.push_back(name + ": not listed in the manifest");
    }
    // The evidence files are read only when the manifest lists them (an unlisted one is a
    // problem above, never evidence), one line at a time.
    const auto listedFile = [&](const char* name) { return hashed.contains(name) ? bundle / name : fs::path(); };

    // The chain: contiguous, linked, every full event's hash recomputed, every checkpoint
    // signed and naming the hash of its event.
    const auto& chainInfo = member("chain");
    const auto firstSeq = chainInfo.value("first_seq", std::int64_t{0});
    const auto lastSeq = chainInfo.value("last_seq", std::int64_t{0});
    const auto anchor = chainInfo.value("anchor_checkpoint", std::int64_t{0});
    std::map<std::int64_t, std::string> checkpointHeads;
    forEachLine(listedFile("checkpoints.jsonl"), "checkpoints.jsonl", problems, [&](const json& c) {
        Checkpoint cp;
        cp.seq = c.value("seq", std::int64_t{0});
        cp.headHash = fromHex(c.value("head_hash", "")).value_or("");
        cp.timeMicros = c.value("time_us", std::int64_t{0});
        cp.keyId = c.value("key_id", "");
        const auto s = auth::base64UrlDecode(c.value("signature", ""));
        if (!s || !verifySignature(pem, checkpointMessage(cp), *s)) {
            problems.push_back("checkpoint at event " + std::to_string(cp.seq) + ": its signature does not verify (forged or changed)");
            return;
        }
        checkpointHeads[cp.seq] = cp.headHash;
        ++report.checkpoints;
    });
    if (!checkpointHeads.contains(lastSeq)) {
        problems.push_back("no valid signed checkpoint at the last event (" + std::to_string(lastSeq) + "): the tail is not signed");
    }
    if (anchor > 0 && !checkpointHeads.contains(anchor)) {
        problems.push_back("no valid signed checkpoint at event " + std::to_string(anchor) + ", where the bundle's chain begins");
    }

    // The sessions the bundle lists, and whether its events carry each (filled in below).
    std::map<std::string, bool> listed;
    forEachLine(listedFile("sessions.jsonl"), "sessions.jsonl", problems, [&](const json& s) { listed.emplace(s.value("id", ""), false); });
    std::set<std::string> unlisted;  // sessions whose events are carried but which are not listed

    // What the review checks need, kept as the events stream by: each review's approval, and
    // per session the requests still open (a request is let go at its last event).
    std::map<std::string, std::int64_t> approvedAt;  // review id -> seq of its approval
    struct Request {
        bool needsReview = false;
        std::optional<std::string> released;
        int open = 0;  // receptions not yet ended (a caller may reuse a request id)
    };
    struct Session {
        std::string current;  // the last request received (events without a request id)
        std::map<std::string, Request> requests;
    };
    std::map<std::string, Session> open;
    struct Release {
        std::string session, review;
    };
    std::vector<Release> releasedEarly;  // released before any approval of theirs was seen
    std::vector<std::string> reviewProblems;
    static const std::set<std::string> kReviewed = {"request.received", "decision", "review.released", "upstream.started",
                                                    "review.approved", "review.denied", "review.approval",
                                                    "request.completed", "request.failed", "request.interrupted"};

    // One event whose hash held: who decided its review, and whether its request was
    // approved before it was forwarded.
    const auto reviewEvent = [&](std::int64_t seq, const std::string& session, const std::string& type, const json& payload) {
        if (type == "review.approved" || type == "review.denied" || type == "review.approval") {
            if (!payload.is_object()) return;
            const auto id = payload.value("id", "");
            const auto requester = payload.contains("requester") && payload["requester"].is_object() ? payload["requester"].value("subject", "")
                                                                                                      : std::string();
            std::set<std::string> approvers;
            const auto approvals = payload.value("approvals", json::array());
            for (const auto& a : approvals.is_array() ? approvals : json::array()) {
                const auto who = a.is_object() ? a.value("subject", "") : std::string();
                if (who == requester) {
                    reviewProblems.push_back("review " + id + ": approved by its own requester '" + who + "' (event " + std::to_string(seq) + ")");
                }
                approvers.insert(who);
            }
            if (payload.contains("denial") && payload["denial"].is_object() && payload["denial"].value("subject", "") == requester) {
                reviewProblems.push_back("review " + id + ": denied by its own requester '" + requester + "' (event " + std::to_string(seq) + ")");
            }
            if (type == "review.approved") {
                const auto quorum = payload.value("quorum", 1);
                if (static_cast<int>(approvers.size()) < quorum) {
                    reviewProblems.push_back("review " + id + ": approved by " + std::to_string(approvers.size()) +
                                             " distinct approver(s), its quorum is " + std::to_string(quorum) + " (event " + std::to_string(seq) + ")");
                }
                approvedAt.emplace(id, seq);
            }
            if (type != "review.approval") ++report.reviews;
            return;
        }
        // Per request: several may run in one session at once (X-Vigil-Session is the
        // caller's to choose), so the events are matched by their request id; recordings
        // whose events carry none fall back to the last request received.
        std::string rid;
        if (payload.is_object() && payload.contains("request_id") && payload["request_id"].is_string() && type != "review.pending") {
            rid = payload["request_id"].get<std::string>();
        }
        auto& state = open[session];
        if (type == "request.received") {
            state.current = rid;
            auto& request = state.requests[rid];
            request = Request{false, std::nullopt, request.open + 1};
            return;
        }
        const auto key = rid.empty() ? state.current : rid;
        auto& request = state.requests[key];
        if (type == "decision" && payload.is_object()) {
            request.needsReview = payload.value("action", "") == "review";
        } else if (type == "review.released" && payload.is_object() && payload.contains("review_id") && payload["review_id"].is_string()) {
            request.released = payload["review_id"].get<std::string>();
            if (!approvedAt.contains(*request.released)) releasedEarly.push_back({session, *request.released});
        } else if (type == "upstream.started" && request.needsReview) {
            ++report.reviewedRequests;
            if (!request.released) {
                reviewProblems.push_back("session " + session + ": a request that needed a review was forwarded without an approval (event " +
                                         std::to_string(seq) + ")");
            }
        } else if (type == "request.completed" || type == "request.failed" || type == "request.interrupted") {
            // Let go once every reception of this id has ended, not before: a second request
            // under the same id may still be on its way to the upstream.
            if (--request.open <= 0) {
                state.requests.erase(key);
                if (state.requests.empty()) open.erase(session);
            }
        }
    };

    std::string previous;
    if (anchor > 0) {
        previous = checkpointHeads.count(anchor) ? checkpointHeads[anchor] : std::string();
    } else if (firstSeq == 1) {
        previous = genesisHash();
    }
    std::int64_t expected = firstSeq;
    bool chainBroken = false;
    forEachLine(listedFile("events.jsonl"), "events.jsonl", problems, [&](const json& e) {
        const auto seq = e.value("seq", std::int64_t{0});
        ++report.events;
        if (chainBroken) return;
        if (seq != expected) {
            problems.push_back("events.jsonl: event " + std::to_string(expected) + " is missing (next is " + std::to_string(seq) +
                               "): an event was deleted or reordered");
            chainBroken = true;
            return;
        }
        const auto prev = fromHex(e.value("prev_hash", "")).value_or("");
        const auto hash = fromHex(e.value("hash", "")).value_or("");
        if (!previous.empty() && prev != previous) {
            problems.push_back("event " + std::to_string(seq) + ": does not link to the event before it (changed, deleted or reordered)");
            chainBroken = true;
            return;
        }
        if (!e.value("redacted", false)) {
            Event ev;
            ev.seq = seq;
            ev.sessionId = e.value("session_id", "");
            ev.timeMicros = e.value("time_us", std::int64_t{0});
            ev.type = e.value("type", "");
            ev.payload = e.value("payload", "");
            if (eventHash(prev, ev) != hash) {
                problems.push_back("event " + std::to_string(seq) + " (" + ev.type + ", session " + ev.sessionId +
                                   "): its content does not match its hash (the event was changed)");
                chainBroken = true;
                return;
            }
            ++report.eventsInScope;
            if (const auto it = listed.find(ev.sessionId); it != listed.end()) {
                it->second = true;
            } else {
                unlisted.insert(ev.sessionId);
            }
            // Only the events the review checks read are parsed (not the replies' chunks).
            if (kReviewed.contains(ev.type)) reviewEvent(seq, ev.sessionId, ev.type, json::parse(ev.payload, nullptr, false));
        }
        if (const auto it = checkpointHeads.find(seq); it != checkpointHeads.end() && it->second != hash) {
            problems.push_back("event " + std::to_string(seq) + ": differs from what the checkpoint there signed");
            chainBroken = true;
            return;
        }
        previous = hash;
        ++expected;
    });
    if (!chainBroken && expected - 1 != lastSeq) {
        problems.push_back("events.jsonl ends at event " + std::to_string(expected - 1) + ", the manifest says " +
                           std::to_string(lastSeq) + " (the tail was cut)");
    }

    // Sessions: exactly those whose events the bundle carries in full.
    for (const auto& [id, carried] : listed) {
        if (!carried) problems.push_back("session " + id + " is listed but none of its events are in the bundle");
    }
    for (const auto& id : unlisted) problems.push_back("events of session " + id + " are in the bundle, but the session is not listed");
    report.sessions = static_cast<std::int64_t>(listed.size());
    const auto& counts = member("counts");
    if (counts.value("sessions", std::int64_t{-1}) != report.sessions) {
        problems.push_back("the manifest counts " + std::to_string(counts.value("sessions", std::int64_t{-1})) + " sessions, the bundle has " +
                           std::to_string(report.sessions));
    }

    // Segregation of duties and approval before forwarding, from the recorded review events.
    problems.insert(problems.end(), reviewProblems.begin(), reviewProblems.end());
    for (const auto& r : releasedEarly) {
        problems.push_back("session " + r.session + ": released under review " + r.review +
                           (approvedAt.contains(r.review) ? ", approved only later" : ", whose approval is not in the bundle"));
    }
    report.ok = problems.empty();
    return;
}

}  // namespace vigil::record

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
// would block the read for ever, a device (/dev/zero) never end.
std::optional<std::string> readFile(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return std::nullopt;
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
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

std::vector<json> readLines(const std::string& text, const std::string& file, std::vector<std::string>& problems) {
    std::vector<json> out;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty()) continue;
        auto j = json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            problems.push_back(file + ":" + std::to_string(n) + ": not a JSON object");
            continue;
        }
        out.push_back(std::move(j));
    }
    return out;
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

    // Every file as the manifest hashed it; nothing added.
    std::map<std::string, std::string> files;
    {
        for (const auto& [name, hash] : member("files").items()) {
            const auto bytes = readFile(bundle / name);
            if (!bytes) {
                std::error_code ec;
                problems.push_back(name + (fs::exists(bundle / name, ec) ? ": not a regular file (the manifest lists a file)"
                                                                         : ": missing (the manifest lists it)"));
                continue;
            }
            if (crypto::toHex(crypto::sha256(*bytes)) != hash.get<std::string>()) {
                problems.push_back(name + ": its SHA-256 differs from the manifest's (the file was changed)");
            }
            files[name] = *bytes;
        }
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
        if (!files.contains(name) && !member("files").contains(name)) problems.push_back(name + ": not listed in the manifest");
    }

    // The chain: contiguous, linked, every full event's hash recomputed, every checkpoint
    // signed and naming the hash of its event.
    const auto& chainInfo = member("chain");
    const auto firstSeq = chainInfo.value("first_seq", std::int64_t{0});
    const auto lastSeq = chainInfo.value("last_seq", std::int64_t{0});
    const auto anchor = chainInfo.value("anchor_checkpoint", std::int64_t{0});
    std::map<std::int64_t, std::string> checkpointHeads;
    for (const auto& c : readLines(files["checkpoints.jsonl"], "checkpoints.jsonl", problems)) {
        Checkpoint cp;
        cp.seq = c.value("seq", std::int64_t{0});
        cp.headHash = fromHex(c.value("head_hash", "")).value_or("");
        cp.timeMicros = c.value("time_us", std::int64_t{0});
        cp.keyId = c.value("key_id", "");
        const auto s = auth::base64UrlDecode(c.value("signature", ""));
        if (!s || !verifySignature(pem, checkpointMessage(cp), *s)) {
            problems.push_back("checkpoint at event " + std::to_string(cp.seq) + ": its signature does not verify (forged or changed)");
            continue;
        }
        checkpointHeads[cp.seq] = cp.headHash;
        ++report.checkpoints;
    }
    if (!checkpointHeads.contains(lastSeq)) {
        problems.push_back("no valid signed checkpoint at the last event (" + std::to_string(lastSeq) + "): the tail is not signed");
    }
    if (anchor > 0 && !checkpointHeads.contains(anchor)) {
        problems.push_back("no valid signed checkpoint at event " + std::to_string(anchor) + ", where the bundle's chain begins");
    }

    struct Full {
        std::int64_t seq;
        std::string session, type;
        json payload;
    };
    std::vector<Full> full;
    std::string previous;
    if (anchor > 0) {
        previous = checkpointHeads.count(anchor) ? checkpointHeads[anchor] : std::string();
    } else if (firstSeq == 1) {
        previous = genesisHash();
    }
    std::int64_t expected = firstSeq;
    bool chainBroken = false;
    for (const auto& e : readLines(files["events.jsonl"], "events.jsonl", problems)) {
        const auto seq = e.value("seq", std::int64_t{0});
        ++report.events;
        if (chainBroken) continue;
        if (seq != expected) {
            problems.push_back("events.jsonl: event " + std::to_string(expected) + " is missing (next is " + std::to_string(seq) +
                               "): an event was deleted or reordered");
            chainBroken = true;
            continue;
        }
        const auto prev = fromHex(e.value("prev_hash", "")).value_or("");
        const auto hash = fromHex(e.value("hash", "")).value_or("");
        if (!previous.empty() && prev != previous) {
            problems.push_back("event " + std::to_string(seq) + ": does not link to the event before it (changed, deleted or reordered)");
            chainBroken = true;
            continue;
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
                continue;
            }
            full.push_back({seq, ev.sessionId, ev.type, json::parse(ev.payload, nullptr, false)});
            ++report.eventsInScope;
        }
        if (const auto it = checkpointHeads.find(seq); it != checkpointHeads.end() && it->second != hash) {
            problems.push_back("event " + std::to_string(seq) + ": differs from what the checkpoint there signed");
            chainBroken = true;
            continue;
        }
        previous = hash;
        ++expected;
    }
    if (!chainBroken && expected - 1 != lastSeq) {
        problems.push_back("events.jsonl ends at event " + std::to_string(expected - 1) + ", the manifest says " +
                           std::to_string(lastSeq) + " (the tail was cut)");
    }

    // Sessions: exactly those whose events the bundle carries in full.
    std::set<std::string> listed, carried;
    for (const auto& s : readLines(files["sessions.jsonl"], "sessions.jsonl", problems)) listed.insert(s.value("id", ""));
    for (const auto& f : full) carried.insert(f.session);
    for (const auto& id : listed) {
        if (!carried.contains(id)) problems.push_back("session " + id + " is listed but none of its events are in the bundle");
    }
    for (const auto& id : carried) {
        if (!listed.contains(id)) problems.push_back("events of session " + id + " are in the bundle, but the session is not listed");
    }
    report.sessions = static_cast<std::int64_t>(listed.size());
    const auto& counts = member("counts");
    if (counts.value("sessions", std::int64_t{-1}) != report.sessions) {
        problems.push_back("the manifest counts " + std::to_string(counts.value("sessions", std::int64_t{-1})) + " sessions, the bundle has " +
                           std::to_string(report.sessions));
    }

    // Segregation of duties, from the recorded review events themselves.
    std::map<std::string, std::int64_t> approvedAt;  // review id -> seq of its approval
    for (const auto& f : full) {
        if (f.type != "review.approved" && f.type != "review.denied" && f.type != "review.approval") continue;
        if (!f.payload.is_object()) continue;
        const auto id = f.payload.value("id", "");
        const auto requester = f.payload.contains("requester") ? f.payload["requester"].value("subject", "") : std::string();
        std::set<std::string> approvers;
        for (const auto& a : f.payload.value("approvals", json::array())) {
            const auto who = a.value("subject", "");
            if (who == requester) problems.push_back("review " + id + ": approved by its own requester '" + who + "' (event " + std::to_string(f.seq) + ")");
            approvers.insert(who);
        }
        if (f.payload.contains("denial") && f.payload["denial"].is_object() && f.payload["denial"].value("subject", "") == requester) {
            problems.push_back("review " + id + ": denied by its own requester '" + requester + "' (event " + std::to_string(f.seq) + ")");
        }
        if (f.type == "review.approved") {
            const auto quorum = f.payload.value("quorum", 1);
            if (static_cast<int>(approvers.size()) < quorum) {
                problems.push_back("review " + id + ": approved by " + std::to_string(approvers.size()) +
                                   " distinct approver(s), its quorum is " + std::to_string(quorum) + " (event " + std::to_string(f.seq) + ")");
            }
            approvedAt.emplace(id, f.seq);
        }
        if (f.type != "review.approval") ++report.reviews;
    }

    // Every request that needed a review was approved before it was forwarded.
    std::map<std::string, std::vector<const Full*>> bySession;
    for (const auto& f : full) bySession[f.session].push_back(&f);
    for (const auto& [session, events] : bySession) {
        // Per request: several may run in one session at once (X-Vigil-Session is the
        // caller's to choose), so the events are matched by their request id; recordings
        // whose events carry none fall back to the last request received.
        struct Request {
            bool needsReview = false;
            std::optional<std::string> released;
        };
        std::map<std::string, Request> requests;
        std::string current;
        for (const auto* f : events) {
            std::string rid;
            if (f->payload.is_object() && f->payload.contains("request_id") && f->payload["request_id"].is_string() &&
                !f->type.starts_with("review.approv") && f->type != "review.pending" && f->type != "review.denied") {
                rid = f->payload["request_id"].get<std::string>();
            }
            if (f->type == "request.received") {
                current = rid;
                requests[rid] = Request{};
                continue;
            }
            auto& request = requests[rid.empty() ? current : rid];
            if (f->type == "decision" && f->payload.is_object()) {
                request.needsReview = f->payload.value("action", "") == "review";
            } else if (f->type == "review.released" && f->payload.is_object() && f->payload.contains("review_id")) {
                request.released = f->payload["review_id"].get<std::string>();
                const auto it = approvedAt.find(*request.released);
                if (it == approvedAt.end() || it->second > f->seq) {
                    problems.push_back("session " + session + ": released under review " + *request.released +
                                       (it == approvedAt.end() ? ", whose approval is not in the bundle" : ", approved only later"));
                }
            } else if (f->type == "upstream.started" && request.needsReview) {
                ++report.reviewedRequests;
                if (!request.released) {
                    problems.push_back("session " + session + ": a request that needed a review was forwarded without an approval (event " +
                                       std::to_string(f->seq) + ")");
                }
            }
        }
    }
    report.ok = problems.empty();
    return;
}

}  // namespace vigil::record

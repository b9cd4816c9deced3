// vigil: offline tools for auditors.
//   vigil verify --db FILE [--pubkey FILE]      a recording's hash chain and checkpoints
//   vigil export --db FILE --from T --to T --out DIR [filters] [--key FILE] [--by NAME]
//   vigil verify-bundle DIR [--pubkey FILE]     an evidence bundle (docs/evidence.md)
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include "api/recording_api.h"
#include "record/bundle_verifier.h"
#include "record/recorder.h"
#include "record/signing_key.h"
#include "record/verifier.h"
#include "store/evidence_export.h"
#include "store/sqlite_store.h"
#include "vigil/details_code.h"

namespace {

constexpr const char* kUsage =
    "usage: vigil verify --db FILE [--pubkey FILE] [--live [--max-unsigned N]]\n"
    "  Checks every event of the recording in FILE (a copy of the gateway's SQLite store)\n"
    "  against its hash chain, and every checkpoint against the Ed25519 public key in\n"
    "  --pubkey (export it with `vigil-gateway recording public-key --config F`). Without\n"
    "  --pubkey the key stored in the database is used, which does not protect against\n"
    "  someone who could also replace that key. Events after the last signed checkpoint\n"
    "  are not proven (anyone who can write the file could have written them): exit 1,\n"
    "  unless --live (the file of a running gateway, which signs them within\n"
    "  checkpoint_interval_ms) and the unsigned events are at most N (default 2000: twice\n"
    "  the default checkpoint_every) after a signed checkpoint. A store without events proves\n"
    "  nothing. Exit 0: intact and signed; 1: broken or not proven; 2: usage.\n"
    "\n"
    "usage: vigil export --db FILE --from TIME --to TIME --out DIR [--zip FILE] [--key FILE] [--by NAME]\n"
    "                    [--subject S] [--connection C] [--model M] [--decision D] [--status S] [--code C]\n"
    "  Writes the evidence bundle of the sessions started in [--from, --to) (RFC 3339 times)\n"
    "  that match the filters into DIR, signed with the gateway's key (--key, default\n"
    "  signing-key.pem beside the database). The export is first recorded in the store's\n"
    "  chain (evidence.exported: who, range, filters; with a signed checkpoint), so the\n"
    "  database must be writable and no gateway may be running on it: export a live store\n"
    "  through the gateway (GET /api/evidence). Exit 0: written; 1: refused; 2: usage.\n"
    "\n"
    "usage: vigil verify-bundle DIR|ZIP [--pubkey FILE]\n"
    "  Checks a bundle: the manifest's signature, every file's hash, the event chain against\n"
    "  the signed checkpoints, segregation of duties in every review, and that every request\n"
    "  that needed a review was approved before it was forwarded. Exit 0 only when all holds.\n";

// The --pubkey file: read, and an Ed25519 public key (an empty or foreign one would let the
// check fall back to the key inside the evidence). Empty optional after a message.
std::optional<std::string> trustedKey(const char* command, const std::string& file) {
    std::ifstream in(file);
    std::ostringstream s;
    if (in) s << in.rdbuf();
    if (!in) {
        std::fprintf(stderr, "vigil %s: cannot read %s\n", command, file.c_str());
        return std::nullopt;
    }
    if (vigil::record::keyIdOfPem(s.str()).empty()) {
        std::fprintf(stderr, "vigil %s: %s holds no Ed25519 public key (PEM)\n", command, file.c_str());
        return std::nullopt;
    }
    return s.str();
}

// Records the export in the store's chain (evidence.exported and a signed checkpoint) before
// the bundle is made, as the gateway does for GET /api/evidence. Empty when recorded, else
// why not. The chain has one writer at a time, so this refuses while a gateway runs on the
// store, and refuses a key that has never signed this store's chain.
std::string recordExport(const std::string& db, const std::string& keyFile, const vigil::record::SigningKey& key, const std::string& by,
                         const std::string& from, const std::string& to, const nlohmann::json& filters) {
    try {
        // The chain's writer lock first: nothing is opened for writing while a gateway runs.
        std::unique_ptr<vigil::store::SqliteEventStore> store;
        try {
            store = std::make_unique<vigil::store::SqliteEventStore>(db);
        } catch (const vigil::store::StoreError& e) {
            return std::string(e.what()) +
                   "; export a live store through its gateway, which records the export in the same chain: "
                   "GET /api/evidence (or Export evidence in the console)";
        }
        {
            vigil::store::SqliteStore reader(db);
            const auto known = reader.signingKeyIds();
            if (!known.empty() && std::find(known.begin(), known.end(), key.keyId()) == known.end()) {
                return "the key " + key.keyId() + " has never signed this store's chain (pass --key: the gateway's recording key)";
            }
        }
        vigil::record::Recorder recorder(std::move(store), vigil::record::SigningKey::loadOrCreate(keyFile), {});
        char host[256] = {};
        if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
        const char* user = std::getenv("USER");
        const nlohmann::json exported = {{"by", by},
                                         {"method", "cli"},
                                         {"os_user", user != nullptr ? user : ""},
                                         {"host", host},
                                         {"from", from},
                                         {"to", to},
                                         {"filters", filters}};
        // Shared with the writer thread, which may still call back after a timeout here.
        auto committed = std::make_shared<std::promise<bool>>();
        auto done = committed->get_future();
        recorder.recordAndSign(vigil::record::kGatewaySession, "evidence.exported", exported.dump(),
                               [committed](bool ok) { committed->set_value(ok); });
        if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready || !done.get()) {
            return "the export could not be recorded (" + recorder.lastError() + "), so no bundle is made";
        }
        return {};  // the recorder's destructor writes what is left and a final checkpoint
    } catch (const std::exception& e) {
        return std::string("the export could not be recorded, so no bundle is made: ") + e.what();
    }
}

int exportCommand(int argc, char** argv) {
    std::string db, out, keyFile, by, from, to, zip;
    vigil::store::EvidenceRequest request;
    nlohmann::json filters = nlohmann::json::object();
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        const bool hasValue = i + 1 < argc;
        auto& f = request.filter;
        for (const char* name : {"--subject", "--connection", "--model", "--decision", "--status", "--code"}) {
            if (a == name && hasValue) filters[a.substr(2)] = argv[i + 1];
        }
        if (a == "--db" && hasValue) db = argv[++i];
        else if (a == "--out" && hasValue) out = argv[++i];
        else if (a == "--key" && hasValue) keyFile = argv[++i];
        else if (a == "--by" && hasValue) by = argv[++i];
        else if (a == "--zip" && hasValue) zip = argv[++i];
        else if (a == "--from" && hasValue) from = argv[++i];
        else if (a == "--to" && hasValue) to = argv[++i];
        else if (a == "--subject" && hasValue) f.subject = argv[++i];
        else if (a == "--connection" && hasValue) f.connection = argv[++i];
        else if (a == "--model" && hasValue) f.model = argv[++i];
        else if (a == "--decision" && hasValue) f.decision = argv[++i];
        else if (a == "--code" && hasValue) f.code = argv[++i];
        else if (a == "--status" && hasValue) {
            const std::string v = argv[++i];
            if (v.size() == 3 && v[1] == 'x' && v[2] == 'x' && v[0] >= '1' && v[0] <= '5') {
                f.statusClass = v[0] - '0';
            } else {
                try {
                    f.status = std::stoi(v);
                } catch (const std::exception&) {
                    std::fprintf(stderr, "vigil export: --status must be a status such as 200 or a class such as 4xx\n");
                    return 2;
                }
            }
        } else {
            std::fprintf(stderr, "vigil export: unknown argument '%s'\n%s", a.c_str(), kUsage);
            return 2;
        }
    }
    if (db.empty() || out.empty() || from.empty() || to.empty()) {
        std::fprintf(stderr, "vigil export: --db, --from, --to and --out are required\n%s", kUsage);
        return 2;
    }
    const auto fromMicros = vigil::api::RecordingApi::parseTime(from);
    const auto toMicros = vigil::api::RecordingApi::parseTime(to);
    if (!fromMicros || !toMicros) {
        std::fprintf(stderr, "vigil export: --from and --to must be RFC 3339 times such as 2026-11-22T10:00:00Z\n");
        return 2;
    }
    if (!request.filter.decision.empty() && request.filter.decision != "allow" && request.filter.decision != "deny" &&
        request.filter.decision != "review") {
        std::fprintf(stderr, "vigil export: --decision must be allow, deny or review\n");
        return 2;
    }
    if (!request.filter.code.empty() && !vigil::detailsCodeFromName(request.filter.code)) {
        std::fprintf(stderr, "vigil export: --code '%s' is not a details code\n", request.filter.code.c_str());
        return 2;
    }
    request.fromMicros = *fromMicros;
    request.toMicros = *toMicros;
    if (by.empty()) {
        const char* user = std::getenv("USER");
        by = std::string("vigil export (") + (user != nullptr ? user : "unknown user") + ")";
    }
    request.generatedBy = by;
    if (keyFile.empty()) keyFile = (std::filesystem::path(db).parent_path() / "signing-key.pem").string();
    if (!std::filesystem::exists(keyFile)) {
        std::fprintf(stderr, "vigil export: no signing key at %s (pass --key: the gateway's recording key)\n", keyFile.c_str());
        return 2;
    }
    // Refusals that need no database come first: nothing is recorded for them.
    if (*fromMicros >= *toMicros) {
        std::fprintf(stderr, "vigil export: the range is empty: 'from' must be before 'to'\n");
        return 1;
    }
    std::error_code ec;
    if (std::filesystem::exists(out, ec) && !std::filesystem::is_empty(out, ec)) {
        std::fprintf(stderr, "vigil export: the output directory %s is not empty\n", out.c_str());
        return 1;
    }
    if (!std::filesystem::is_regular_file(db, ec)) {
        std::fprintf(stderr, "vigil export: no database at %s\n", db.c_str());
        return 1;
    }
    try {
        const auto key = vigil::record::SigningKey::loadOrCreate(keyFile);
        if (const auto recorded = recordExport(db, keyFile, key, by, from, to, filters); !recorded.empty()) {
            std::fprintf(stderr, "vigil export: %s\n", recorded.c_str());
            return 1;
        }
        const auto r = vigil::store::exportEvidence(db, key, request, out);
        if (!r.ok) {
            std::fprintf(stderr, "vigil export: %s\n", r.error.c_str());
            return 1;
        }
        if (std::string error; !zip.empty() && !vigil::store::zipBundle(out, zip, error)) {
            std::fprintf(stderr, "vigil export: cannot write %s: %s\n", zip.c_str(), error.c_str());
            return 1;
        }
        std::printf("Wrote %s: %lld sessions, %lld events (%lld in scope), %lld reviews, %lld policies; manifest sha256 %s\n",
                    out.c_str(), static_cast<long long>(r.sessions), static_cast<long long>(r.events),
                    static_cast<long long>(r.eventsInScope), static_cast<long long>(r.reviews), static_cast<long long>(r.policies),
                    r.manifestSha256.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vigil export: %s\n", e.what());
        return 1;
    }
}

int verifyBundleCommand(int argc, char** argv) {
    std::string dir, pubkeyFile;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--pubkey" && i + 1 < argc) pubkeyFile = argv[++i];
        else if (dir.empty() && !a.starts_with("--")) dir = a;
        else {
            std::fprintf(stderr, "vigil verify-bundle: unknown argument '%s'\n%s", a.c_str(), kUsage);
            return 2;
        }
    }
    if (dir.empty()) {
        std::fprintf(stderr, "vigil verify-bundle: the bundle directory is required\n%s", kUsage);
        return 2;
    }
    std::string pem;
    if (!pubkeyFile.empty()) {
        const auto key = trustedKey("verify-bundle", pubkeyFile);
        if (!key) return 2;
        pem = *key;
    }
    const auto r = vigil::record::verifyBundle(dir, pem);
    std::printf("bundle %s (%s)\n", dir.c_str(), r.range.c_str());
    std::printf("  %lld sessions, %lld events (%lld in scope), %lld checkpoints, %lld reviews decided, %lld reviewed requests forwarded\n",
                static_cast<long long>(r.sessions), static_cast<long long>(r.events), static_cast<long long>(r.eventsInScope),
                static_cast<long long>(r.checkpoints), static_cast<long long>(r.reviews), static_cast<long long>(r.reviewedRequests));
    std::printf("  filters: %s\n", r.filters.empty() ? "none (every session with a request in the range)"
                                                     : (r.filters + " (the sessions with a request in the range that matches them)").c_str());
    if (r.eventsExcluded > 0) {
        std::printf("  left out: %lld event(s) of sessions in scope, recorded after the last signed checkpoint\n",
                    static_cast<long long>(r.eventsExcluded));
    }
    for (const auto& v : r.policiesMissing) std::printf("  policy %s decided in scope; its text is not in the bundle\n", v.c_str());
    if (r.reportPresent) {
        std::printf("  report.pdf: a reading aid beside the evidence, not signed and not checked (anyone can edit it)\n");
    }
    std::printf("  key %s%s\n", r.keyId.c_str(), r.keyFromBundle ? " (the key inside the bundle: pass --pubkey to check against a key you trust)" : "");
    for (const auto& p : r.problems) std::printf("VIOLATION: %s\n", p.c_str());
    std::printf(r.ok ? "OK: every check holds\n" : "FAILED: %zu violation(s)\n", r.problems.size());
    return r.ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::string(argv[1]) == "export") return exportCommand(argc, argv);
    if (argc >= 2 && std::string(argv[1]) == "verify-bundle") return verifyBundleCommand(argc, argv);
    if (argc < 2 || std::string(argv[1]) != "verify") {
        std::fputs(kUsage, argc < 2 ? stderr : stdout);
        return argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") ? 0 : 2;
    }
    std::string db, pubkeyFile;
    bool live = false;
    long long maxUnsigned = 2000;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--db" && i + 1 < argc) db = argv[++i];
        else if (a == "--pubkey" && i + 1 < argc) pubkeyFile = argv[++i];
        else if (a == "--live") live = true;
        else if (a == "--max-unsigned" && i + 1 < argc) {
            const std::string n = argv[++i];
            const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), maxUnsigned);
            if (ec != std::errc() || end != n.data() + n.size() || maxUnsigned < 0) {
                std::fprintf(stderr, "vigil verify: --max-unsigned must be a count of events (got '%s')\n", n.c_str());
                return 2;
            }
        } else {
            std::fprintf(stderr, "vigil verify: unknown argument '%s'\n%s", a.c_str(), kUsage);
            return 2;
        }
    }
    if (db.empty()) {
        std::fprintf(stderr, "vigil verify: --db FILE is required\n%s", kUsage);
        return 2;
    }
    std::string pem;
    if (!pubkeyFile.empty()) {
        const auto key = trustedKey("verify", pubkeyFile);
        if (!key) return 2;
        pem = *key;
    }
    const auto r = vigil::record::verifyDatabase(db, pem);
    if (!r.ok) {
        if (r.brokenAt) {
            std::printf("BROKEN at event %lld: %s\n", static_cast<long long>(*r.brokenAt), r.problem.c_str());
            // Those before the break (not all read: a missing beginning is found after them).
            const auto before = r.events == 0 ? 0 : std::clamp<long long>(*r.brokenAt - r.firstSeq, 0, r.events);
            std::printf("%lld events verified before it\n", before);
        } else {
            std::printf("BROKEN: %s\n", r.problem.c_str());
        }
        return 1;
    }
    if (r.events == 0) {
        // Every gateway records gateway.started when it first starts: an empty chain is a
        // store never used, or one whose events and checkpoints were all deleted.
        std::printf("NOT PROVEN: the database holds no events and no checkpoint: nothing is proven (a gateway "
                    "records gateway.started when it first starts; were the events deleted?)\n");
        return 1;
    }
    const long long unsignedEvents = r.lastSeq - r.signedUpTo;
    // A running gateway signs within checkpoint_interval_ms or checkpoint_every events: a
    // longer unsigned tail, or one with no checkpoint before it, is checkpoints deleted and
    // history rewritten, not a gateway at work.
    const bool liveTailPlausible = r.checkpoints > 0 && unsignedEvents <= maxUnsigned;
    const bool notProven = unsignedEvents > 0 && (!live || !liveTailPlausible);
    std::printf("%s: %lld events (%lld to %lld), %lld checkpoints; signed up to event %lld by key %s%s\n",
                notProven ? "NOT PROVEN" : "OK",
                static_cast<long long>(r.events), static_cast<long long>(r.firstSeq),
                static_cast<long long>(r.lastSeq), static_cast<long long>(r.checkpoints),
                static_cast<long long>(r.signedUpTo), r.keyId.c_str(),
                r.keyFromDatabase ? " (the key stored in the database: pass --pubkey to check against a key you trust)" : "");
    if (r.purgedThrough > 0) {
        std::printf("events 1 to %lld were purged by the retention policy (a recorded, signed purge)\n",
                    static_cast<long long>(r.purgedThrough));
    }
    for (const auto& [from, to] : r.signedAtStart) {
        std::printf("note: events %lld to %lld were signed only when the gateway started again: the run that wrote "
                    "them stopped before signing them (killed), or they were written while it was stopped\n",
                    static_cast<long long>(from), static_cast<long long>(to));
    }
    if (r.lastSeq > r.signedUpTo) {
        if (notProven && live) {
            std::printf("events %lld to %lld are linked but no checkpoint signs them, %s: a running gateway signs "
                        "within checkpoint_interval_ms and checkpoint_every events, so checkpoints were deleted and the "
                        "events after them could have been rewritten (pass --max-unsigned N if the gateway's "
                        "checkpoint_every is larger)\n",
                        static_cast<long long>(r.signedUpTo + 1), static_cast<long long>(r.lastSeq),
                        r.checkpoints == 0 ? "and there is no checkpoint at all"
                                           : ("and they are " + std::to_string(unsignedEvents) + ", more than --max-unsigned " +
                                              std::to_string(maxUnsigned)).c_str());
            return 1;
        }
        if (notProven) {
            std::printf("events %lld to %lld are linked but no checkpoint signs them: anyone who can write "
                        "the file could have written them (or rewritten them after deleting checkpoints). Verify a "
                        "copy taken after the gateway signed them (it does within checkpoint_interval_ms, and when it "
                        "stops), or pass --live for a running gateway's file\n",
                        static_cast<long long>(r.signedUpTo + 1), static_cast<long long>(r.lastSeq));
            return 1;
        }
        std::printf("%lld events after the last checkpoint are linked but not yet signed (--live)\n",
                    static_cast<long long>(r.lastSeq - r.signedUpTo));
    }
    return 0;
}

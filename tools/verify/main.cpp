// vigil: offline tools for auditors. `vigil verify --db FILE [--pubkey FILE]` checks a
// recording's hash chain and checkpoint signatures; exit 0 when it is intact, 1 when not.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "record/verifier.h"

namespace {

constexpr const char* kUsage =
    "usage: vigil verify --db FILE [--pubkey FILE]\n"
    "  Checks every event of the recording in FILE (a copy of the gateway's SQLite store)\n"
    "  against its hash chain, and every checkpoint against the Ed25519 public key in\n"
    "  --pubkey (export it with `vigil-gateway recording public-key --config F`). Without\n"
    "  --pubkey the key stored in the database is used, which does not protect against\n"
    "  someone who could also replace that key. Exit 0: intact; 1: broken; 2: usage.\n";

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]) != "verify") {
        std::fputs(kUsage, argc < 2 ? stderr : stdout);
        return argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") ? 0 : 2;
    }
    std::string db, pubkeyFile;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--db" && i + 1 < argc) db = argv[++i];
        else if (a == "--pubkey" && i + 1 < argc) pubkeyFile = argv[++i];
        else {
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
        std::ifstream in(pubkeyFile);
        if (!in) {
            std::fprintf(stderr, "vigil verify: cannot read %s\n", pubkeyFile.c_str());
            return 2;
        }
        std::ostringstream s;
        s << in.rdbuf();
        pem = s.str();
    }
    const auto r = vigil::record::verifyDatabase(db, pem);
    if (!r.ok) {
        if (r.brokenAt) {
            std::printf("BROKEN at event %lld: %s\n", static_cast<long long>(*r.brokenAt), r.problem.c_str());
        } else {
            std::printf("BROKEN: %s\n", r.problem.c_str());
        }
        std::printf("%lld events verified before it\n", static_cast<long long>(r.events));
        return 1;
    }
    std::printf("OK: %lld events (%lld to %lld), %lld checkpoints; signed up to event %lld by key %s%s\n",
                static_cast<long long>(r.events), static_cast<long long>(r.firstSeq),
                static_cast<long long>(r.lastSeq), static_cast<long long>(r.checkpoints),
                static_cast<long long>(r.signedUpTo), r.keyId.c_str(),
                r.keyFromDatabase ? " (the key stored in the database: pass --pubkey to check against a key you trust)" : "");
    if (r.purgedThrough > 0) {
        std::printf("events 1 to %lld were purged by the retention policy (a recorded, signed purge)\n",
                    static_cast<long long>(r.purgedThrough));
    }
    if (r.lastSeq > r.signedUpTo) {
        std::printf("%lld events after the last checkpoint are linked but not yet signed\n",
                    static_cast<long long>(r.lastSeq - r.signedUpTo));
    }
    return 0;
}

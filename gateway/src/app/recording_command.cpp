#include "app/recording_command.h"

#include <cstdio>
#include <fstream>

#include "config/gateway_config.h"
#include "record/signing_key.h"

namespace vigil::app {
namespace {

constexpr const char* kUsage =
    "usage: vigil-gateway recording public-key --config FILE [--out FILE]\n"
    "  Prints the Ed25519 public key (PEM) that signs the recording's checkpoints: give it\n"
    "  to whoever verifies recordings ('vigil verify --db FILE --pubkey KEY.pem').\n";

}  // namespace

int runRecordingCommand(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::fputs(kUsage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    if (args[0] != "public-key") {
        std::fprintf(stderr, "vigil-gateway recording: unknown command '%s'\n%s", args[0].c_str(), kUsage);
        return 2;
    }
    std::string configFile;
    std::string outFile;
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--config" && i + 1 < args.size()) {
            configFile = args[++i];
        } else if (args[i] == "--out" && i + 1 < args.size()) {
            outFile = args[++i];
        } else {
            std::fprintf(stderr, "vigil-gateway recording public-key: unknown argument '%s'\n%s", args[i].c_str(), kUsage);
            return 2;
        }
    }
    if (configFile.empty()) {
        std::fprintf(stderr, "vigil-gateway recording public-key: --config FILE is required\n%s", kUsage);
        return 2;
    }
    try {
        const auto [sqlitePath, settings] = config::loadRecordingSettings(configFile);
        const auto key = record::SigningKey::loadOrCreate(settings.keyFile);
        const auto pem = key.publicKeyPem();
        if (outFile.empty()) {
            std::fputs(pem.c_str(), stdout);
        } else {
            std::ofstream out(outFile, std::ios::binary | std::ios::trunc);
            out << pem;
            if (!out.flush()) {
                std::fprintf(stderr, "vigil-gateway recording public-key: cannot write %s\n", outFile.c_str());
                return 1;
            }
            std::printf("wrote the public key %s (key id %s) to %s\n", settings.keyFile.c_str(), key.keyId().c_str(),
                        outFile.c_str());
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vigil-gateway recording public-key: %s\n", e.what());
        return 1;
    }
}

}  // namespace vigil::app

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "app/gateway_app.h"
#include "app/keys_command.h"
#include "app/policy_command.h"
#include "app/recording_command.h"
#include "config/gateway_config.h"

namespace {

constexpr const char* kUsage =
    "usage: vigil-gateway --config FILE\n"
    "       vigil-gateway keys create|list|revoke ...   (see 'vigil-gateway keys --help')\n"
    "       vigil-gateway policy check|explain ...      (see 'vigil-gateway policy --help')\n"
    "       vigil-gateway recording public-key --config FILE [--out FILE]\n"
    "  Runs the Vigil policy gateway with the JSON configuration in FILE.\n"
    "  --version   print the version\n";

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::string(argv[1]) == "keys") {
        return vigil::app::runKeysCommand(std::vector<std::string>(argv + 2, argv + argc));
    }
    if (argc >= 2 && std::string(argv[1]) == "policy") {
        return vigil::app::runPolicyCommand(std::vector<std::string>(argv + 2, argv + argc));
    }
    if (argc >= 2 && std::string(argv[1]) == "recording") {
        return vigil::app::runRecordingCommand(std::vector<std::string>(argv + 2, argv + argc));
    }
    std::string configFile;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--config" && i + 1 < argc) {
            configFile = argv[++i];
        } else if (arg.rfind("--config=", 0) == 0) {
            configFile = arg.substr(9);
        } else if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (arg == "--version") {
            std::puts("vigil-gateway " VIGIL_VERSION);
            return 0;
        } else {
            std::fprintf(stderr, "vigil-gateway: unknown argument '%s'\n%s", argv[i], kUsage);
            return 2;
        }
    }
    if (configFile.empty()) {
        std::fprintf(stderr, "vigil-gateway: --config FILE is required\n%s", kUsage);
        return 2;
    }
    vigil::config::GatewayConfig config;
    try {
        config = vigil::config::loadConfig(configFile);
    } catch (const vigil::config::ConfigError& e) {
        std::fprintf(stderr, "vigil-gateway: config error: %s\n", e.what());
        return 2;
    }
    return vigil::app::runGateway(config);
}

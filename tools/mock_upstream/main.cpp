#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mock_upstream.h"
#include "net/server.h"
#include "observe/log.h"

namespace {

constexpr const char* kUsage = R"(usage: vigil-mock-upstream [options]
An OpenAI-compatible model server for tests and demos (chat completions, streaming,
models, embeddings).
  --listen HOST:PORT          address to listen on (default 127.0.0.1:0, a free port)
  --api-key KEY               the key callers must send as a bearer token
                              (default: $VIGIL_MOCK_API_KEY)
  --reply TEXT                the assistant's reply
  --reply-bytes N             a reply of N bytes of lorem ipsum (benchmarks)
  --echo                      reply with the last user message
  --token-delay-ms N          delay between streamed tokens
  --first-byte-delay-ms N     delay for --fault slow-first-byte (default 3000)
  --fault NAME                none | slow-first-byte | reset-mid-stream | 500 | leak-key
  --tls-cert FILE --tls-key FILE   serve HTTPS
  --threads N                 worker threads (default: one per core)
Each option can be overridden per request with the headers X-Mock-Reply, X-Mock-Echo,
X-Mock-Token-Delay-Ms, X-Mock-First-Byte-Delay-Ms and X-Mock-Fault. X-Mock-Hop-Header: NAME
answers with a field NAME that a second Connection field names (hop-by-hop, RFC 9110 7.6.1).
)";

std::string loremBytes(std::size_t n) {
    static constexpr std::string_view kWords =
        "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
        "incididunt ut labore et dolore magna aliqua ";
    std::string out;
    while (out.size() < n) out += kWords;
    out.resize(n);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    vigil::mock::MockOptions options;
    if (const char* key = std::getenv("VIGIL_MOCK_API_KEY")) options.apiKey = key;
    vigil::net::ListenerOptions listener;
    int threads = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "vigil-mock-upstream: %s needs a value\n", arg.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (arg == "--listen") {
            const auto v = value();
            const auto colon = v.rfind(':');
            if (colon == std::string::npos) {
                std::fprintf(stderr, "vigil-mock-upstream: --listen wants HOST:PORT\n");
                return 2;
            }
            listener.address = v.substr(0, colon);
            listener.port = static_cast<std::uint16_t>(std::stoi(v.substr(colon + 1)));
        } else if (arg == "--api-key") {
            options.apiKey = value();
        } else if (arg == "--reply") {
            options.reply = value();
        } else if (arg == "--reply-bytes") {
            options.reply = loremBytes(static_cast<std::size_t>(std::stoul(value())));
        } else if (arg == "--echo") {
            options.echo = true;
        } else if (arg == "--token-delay-ms") {
            options.tokenDelay = std::chrono::milliseconds(std::stoi(value()));
        } else if (arg == "--first-byte-delay-ms") {
            options.firstByteDelay = std::chrono::milliseconds(std::stoi(value()));
        } else if (arg == "--fault") {
            const auto name = value();
            const auto fault = vigil::mock::faultFromName(name);
            if (!fault) {
                std::fprintf(stderr, "vigil-mock-upstream: unknown fault '%s'\n", name.c_str());
                return 2;
            }
            options.fault = *fault;
        } else if (arg == "--tls-cert") {
            listener.certFile = value();
        } else if (arg == "--tls-key") {
            listener.keyFile = value();
        } else if (arg == "--threads") {
            threads = std::stoi(value());
        } else if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else {
            std::fprintf(stderr, "vigil-mock-upstream: unknown argument '%s'\n%s", arg.c_str(), kUsage);
            return 2;
        }
    }
    if (options.apiKey.empty()) {
        std::fprintf(stderr, "vigil-mock-upstream: --api-key (or VIGIL_MOCK_API_KEY) is required\n");
        return 2;
    }
    vigil::net::ServerOptions server;
    server.listeners.push_back(listener);
    server.threads = threads;
    server.shutdownGrace = std::chrono::milliseconds(2000);
    vigil::net::HttpServer http(server, std::make_shared<vigil::mock::MockUpstream>(options));
    try {
        for (const auto& b : http.bind()) {
            vigil::observe::LogLine(vigil::observe::LogLevel::Info, "listening").str("url", b.url);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vigil-mock-upstream: %s\n", e.what());
        return 1;
    }
    http.run();
    return 0;
}

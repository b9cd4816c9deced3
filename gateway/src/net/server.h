#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/http_types.h"

namespace vigil::net {

struct ListenerOptions {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;
    std::optional<std::filesystem::path> certFile;  // both set: HTTPS (TLS 1.2+)
    std::optional<std::filesystem::path> keyFile;
};

struct UpstreamOptions {
    std::string name;
    bool https = false;
    std::string host;
    std::uint16_t port = 0;
    std::optional<std::filesystem::path> caFile;  // else the system CA store
    std::chrono::milliseconds connectTimeout{5'000};
    std::chrono::milliseconds firstByteTimeout{120'000};
    std::chrono::milliseconds idleTimeout{60'000};
    std::chrono::milliseconds totalTimeout{600'000};
};

struct ServerOptions {
    std::vector<ListenerOptions> listeners;
    std::vector<UpstreamOptions> upstreams;
    int threads = 0;  // 0: one per core
    std::size_t maxHeaderBytes = 16 * 1024;
    std::size_t maxBodyBytes = 10 * 1024 * 1024;
    std::size_t maxResponseBytes = 64 * 1024 * 1024;
    std::chrono::milliseconds requestTimeout{30'000};
    std::chrono::milliseconds keepAliveTimeout{75'000};
    std::chrono::milliseconds shutdownGrace{30'000};
    std::size_t maxIdleUpstreamConnections = 64;  // per upstream and worker thread
    std::size_t webSocketMaxQueuedBytes = 4 * 1024 * 1024;  // per WebSocket client; beyond: closed (1008)
};

struct BoundListener {
    std::string url;  // "http://127.0.0.1:8080"
    std::uint16_t port = 0;
};

// An HTTP/1.1 server (plain and TLS listeners, keep-alive) with a reverse-proxy engine:
// the handler answers locally or names an upstream, and the server forwards, streaming
// text/event-stream responses as they arrive. One io_context per worker thread; each
// connection, and its upstream connections, stay on one thread.
class HttpServer {
public:
    HttpServer(ServerOptions options, std::shared_ptr<RequestHandler> handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds every listener and loads TLS material; throws std::runtime_error naming the
    // listener on failure. Returns the bound addresses (port 0 resolved).
    std::vector<BoundListener> bind();

    // Runs until shutdown completes. SIGTERM and SIGINT start a graceful shutdown.
    void run();

    // Stop accepting, close idle connections, let in-flight requests finish until the
    // grace period ends, then stop. Safe from any thread.
    void shutdown();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::net

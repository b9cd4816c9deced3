#pragma once

#include <atomic>
#include <memory>
#include <unordered_set>
#include <vector>

#include "net/beast_common.h"
#include "net/server.h"
#include "net/upstream.h"
#include "net/watchdog.h"

namespace vigil::net {

// State every worker thread reads; built once by HttpServer::bind(), immutable after,
// except the draining flag and the session count.
struct ServerShared {
    ServerOptions options;
    std::shared_ptr<RequestHandler> handler;
    std::vector<std::unique_ptr<ssl::context>> upstreamTls;  // per upstream; null for http
    std::vector<std::string> upstreamHostHeader;             // per upstream: "host[:port]"
    std::atomic<bool> draining{false};
    std::atomic<int> liveSessions{0};
};

class SessionBase {
public:
    virtual ~SessionBase() = default;
    // Shutdown: close the connection now when it is between requests; otherwise close it
    // after the response in progress.
    virtual void closeIfIdle() = 0;
};

// One thread: its io_context, its client sessions and its upstream connections.
struct Worker {
    explicit Worker(ServerShared& s)
        : shared(s), pool(s.options.upstreams.size(), s.options.maxIdleUpstreamConnections) {
        watchdog.attach(ioc);
    }
    ~Worker() {
        pool.clear();
        watchdog.stop();
    }

    ServerShared& shared;
    // Declared before the io_context: sessions leave this set, and their deadlines the
    // watchdog, when their coroutine frames are destroyed, which may happen while the
    // io_context is being destroyed.
    std::unordered_set<SessionBase*> sessions;
    Watchdog watchdog;
    // A response of this thread is polling for its commit (see ClientSession::passGate).
    bool gateSpinner = false;
    asio::io_context ioc{1};
    UpstreamPool pool;
};

// Marks the thread's gate spinner while it lives (also when its coroutine frame is destroyed).
class GateSpinner {
public:
    explicit GateSpinner(bool& flag) : flag_(flag) { flag_ = true; }
    ~GateSpinner() { flag_ = false; }
    GateSpinner(const GateSpinner&) = delete;
    GateSpinner& operator=(const GateSpinner&) = delete;

private:
    bool& flag_;
};

void startPlainSession(Worker& worker, tcp::socket socket);
void startTlsSession(Worker& worker, tcp::socket socket, ssl::context& context);

}  // namespace vigil::net

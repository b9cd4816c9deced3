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
    asio::io_context ioc{1};
    UpstreamPool pool;
    // Responses of this thread waiting for a short gate (a strict recording commit, which
    // lands within a fsync): while there are any, run() polls instead of sleeping, until
    // `gateSpinUntil` (the latest such wait's start + options.gateSpin).
    int shortGatesWaiting = 0;
    Clock::time_point gateSpinUntil{};

    // Runs the io_context until it is stopped. When it would sleep while a response waits
    // for a commit, it polls for up to `options.gateSpin` instead: the commit lands within
    // a fsync (~0.1-0.3 ms), and waking a sleeping thread costs tens of microseconds on a
    // virtual machine, which the response would pay on top.
    void run();
};

// A response waiting for a short gate, while it lives (see Worker::run).
class ShortGateWait {
public:
    explicit ShortGateWait(Worker& worker) : worker_(worker) {
        ++worker_.shortGatesWaiting;
        worker_.gateSpinUntil = Clock::now() + worker_.shared.options.gateSpin;
    }
    ~ShortGateWait() { --worker_.shortGatesWaiting; }
    ShortGateWait(const ShortGateWait&) = delete;
    ShortGateWait& operator=(const ShortGateWait&) = delete;

private:
    Worker& worker_;
};

void startPlainSession(Worker& worker, tcp::socket socket);
void startTlsSession(Worker& worker, tcp::socket socket, ssl::context& context);

}  // namespace vigil::net

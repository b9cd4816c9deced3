#pragma once

#include <memory>
#include <vector>

#include "net/beast_common.h"
#include "net/server.h"
#include "net/watchdog.h"

namespace vigil::net {

// One connection to an upstream, plain or TLS. The caller parses what arrives in
// buffer() (Beast's parser, fed directly), so a response costs as many reads as the
// bytes need and no more.
class UpstreamConnection {
public:
    virtual ~UpstreamConnection() = default;

    virtual asio::awaitable<error_code> connect(const tcp::resolver::results_type& endpoints,
                                                std::chrono::milliseconds timeout) = 0;
    virtual asio::awaitable<error_code> write(std::string_view head, std::string_view body,
                                              std::chrono::milliseconds timeout) = 0;
    // Reads at least one more byte into buffer().
    virtual asio::awaitable<error_code> readMore(std::chrono::milliseconds timeout) = 0;
    // True when the peer has not closed the idle connection (non-blocking peek).
    virtual bool stillOpen() = 0;
    virtual void close() = 0;

    beast::flat_buffer& buffer() { return buffer_; }

    bool reused = false;
    Clock::time_point idleSince{};

protected:
    beast::flat_buffer buffer_;  // bytes read past one response stay for the next
};

std::unique_ptr<UpstreamConnection> makePlainUpstreamConnection(asio::io_context& ioc,
                                                                Watchdog& watchdog);
std::unique_ptr<UpstreamConnection> makeTlsUpstreamConnection(asio::io_context& ioc,
                                                              Watchdog& watchdog,
                                                              ssl::context& context,
                                                              const std::string& host);

// Idle keep-alive connections of one worker thread, per upstream. Not thread-safe: a
// worker's connections never leave its thread.
class UpstreamPool {
public:
    UpstreamPool(std::size_t upstreams, std::size_t maxIdlePerUpstream)
        : idle_(upstreams), maxIdle_(maxIdlePerUpstream) {}

    std::unique_ptr<UpstreamConnection> take(std::size_t upstream);
    void put(std::size_t upstream, std::unique_ptr<UpstreamConnection> connection);
    void clear() {
        for (auto& list : idle_) list.clear();
    }

private:
    std::vector<std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
    std::size_t maxIdle_;
};

}  // namespace vigil::net

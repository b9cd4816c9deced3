#pragma once

// Template shared by the plain and TLS upstream connections; each is instantiated in a
// file of its own so the two compile in parallel.

#include <sys/socket.h>

#include <boost/asio/connect.hpp>

#include "net/stream_io.h"
#include "net/upstream.h"

namespace vigil::net {

template <class Stream>
class BasicUpstreamConnection final : public UpstreamConnection {
public:
    template <class... Args>
    BasicUpstreamConnection(Watchdog& watchdog, Args&&... args)
        : stream_(std::forward<Args>(args)...), deadline_(watchdog, lowestSocket(stream_)) {
        buffer_.reserve(16 * 1024);  // a typical response in one recv
    }

    asio::awaitable<error_code> connect(const tcp::resolver::results_type& endpoints,
                                        std::chrono::milliseconds timeout) override {
        auto& socket = lowestSocket(stream_);
        deadline_.arm(timeout);
        auto [ec, endpoint] = co_await asio::async_connect(socket, endpoints, useNothrow);
        if (!ec) {
            socket.set_option(tcp::no_delay(true), ec);
            socket.non_blocking(true, ec);
        }
        if constexpr (std::is_same_v<Stream, TlsStream>) {
            if (!ec) {
                auto [hec] = co_await stream_.async_handshake(ssl::stream_base::client, useNothrow);
                ec = hec;
            }
        }
        deadline_.disarm();
        co_return timeoutAware(ec, deadline_);
    }

    asio::awaitable<error_code> write(std::string_view head, std::string_view body,
                                      std::chrono::milliseconds timeout) override {
        co_return co_await writeAll(stream_,
                                    std::array{asio::const_buffer(head.data(), head.size()),
                                               asio::const_buffer(body.data(), body.size())},
                                    deadline_, timeout);
    }

    asio::awaitable<error_code> readMore(std::chrono::milliseconds timeout) override {
        co_return co_await net::readMore(stream_, buffer_, deadline_, timeout);
    }

    bool stillOpen() override {
        auto& socket = lowestSocket(stream_);
        if (!socket.is_open()) return false;
        if (buffer_.size() > 0) return false;  // unsolicited bytes: not a clean connection
        char byte;
        const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }

    Stream& stream() { return stream_; }

    void close() override {
        error_code ec;
        lowestSocket(stream_).close(ec);
    }

private:
    Stream stream_;
    Deadline deadline_;
};

}  // namespace vigil::net

#pragma once

// Template shared by the plain and TLS upstream connections; each is instantiated in a
// file of its own so the two compile in parallel.

#include <sys/socket.h>

#include "net/upstream.h"

namespace vigil::net {

template <class Stream>
class BasicUpstreamConnection final : public UpstreamConnection {
public:
    template <class... Args>
    explicit BasicUpstreamConnection(Args&&... args) : stream_(std::forward<Args>(args)...) {}

    asio::awaitable<error_code> connect(const tcp::resolver::results_type& endpoints,
                                        std::chrono::milliseconds timeout) override {
        auto& lowest = beast::get_lowest_layer(stream_);
        lowest.expires_after(timeout);
        auto [ec, endpoint] = co_await lowest.async_connect(endpoints, useNothrow);
        if (ec) co_return ec;
        lowest.socket().set_option(tcp::no_delay(true), ec);
        if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
            lowest.expires_after(timeout);
            auto [hec] = co_await stream_.async_handshake(ssl::stream_base::client, useNothrow);
            if (hec) co_return hec;
        }
        lowest.expires_never();
        co_return error_code{};
    }

    asio::awaitable<error_code> write(http::request<http::string_body>& request,
                                      std::chrono::milliseconds timeout) override {
        beast::get_lowest_layer(stream_).expires_after(timeout);
        auto [ec, n] = co_await http::async_write(stream_, request, useNothrow);
        co_return ec;
    }

    asio::awaitable<error_code> readHeader(http::basic_parser<false>& parser,
                                           std::chrono::milliseconds timeout) override {
        beast::get_lowest_layer(stream_).expires_after(timeout);
        auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, useNothrow);
        co_return ec;
    }

    asio::awaitable<error_code> readSome(http::basic_parser<false>& parser,
                                         std::chrono::milliseconds timeout) override {
        beast::get_lowest_layer(stream_).expires_after(timeout);
        auto [ec, n] = co_await http::async_read_some(stream_, buffer_, parser, useNothrow);
        co_return ec;
    }

    bool stillOpen() override {
        auto& socket = beast::get_lowest_layer(stream_).socket();
        if (!socket.is_open()) return false;
        if (buffer_.size() > 0) return false;  // unsolicited bytes: not a clean connection
        char byte;
        const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }

    Stream& stream() { return stream_; }

    void close() override {
        error_code ec;
        beast::get_lowest_layer(stream_).socket().close(ec);
    }

private:
    Stream stream_;
};

}  // namespace vigil::net

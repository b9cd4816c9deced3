#pragma once

// Reads and writes on a plain or TLS stream, with the fewest syscalls and scheduler round
// trips. Plain sockets are non-blocking and writes are tried synchronously first (a
// response usually fits the socket buffer: no scheduler round trip). TLS goes through the
// SSL stream's own asynchronous operations.

#include <boost/asio/write.hpp>

#include "net/beast_common.h"
#include "net/watchdog.h"

namespace vigil::net {

using PlainStream = tcp::socket;
using TlsStream = beast::ssl_stream<tcp::socket>;

inline tcp::socket& lowestSocket(PlainStream& s) { return s; }
inline tcp::socket& lowestSocket(TlsStream& s) { return s.next_layer(); }

// A read or write that failed because its deadline passed reports beast::error::timeout.
inline error_code timeoutAware(const error_code& ec, const Deadline& deadline) {
    if (ec == asio::error::operation_aborted && deadline.expired()) return beast::error::timeout;
    return ec;
}

// Reads at least one byte into `buffer` (up to its free capacity, at least 4 KiB).
template <class Stream>
asio::awaitable<error_code> readMore(Stream& stream, beast::flat_buffer& buffer, Deadline& deadline,
                                     std::chrono::milliseconds timeout) {
    const std::size_t room = std::max<std::size_t>(4096, buffer.capacity() - buffer.size());
    const auto target = buffer.prepare(room);
    deadline.arm(timeout);
    // Reads go through the reactor, which tracks readiness per socket like nginx does: a
    // read that drained the socket makes the next one wait for epoll without a doomed
    // recv() first, and no EPOLL_CTL_MOD is needed (async_wait would re-arm every time).
    auto [ec, got] = co_await stream.async_read_some(target, useNothrow);
    deadline.disarm();
    buffer.commit(got);
    co_return timeoutAware(ec, deadline);
}

// Writes every byte of `buffers` (a small array of const_buffer).
template <class Stream, std::size_t N>
asio::awaitable<error_code> writeAll(Stream& stream, std::array<asio::const_buffer, N> buffers,
                                     Deadline& deadline, std::chrono::milliseconds timeout) {
    error_code ec;
    std::size_t skip = 0;
    if constexpr (std::is_same_v<Stream, PlainStream>) {
        skip = stream.write_some(buffers, ec);
        if (!ec && skip == asio::buffer_size(buffers)) co_return error_code{};
        if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return ec;
    }
    beast::buffers_suffix<std::array<asio::const_buffer, N>> rest(buffers);
    rest.consume(skip);
    deadline.arm(timeout);
    auto [wec, n] = co_await asio::async_write(stream, rest, useNothrow);
    deadline.disarm();
    co_return timeoutAware(wec, deadline);
}

}  // namespace vigil::net

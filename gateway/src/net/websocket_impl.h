#pragma once

// Internal to websocket_plain.cpp and websocket_tls.cpp.

#include <deque>
#include <mutex>

#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "net/websocket.h"
#include "observe/log.h"

namespace vigil::net {

namespace websocket = boost::beast::websocket;

// The thread-safe send queue of one connection. The writer coroutine (on the connection's
// thread) drains it; senders on other threads post a wake-up only when it sleeps.
class QueuedPeer final : public WebSocketPeer, public std::enable_shared_from_this<QueuedPeer> {
public:
    QueuedPeer(asio::any_io_executor executor, std::size_t maxQueuedBytes)
        : executor_(std::move(executor)), timer_(executor_), maxQueuedBytes_(maxQueuedBytes) {
        timer_.expires_at(asio::steady_timer::time_point::max());
    }

    bool send(std::string message) override {
        std::lock_guard lock(mutex_);
        if (closing_) return false;
        if (queuedBytes_ + message.size() > maxQueuedBytes_) {
            closeLocked(1008, "the client reads too slowly: " + std::to_string(queue_.size()) +
                                  " events (" + std::to_string(queuedBytes_) + " bytes) were waiting");
            return false;
        }
        queuedBytes_ += message.size();
        queue_.push_back(std::move(message));
        kickLocked();
        return true;
    }

    void close(std::uint16_t code, std::string reason) override {
        std::lock_guard lock(mutex_);
        if (!closing_) closeLocked(code, std::move(reason));
    }

    // Connection thread only.
    asio::steady_timer& timer() { return timer_; }
    struct Next {
        std::optional<std::string> message;
        std::optional<std::pair<std::uint16_t, std::string>> close;
        bool stop = false;  // the reader ended: nothing more to write
    };
    Next next() {
        std::lock_guard lock(mutex_);
        Next n;
        if (!queue_.empty()) {
            queuedBytes_ -= queue_.front().size();
            n.message = std::move(queue_.front());
            queue_.pop_front();
        } else if (closeRequest_) {
            n.close = std::move(closeRequest_);
            closeRequest_.reset();
        } else if (readerDone_) {
            n.stop = true;
        } else {
            sleeping_ = true;
        }
        return n;
    }
    void readerDone() {
        std::lock_guard lock(mutex_);
        readerDone_ = true;
        closing_ = true;
        queue_.clear();
        queuedBytes_ = 0;
        kickLocked();
    }

private:
    void closeLocked(std::uint16_t code, std::string reason) {
        closing_ = true;
        queue_.clear();  // a slow client does not get the backlog first
        queuedBytes_ = 0;
        closeRequest_ = std::make_pair(code, std::move(reason));
        kickLocked();
    }
    void kickLocked() {
        if (!sleeping_) return;
        sleeping_ = false;
        asio::post(executor_, [self = shared_from_this()] { self->timer_.cancel(); });
    }

    asio::any_io_executor executor_;
    asio::steady_timer timer_;
    std::size_t maxQueuedBytes_;
    std::mutex mutex_;
    std::deque<std::string> queue_;
    std::size_t queuedBytes_ = 0;
    std::optional<std::pair<std::uint16_t, std::string>> closeRequest_;
    bool closing_ = false;
    bool sleeping_ = false;
    bool readerDone_ = false;
};

template <class Stream>
asio::awaitable<void> writeLoop(websocket::stream<Stream&>& ws, std::shared_ptr<QueuedPeer> peer) {
    for (;;) {
        auto next = peer->next();
        if (next.stop) co_return;
        if (next.close) {
            websocket::close_reason reason(next.close->first);
            reason.reason = next.close->second.substr(0, 120);  // a close frame's reason fits 123 bytes
            auto [ec] = co_await ws.async_close(reason, useNothrow);
            (void)ec;
            co_return;
        }
        if (!next.message) {
            peer->timer().expires_at(asio::steady_timer::time_point::max());
            auto [ec] = co_await peer->timer().async_wait(useNothrow);
            (void)ec;
            continue;
        }
        auto [ec, n] = co_await ws.async_write(asio::buffer(*next.message), useNothrow);
        if (ec) {
            peer->readerDone();  // the connection is broken: stop accepting messages
            co_return;
        }
    }
}

template <class Stream>
asio::awaitable<void> runWebSocketImpl(Stream& stream, beast::flat_buffer& buffer,
                                       const http::request<http::string_body>& request,
                                       std::shared_ptr<WebSocketHandler> handler, WebSocketOptions options) {
    (void)buffer;
    websocket::stream<Stream&> ws(stream);
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws.read_message_max(options.maxMessageBytes);
    ws.text(true);
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "vigil-gateway"); }));
    {
        auto [ec] = co_await ws.async_accept(request, useNothrow);
        if (options.handshakeDone) options.handshakeDone(!ec);
        if (ec) {
            observe::LogLine(observe::LogLevel::Debug, "websocket handshake failed").str("error", ec.message());
            co_return;
        }
    }
    const auto executor = co_await asio::this_coro::executor;
    auto peer = std::make_shared<QueuedPeer>(executor, options.maxQueuedBytes);
    asio::steady_timer writerDone(executor, asio::steady_timer::time_point::max());
    bool writerFinished = false;
    asio::co_spawn(executor, writeLoop<Stream>(ws, peer), [&writerDone, &writerFinished](std::exception_ptr) {
        writerFinished = true;
        writerDone.cancel();
    });
    handler->onOpen(peer);
    beast::flat_buffer incoming;
    for (;;) {
        incoming.clear();
        auto [ec, n] = co_await ws.async_read(incoming, useNothrow);
        if (ec) break;
        const auto data = incoming.cdata();
        handler->onMessage(std::string_view(static_cast<const char*>(data.data()), data.size()));
    }
    peer->readerDone();
    if (!writerFinished) {
        auto [ec] = co_await writerDone.async_wait(useNothrow);
        (void)ec;
    }
    handler->onClose();
}

}  // namespace vigil::net

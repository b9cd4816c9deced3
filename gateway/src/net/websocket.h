#pragma once

// WebSocket connections (RFC 6455) taken over from an HTTP/1.1 client session once the
// handler accepted the upgrade. Beast's websocket code is compiled in websocket_plain.cpp
// and websocket_tls.cpp only.

#include "net/http_types.h"
#include "net/stream_io.h"

namespace vigil::net {

struct WebSocketOptions {
    std::size_t maxQueuedBytes = 4 * 1024 * 1024;  // per client; beyond: closed with 1008
    std::size_t maxMessageBytes = 64 * 1024;        // what a client may send
    // Called once the opening handshake is answered (true) or failed (false).
    std::function<void(bool accepted)> handshakeDone;
};

// Accepts the upgrade `request` on `stream` and runs the connection until either side
// closes it. `buffer` holds bytes already read after the request (none, normally).
asio::awaitable<void> runWebSocket(PlainStream& stream, beast::flat_buffer& buffer,
                                   const http::request<http::string_body>& request,
                                   std::shared_ptr<WebSocketHandler> handler, WebSocketOptions options);
asio::awaitable<void> runWebSocket(TlsStream& stream, beast::flat_buffer& buffer,
                                   const http::request<http::string_body>& request,
                                   std::shared_ptr<WebSocketHandler> handler, WebSocketOptions options);

}  // namespace vigil::net

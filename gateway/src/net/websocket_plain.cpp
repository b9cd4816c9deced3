#include "net/websocket_impl.h"

namespace vigil::net {

asio::awaitable<void> runWebSocket(PlainStream& stream, beast::flat_buffer& buffer,
                                   const http::request<http::string_body>& request,
                                   std::shared_ptr<WebSocketHandler> handler, WebSocketOptions options) {
    return runWebSocketImpl(stream, buffer, request, std::move(handler), options);
}

}  // namespace vigil::net

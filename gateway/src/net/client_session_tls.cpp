#include "net/client_session_impl.h"

namespace vigil::net {

void startTlsSession(Worker& worker, tcp::socket socket, ssl::context& context) {
    spawnSession(worker, std::make_shared<ClientSession<TlsStream>>(
                             worker, std::move(socket), context));
}

}  // namespace vigil::net

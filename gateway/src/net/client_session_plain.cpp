#include "net/client_session_impl.h"

namespace vigil::net {

void startPlainSession(Worker& worker, tcp::socket socket) {
    spawnSession(worker, std::make_shared<ClientSession<PlainStream>>(worker, std::move(socket)));
}

}  // namespace vigil::net

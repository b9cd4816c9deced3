#include "net/upstream_connection_impl.h"

namespace vigil::net {

std::unique_ptr<UpstreamConnection> makePlainUpstreamConnection(asio::io_context& ioc,
                                                                Watchdog& watchdog) {
    return std::make_unique<BasicUpstreamConnection<PlainStream>>(watchdog, ioc);
}

}  // namespace vigil::net

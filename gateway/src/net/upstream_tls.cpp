#include <openssl/ssl.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include "net/upstream_connection_impl.h"

namespace vigil::net {

std::unique_ptr<UpstreamConnection> makeTlsUpstreamConnection(asio::io_context& ioc,
                                                              Watchdog& watchdog,
                                                              ssl::context& context,
                                                              const std::string& host) {
    auto connection = std::make_unique<BasicUpstreamConnection<TlsStream>>(watchdog, ioc, context);
    auto& stream = connection->stream();
    error_code ec;
    asio::ip::make_address(host, ec);
    if (ec) {
        // A name, not an address: send it as SNI so virtual-hosted upstreams pick the
        // right certificate.
        SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(host.c_str()));
    }
    stream.set_verify_mode(ssl::verify_peer);
    stream.set_verify_callback(ssl::host_name_verification(host));
    return connection;
}

}  // namespace vigil::net

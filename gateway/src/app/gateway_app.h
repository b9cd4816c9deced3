#pragma once

#include "config/gateway_config.h"
#include "net/server.h"

namespace vigil::app {

net::ServerOptions serverOptions(const config::GatewayConfig& config);

// Builds the request path from the configuration, binds every listener and serves until
// SIGTERM/SIGINT. Returns the process exit code.
int runGateway(const config::GatewayConfig& config);

}  // namespace vigil::app

#pragma once

#include <memory>

#include "auth/api_keys.h"
#include "auth/token_verifier.h"
#include "chain/filter.h"
#include "config/gateway_config.h"

namespace vigil::auth {

// The authenticate stage (after routing: a connection may not need credentials): a Bearer credential is a Vigil API key (vgl_...) or an OpenID
// Connect JWT. A token signed with a key the cache does not know parks the request while
// the issuer's keys are refreshed (rate limited), then runs again.
class AuthFilter final : public chain::RequestFilter {
public:
    AuthFilter(const config::GatewayConfig& config, std::shared_ptr<TokenVerifier> tokens,
               std::shared_ptr<const ApiKeyRegistry> apiKeys)
        : config_(config), tokens_(std::move(tokens)), apiKeys_(std::move(apiKeys)) {}
    std::string_view name() const override { return "authenticate"; }
    chain::FilterStatus onRequest(chain::RequestContext& context) const override;

private:
    const config::GatewayConfig& config_;
    std::shared_ptr<TokenVerifier> tokens_;
    std::shared_ptr<const ApiKeyRegistry> apiKeys_;
};

// After routing: the identity needs one of the connection's allowed roles.
class RoleFilter final : public chain::RequestFilter {
public:
    explicit RoleFilter(const config::GatewayConfig& config) : config_(config) {}
    std::string_view name() const override { return "authorize"; }
    chain::FilterStatus onRequest(chain::RequestContext& context) const override;

private:
    const config::GatewayConfig& config_;
};

}  // namespace vigil::auth

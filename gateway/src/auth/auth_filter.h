#pragma once

#include <chrono>
#include <memory>
#include <string_view>

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

// The credential of an "Authorization: Bearer ..." value, spaces trimmed; empty when the
// value is not a Bearer credential.
std::string_view bearerCredential(std::string_view authorization);

// A credential accepted before, checked again now (an open /api/events socket's): an API key
// against the key store as it is now (revoked, expired), a token against its expiry and the
// issuer's keys as they are now. Nothing waits for an issuer: a token whose key the issuer
// no longer publishes fails. `problem` is a details code's name when it fails.
struct CredentialRecheck {
    std::shared_ptr<const Identity> identity;
    std::string problem;
};
CredentialRecheck recheckCredential(std::string_view credential, TokenVerifier& tokens, const ApiKeyRegistry& apiKeys,
                                    std::chrono::system_clock::time_point now);

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

#include "auth/auth_filter.h"

#include <chrono>

#include "net/http_types.h"

namespace vigil::auth {
namespace {

chain::FilterStatus reply(chain::RequestContext& context, DetailsCode code, std::string message) {
    context.localReply = chain::LocalReply{code, std::move(message)};
    return chain::FilterStatus::LocalReply;
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out.empty() ? "none" : out;
}

}  // namespace

std::string_view bearerCredential(std::string_view authorization) {
    if (authorization.size() < 7 || !net::equalsIgnoreCase(authorization.substr(0, 7), "Bearer ")) return {};
    std::string_view credential = authorization.substr(7);
    while (!credential.empty() && credential.front() == ' ') credential.remove_prefix(1);
    while (!credential.empty() && credential.back() == ' ') credential.remove_suffix(1);
    return credential;
}

CredentialRecheck recheckCredential(std::string_view credential, TokenVerifier& tokens, const ApiKeyRegistry& apiKeys,
                                    std::chrono::system_clock::time_point now) {
    CredentialRecheck out;
    if (credential.starts_with(kApiKeyPrefix)) {
        auto check = apiKeys.verify(credential, std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
        out.identity = std::move(check.identity);
        if (!out.identity) out.problem = check.error ? std::string(detailsCodeName(*check.error)) : "api_key_invalid";
        return out;
    }
    auto check = tokens.verify(credential, now);
    out.identity = std::move(check.identity);
    if (!out.identity) out.problem = check.error ? std::string(detailsCodeName(*check.error)) : "token_malformed";
    return out;
}

chain::FilterStatus AuthFilter::onRequest(chain::RequestContext& context) const {
    // The gateway's own API (no connection) always needs credentials.
    if (context.connection &&
        config_.connections[*context.connection].authentication == config::Connection::Authentication::None) {
        static const auto kAnonymous = [] {
            auto identity = std::make_shared<Identity>();
            identity->subject = "anonymous";
            return identity;
        }();
        context.identity = kAnonymous;
        return chain::FilterStatus::Continue;
    }
    std::string_view authorization = context.request->header("authorization");
    if (authorization.empty()) {
        return reply(context, DetailsCode::MissingCredentials,
                     "send 'Authorization: Bearer <token>' with an OpenID Connect access token or a Vigil API key");
    }
    if (authorization.size() < 7 || !net::equalsIgnoreCase(authorization.substr(0, 7), "Bearer ")) {
        return reply(context, DetailsCode::MissingCredentials, "only Bearer credentials are accepted");
    }
    const std::string_view credential = bearerCredential(authorization);
    if (credential.empty()) return reply(context, DetailsCode::MissingCredentials, "the Bearer credential is empty");

    const auto now = std::chrono::system_clock::now();
    if (credential.starts_with(kApiKeyPrefix)) {
        auto check = apiKeys_->verify(credential, std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
        if (!check.identity) return reply(context, *check.error, std::move(check.message));
        context.identity = std::move(check.identity);
        return chain::FilterStatus::Continue;
    }

    auto check = tokens_->verify(credential, now);
    if (check.identity) {
        context.identity = std::move(check.identity);
        return chain::FilterStatus::Continue;
    }
    // An unknown key id: the issuer may have rotated its keys. Wait for a refresh once;
    // after it, the same check runs again and either finds the key or answers.
    if (check.needsKeysFrom && !context.parkedOn) {
        auto signal = std::make_shared<net::WakeSignal>();
        if (check.needsKeysFrom->refreshForUnknownKey([signal] { signal->wake(); })) {
            context.parkedOn = std::move(signal);
            return chain::FilterStatus::Park;
        }
    }
    return reply(context, *check.error, std::move(check.message));
}

chain::FilterStatus RoleFilter::onRequest(chain::RequestContext& context) const {
    const auto& connection = config_.connections[*context.connection];
    if (connection.authentication == config::Connection::Authentication::None) return chain::FilterStatus::Continue;
    if (!context.identity || !context.identity->hasAnyRole(connection.allowedRoles)) {
        const auto roles = context.identity ? joined(context.identity->roles) : std::string("none");
        return reply(context, DetailsCode::RoleNotAllowed,
                     "'" + (context.identity ? context.identity->subject : std::string("anonymous")) +
                         "' (roles: " + roles + ") may not call connection '" + connection.name +
                         "' (allowed: " + joined(connection.allowedRoles) + ")");
    }
    return chain::FilterStatus::Continue;
}

}  // namespace vigil::auth

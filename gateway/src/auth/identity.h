#pragma once

#include <string>
#include <vector>

namespace vigil::auth {

// Who is calling, as verified by the authenticate stage. Never holds the credential.
struct Identity {
    enum class Method { OidcToken, ApiKey, None };
    Method method = Method::None;
    std::string subject;              // token subject claim, or "apikey:<name>"
    std::string issuer;               // token issuer, or "vigil" for API keys
    std::vector<std::string> groups;  // from the token's groups claim
    std::vector<std::string> roles;   // from the role mapping, or the API key's roles

    bool hasAnyRole(const std::vector<std::string>& allowed) const;
};

std::string_view methodName(Identity::Method method);

// One caller across identity providers: a token's subject qualified by its issuer (two
// providers may issue the same "sub"), an API key's subject as it is.
std::string callerKey(const Identity& identity);

}  // namespace vigil::auth

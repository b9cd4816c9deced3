#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/identity.h"
#include "auth/oidc_issuer.h"
#include "config/gateway_config.h"
#include "vigil/details_code.h"

namespace vigil::auth {

struct TokenCheck {
    std::shared_ptr<const Identity> identity;  // set when the token is good
    std::optional<DetailsCode> error;
    std::string message;
    std::shared_ptr<OidcIssuer> needsKeysFrom;  // the key id is unknown to this issuer's cache
};

// Maps groups to roles with the configuration's role table.
std::vector<std::string> rolesForGroups(const std::vector<config::RoleMapping>& mappings,
                                        const std::vector<std::string>& groups);

// Value at a dotted path ("realm_access.roles"); a key with a dot or colon of its own
// ("cognito:groups", "https://example.com/groups") is tried whole first.
const nlohmann::json* claimAt(const nlohmann::json& payload, std::string_view path);

// Verifies OpenID Connect bearer JWTs: signature with the issuer's keys, then iss, aud,
// exp, nbf and iat. A verified token is cached until it expires, so a repeated token
// costs a hash lookup instead of a signature check.
class TokenVerifier {
public:
    using Clock = std::chrono::system_clock;

    TokenVerifier(std::vector<std::shared_ptr<OidcIssuer>> issuers,
                  std::vector<config::RoleMapping> roles, std::size_t cacheSize);

    TokenCheck verify(std::string_view token, Clock::time_point now);

    std::size_t cachedTokens() const;

private:
    struct Cached {
        std::shared_ptr<const Identity> identity;
        Clock::time_point validUntil;  // exp + leeway
        Clock::time_point validFrom;   // nbf - leeway
        // The key set the signature was checked against: once the issuer's keys change,
        // the token is verified again (a withdrawn key must not live on in the cache).
        const OidcIssuer* issuer = nullptr;
        std::uint64_t keysVersion = 0;
    };

    TokenCheck verifyUncached(std::string_view token, Clock::time_point now, Cached& entry);
    void remember(std::string_view token, const Cached& entry, Clock::time_point now);

    std::vector<std::shared_ptr<OidcIssuer>> issuers_;
    std::vector<config::RoleMapping> roles_;
    std::size_t cacheSize_;
    mutable std::shared_mutex cacheMutex_;
    // Transparent hashing: a lookup hashes the token where it lies, without copying it.
    struct TokenHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view token) const { return std::hash<std::string_view>{}(token); }
    };
    std::unordered_map<std::string, Cached, TokenHash, std::equal_to<>> cache_;
};

}  // namespace vigil::auth

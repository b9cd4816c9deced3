#include "auth/token_verifier.h"

#include <algorithm>

#include "auth/jwt.h"

namespace vigil::auth {
namespace {

using json = nlohmann::json;

TokenCheck failure(DetailsCode code, std::string message) {
    TokenCheck check;
    check.error = code;
    check.message = std::move(message);
    return check;
}

std::optional<std::int64_t> numericClaim(const json& payload, const char* name, bool& present) {
    present = payload.contains(name);
    if (!present) return std::nullopt;
    const auto& v = payload[name];
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_float()) return static_cast<std::int64_t>(v.get<double>());
    return std::nullopt;
}

}  // namespace

bool Identity::hasAnyRole(const std::vector<std::string>& allowed) const {
    return std::any_of(roles.begin(), roles.end(), [&](const std::string& role) {
        return std::find(allowed.begin(), allowed.end(), role) != allowed.end();
    });
}

std::string callerKey(const Identity& identity) {
    return identity.method == Identity::Method::OidcToken ? identity.issuer + " " + identity.subject : identity.subject;
}

std::string_view methodName(Identity::Method method) {
    switch (method) {
        case Identity::Method::OidcToken: return "oidc";
        case Identity::Method::ApiKey: return "api_key";
        case Identity::Method::None: return "none";
    }
    return "none";
}

std::vector<std::string> rolesForGroups(const std::vector<config::RoleMapping>& mappings,
                                        const std::vector<std::string>& groups) {
    std::vector<std::string> roles;
    for (const auto& mapping : mappings) {
        const bool member = std::any_of(mapping.groups.begin(), mapping.groups.end(), [&](const std::string& g) {
            return std::find(groups.begin(), groups.end(), g) != groups.end();
        });
        if (member) roles.push_back(mapping.role);
    }
    return roles;
}

const json* claimAt(const json& payload, std::string_view path) {
    if (!payload.is_object()) return nullptr;
    if (auto it = payload.find(std::string(path)); it != payload.end()) return &*it;
    const json* node = &payload;
    while (!path.empty()) {
        const auto dot = path.find('.');
        const auto part = std::string(path.substr(0, dot));
        if (!node->is_object()) return nullptr;
        auto it = node->find(part);
        if (it == node->end()) return nullptr;
        node = &*it;
        if (dot == std::string_view::npos) break;
        path.remove_prefix(dot + 1);
    }
    return node;
}

TokenVerifier::TokenVerifier(std::vector<std::shared_ptr<OidcIssuer>> issuers,
                             std::vector<config::RoleMapping> roles, std::size_t cacheSize)
    : issuers_(std::move(issuers)), roles_(std::move(roles)), cacheSize_(cacheSize) {}

std::size_t TokenVerifier::cachedTokens() const {
    std::shared_lock lock(cacheMutex_);
    return cache_.size();
}

TokenCheck TokenVerifier::verify(std::string_view token, Clock::time_point now) {
    {
        std::shared_lock lock(cacheMutex_);
        if (auto it = cache_.find(token); it != cache_.end()) {
            const auto& cached = it->second;
            if (now <= cached.validUntil && now >= cached.validFrom) {
                TokenCheck check;
                check.identity = cached.identity;
                return check;
            }
        }
    }
    Clock::time_point validFrom;
    Clock::time_point validUntil;
    TokenCheck check = verifyUncached(token, now, validFrom, validUntil);
    if (check.identity) remember(token, Cached{check.identity, validUntil, validFrom}, now);
    return check;
}

void TokenVerifier::remember(std::string_view token, const Cached& entry, Clock::time_point now) {
    std::unique_lock lock(cacheMutex_);
    if (cache_.size() >= cacheSize_) {
        std::erase_if(cache_, [&](const auto& item) { return item.second.validUntil < now; });
        // Still full of live tokens: drop an arbitrary half rather than grow without bound.
        for (auto it = cache_.begin(); cache_.size() >= cacheSize_ / 2 + 1 && it != cache_.end();) {
            it = cache_.erase(it);
        }
    }
    cache_.insert_or_assign(std::string(token), entry);
}

TokenCheck TokenVerifier::verifyUncached(std::string_view token, Clock::time_point now,
                                         Clock::time_point& validFrom, Clock::time_point& validUntil) {
    DecodedJwt jwt;
    switch (decodeJwt(token, jwt)) {
        case JwtError::None: break;
        case JwtError::UnsupportedAlgorithm:
            return failure(DetailsCode::TokenAlgorithmNotAllowed,
                           "the token's signing algorithm is not accepted (none and HMAC never are)");
        default:
            return failure(DetailsCode::TokenMalformed, "the bearer token is not a well-formed JWT");
    }
    const auto& payload = jwt.payload;
    const std::string iss = payload.contains("iss") && payload["iss"].is_string() ? payload["iss"].get<std::string>() : "";
    const auto issuerIt = std::find_if(issuers_.begin(), issuers_.end(),
                                       [&](const auto& i) { return i->config().issuer == iss; });
    if (issuerIt == issuers_.end()) {
        return failure(DetailsCode::TokenWrongIssuer, "tokens from issuer '" + iss + "' are not accepted");
    }
    const auto& issuer = **issuerIt;
    const auto& cfg = issuer.config();

    // The signature first: nothing else in an unverified token is trusted.
    const auto keys = issuer.keys();
    const Jwk* key = nullptr;
    for (const auto& k : *keys) {
        if (jwt.kid.empty() ? keys->size() == 1 : k.kid == jwt.kid) {
            key = &k;
            break;
        }
    }
    if (key == nullptr) {
        TokenCheck check = failure(DetailsCode::TokenUnknownKey,
                                   "issuer '" + iss + "' has no signing key '" + jwt.kid + "'");
        check.needsKeysFrom = *issuerIt;
        return check;
    }
    switch (verifyJwtSignature(jwt, *key)) {
        case JwtError::None: break;
        case JwtError::AlgorithmNotAllowedForKey:
            return failure(DetailsCode::TokenAlgorithmNotAllowed,
                           "the token's algorithm does not match its signing key");
        default:
            return failure(DetailsCode::TokenBadSignature, "the token's signature does not verify");
    }

    const auto leeway = cfg.leeway;
    bool present = false;
    const auto exp = numericClaim(payload, "exp", present);
    if (!exp) return failure(DetailsCode::TokenMalformed, "the token has no numeric exp claim");
    validUntil = Clock::time_point(std::chrono::seconds(*exp)) + leeway;
    if (now > validUntil) return failure(DetailsCode::TokenExpired, "the token has expired");
    validFrom = Clock::time_point::min();
    if (const auto nbf = numericClaim(payload, "nbf", present)) {
        validFrom = Clock::time_point(std::chrono::seconds(*nbf)) - leeway;
        if (now < validFrom) return failure(DetailsCode::TokenNotYetValid, "the token is not valid yet (nbf)");
    } else if (present) {
        return failure(DetailsCode::TokenMalformed, "the token's nbf claim is not a number");
    }
    if (const auto iat = numericClaim(payload, "iat", present)) {
        const auto issued = Clock::time_point(std::chrono::seconds(*iat)) - leeway;
        if (now < issued) return failure(DetailsCode::TokenNotYetValid, "the token was issued in the future (iat)");
        validFrom = std::max(validFrom, issued);
    } else if (present) {
        return failure(DetailsCode::TokenMalformed, "the token's iat claim is not a number");
    }

    bool audienceOk = false;
    if (payload.contains("aud")) {
        const auto& aud = payload["aud"];
        auto accepted = [&](const json& v) {
            return v.is_string() &&
                   std::find(cfg.audiences.begin(), cfg.audiences.end(), v.get<std::string>()) != cfg.audiences.end();
        };
        audienceOk = accepted(aud) || (aud.is_array() && std::any_of(aud.begin(), aud.end(), accepted));
    }
    if (!audienceOk) return failure(DetailsCode::TokenWrongAudience, "the token is not meant for this gateway (aud)");

    auto identity = std::make_shared<Identity>();
    identity->method = Identity::Method::OidcToken;
    identity->issuer = iss;
    const json* subject = claimAt(payload, cfg.subjectClaim);
    if (subject == nullptr || !subject->is_string() || subject->get<std::string>().empty()) {
        return failure(DetailsCode::TokenMalformed, "the token has no '" + cfg.subjectClaim + "' claim");
    }
    identity->subject = subject->get<std::string>();
    if (const json* groups = claimAt(payload, cfg.groupsClaim)) {
        if (groups->is_string()) {
            identity->groups.push_back(groups->get<std::string>());
        } else if (groups->is_array()) {
            for (const auto& g : *groups) {
                if (g.is_string()) identity->groups.push_back(g.get<std::string>());
            }
        }
    }
    identity->roles = rolesForGroups(roles_, identity->groups);
    TokenCheck check;
    check.identity = std::move(identity);
    return check;
}

}  // namespace vigil::auth

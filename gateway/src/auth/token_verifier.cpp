#include "auth/token_verifier.h"

#include <algorithm>
#include <cmath>

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

// NumericDate claims (RFC 7519 2) are clamped to +-kClaimLimit seconds: the clock counts
// nanoseconds in 64 bits, which ends in 2262, and a bigger value (or a float out of the
// integer range) must mean "very late" or "very early", not wrap around to a near date.
constexpr std::int64_t kClaimLimit = 9'000'000'000;  // about the year 2255

std::optional<std::int64_t> numericClaim(const json& payload, const char* name, bool& present) {
    const auto it = payload.find(name);
    present = it != payload.end();
    if (!present) return std::nullopt;
    const auto& v = *it;
    if (v.is_number_unsigned()) return std::min<std::uint64_t>(v.get<std::uint64_t>(), kClaimLimit);
    if (v.is_number_integer()) return std::clamp<std::int64_t>(v.get<std::int64_t>(), -kClaimLimit, kClaimLimit);
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isnan(d)) return std::nullopt;
        return static_cast<std::int64_t>(std::clamp(d, -static_cast<double>(kClaimLimit), static_cast<double>(kClaimLimit)));
    }
    return std::nullopt;
}

// Signature checks one token may cost: a key id shared by several keys, or a token without
// one, is tried against at most this many keys that fit its algorithm.
constexpr int kMaxSignatureChecks = 4;

// Subjects that name callers of other kinds: a token must not pass for a Vigil API key
// ("apikey:<name>") or for the anonymous caller of an open connection in policy rules,
// reviews or session ownership.
bool reservedSubject(std::string_view subject) {
    return subject == "anonymous" || subject.starts_with("apikey:");
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
            if (now <= cached.validUntil && now >= cached.validFrom &&
                cached.issuer->keysVersion() == cached.keysVersion) {
                TokenCheck check;
                check.identity = cached.identity;
                return check;
            }
        }
    }
    Cached entry;
    TokenCheck check = verifyUncached(token, now, entry);
    if (check.identity) {
        entry.identity = check.identity;
        remember(token, entry, now);
    }
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

TokenCheck TokenVerifier::verifyUncached(std::string_view token, Clock::time_point now, Cached& entry) {
    auto& validFrom = entry.validFrom;
    auto& validUntil = entry.validUntil;
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

    // The signature first: nothing else in an unverified token is trusted. Every key the
    // token may name is tried: a key id may be shared by keys of different types (RFC 7517
    // 4.5), and a token without one may be signed by any key of the set.
    entry.issuer = issuerIt->get();
    entry.keysVersion = issuer.keysVersion();
    const auto keys = issuer.keys();
    // A key of another type is refused before any arithmetic; the signature checks
    // themselves are bounded, so that a forged token cannot make one request cost a check
    // against every key of a large set.
    bool named = false;
    int checked = 0;
    JwtError best = JwtError::AlgorithmNotAllowedForKey;
    for (const auto& k : *keys) {
        if (!jwt.kid.empty() && k.kid != jwt.kid) continue;
        named = true;
        const JwtError result = verifyJwtSignature(jwt, k);
        if (result == JwtError::None) {
            best = result;
            break;
        }
        if (result != JwtError::AlgorithmNotAllowedForKey) {
            best = result;
            if (++checked == kMaxSignatureChecks) break;
        }
    }
    if (!named) {
        TokenCheck check = failure(DetailsCode::TokenUnknownKey,
                                   "issuer '" + iss + "' has no signing key '" + jwt.kid + "'");
        check.needsKeysFrom = *issuerIt;
        return check;
    }
    switch (best) {
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
    if (reservedSubject(identity->subject)) {
        return failure(DetailsCode::TokenMalformed, "the token's '" + cfg.subjectClaim + "' claim '" + identity->subject +
                                                        "' is reserved: it names a Vigil API key or the anonymous caller");
    }
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

#include "auth/oidc_issuer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "observe/log.h"

namespace vigil::auth {
namespace {

bool sameKeys(const std::vector<Jwk>& a, const std::vector<Jwk>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Jwk& x, const Jwk& y) {
        return x.kid == y.kid && x.alg == y.alg && x.key && y.key && EVP_PKEY_eq(x.key.get(), y.key.get()) == 1;
    });
}

}  // namespace

std::optional<std::string> jwksUriProblem(std::string_view issuer, std::string_view jwksUri) {
    std::string error;
    const auto url = config::parseUpstreamUrl(jwksUri, error);
    if (!url) return "the discovery document's jwks_uri '" + std::string(jwksUri) + "' is not usable: " + error;
    // Keys fetched in the clear could be anyone's: an https issuer's keys come over https.
    if (issuer.starts_with("https://") && !url->https) {
        return "the discovery document's jwks_uri '" + std::string(jwksUri) + "' is not https, as the issuer is";
    }
    return std::nullopt;
}

OidcIssuer::OidcIssuer(config::Issuer config, net::HttpFetcher& fetcher)
    : config_(std::move(config)), fetcher_(fetcher), keys_(std::make_shared<std::vector<Jwk>>()) {
    fetchOptions_.caFile = config_.caFile;
}

void OidcIssuer::start() {
    std::string error;
    const auto url = config::parseUpstreamUrl(config_.issuer, error);
    const bool loopback = url && (url->host == "localhost" || url->host == "::1" || url->host.starts_with("127."));
    if (url && !url->https && !loopback) {
        observe::LogLine(observe::LogLevel::Warn, "issuer without TLS")
            .str("issuer", config_.issuer)
            .str("detail", "its signing keys are fetched in the clear; anyone on the path could substitute them");
    }
    {
        std::lock_guard lock(mutex_);
        inFlight_ = true;
    }
    refresh();
}

std::shared_ptr<const std::vector<Jwk>> OidcIssuer::keys() const {
    std::lock_guard lock(mutex_);
    return keys_;
}

bool OidcIssuer::refreshForUnknownKey(std::function<void()> done) {
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        if (inFlight_) {
            waiters_.push_back(std::move(done));
            return true;
        }
        if (lastOnDemand_ && now - *lastOnDemand_ < kUnknownKeyRefreshInterval) return false;
        inFlight_ = true;
        lastOnDemand_ = now;
        waiters_.push_back(std::move(done));
    }
    auto self = shared_from_this();
    fetcher_.after(std::chrono::milliseconds(0), [self] { self->refresh(); });
    return true;
}

// On the fetcher's thread. Discovery once (its jwks_uri is kept), then the key set.
void OidcIssuer::refresh() {
    std::string jwksUri;
    {
        std::lock_guard lock(mutex_);
        jwksUri = jwksUri_;
    }
    if (!jwksUri.empty()) {
        fetchJwks(jwksUri);
        return;
    }
    auto self = shared_from_this();
    fetcher_.get(config_.discoveryUrl, fetchOptions_, [self](net::FetchResult result) {
        try {
            self->onDiscovery(result);
        } catch (const std::exception& e) {
            self->finish(nullptr, std::string("the discovery document could not be read: ") + e.what());
        }
    });
}

void OidcIssuer::onDiscovery(const net::FetchResult& result) {
    if (result.status != 200) {
        finish(nullptr, result.status == 0 ? result.error : "discovery answered HTTP " + std::to_string(result.status));
        return;
    }
    const auto doc = nlohmann::json::parse(result.body, nullptr, false);
    if (!doc.is_object() || !doc.contains("jwks_uri") || !doc["jwks_uri"].is_string()) {
        finish(nullptr, "the discovery document has no jwks_uri");
        return;
    }
    const auto issuer = doc.find("issuer");
    if (issuer == doc.end() || !issuer->is_string()) {
        finish(nullptr, "the discovery document has no issuer string");
        return;
    }
    if (issuer->get_ref<const std::string&>() != config_.issuer) {
        finish(nullptr, "the discovery document names issuer '" + issuer->get<std::string>() +
                            "', not the configured one");
        return;
    }
    const std::string uri = doc["jwks_uri"].get<std::string>();
    if (auto problem = jwksUriProblem(config_.issuer, uri)) {
        finish(nullptr, *problem);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        jwksUri_ = uri;
    }
    fetchJwks(uri);
}

void OidcIssuer::fetchJwks(const std::string& jwksUri) {
    auto self = shared_from_this();
    fetcher_.get(jwksUri, fetchOptions_, [self](net::FetchResult result) {
        try {
            self->onJwks(result);
        } catch (const std::exception& e) {
            self->finish(nullptr, std::string("the JWKS could not be read: ") + e.what());
        }
    });
}

void OidcIssuer::onJwks(const net::FetchResult& result) {
    if (result.status != 200) {
        // Discover again next time: the provider may have moved its key set.
        {
            std::lock_guard lock(mutex_);
            jwksUri_.clear();
        }
        finish(nullptr, result.status == 0 ? result.error : "JWKS answered HTTP " + std::to_string(result.status));
        return;
    }
    std::vector<std::string> skipped;
    auto keys = std::make_shared<std::vector<Jwk>>(parseJwks(result.body, skipped));
    for (const auto& reason : skipped) {
        observe::LogLine(observe::LogLevel::Warn, "jwks key skipped").str("issuer", config_.issuer).str("reason", reason);
    }
    if (keys->empty()) {
        finish(nullptr, "the JWKS holds no usable signing key");
        return;
    }
    finish(std::move(keys), {});
}

void OidcIssuer::finish(std::shared_ptr<const std::vector<Jwk>> keys, const std::string& error) {
    std::vector<std::function<void()>> waiters;
    std::size_t count = 0;
    {
        std::lock_guard lock(mutex_);
        if (keys) {
            // Tokens verified with the old set are verified again once a key changed, so a
            // key the provider withdrew stops serving its cached tokens at once.
            if (!sameKeys(*keys, *keys_)) keysVersion_.fetch_add(1, std::memory_order_release);
            keys_ = keys;
        }
        count = keys_->size();
        inFlight_ = false;
        waiters.swap(waiters_);
    }
    if (keys) {
        std::string kids;
        for (const auto& k : *keys) kids += (kids.empty() ? "" : ",") + k.kid;
        observe::LogLine(observe::LogLevel::Info, "jwks refreshed")
            .str("issuer", config_.issuer)
            .num("keys", static_cast<std::int64_t>(keys->size()))
            .str("kids", kids);
    } else {
        observe::LogLine(observe::LogLevel::Warn, "jwks refresh failed")
            .str("issuer", config_.issuer)
            .str("error", error)
            .num("cached_keys", static_cast<std::int64_t>(count));
    }
    for (auto& waiter : waiters) waiter();
    scheduleNext();
}

void OidcIssuer::scheduleNext() {
    // Only one periodic chain: finish() of a refresh triggered by an unknown key id also
    // lands here, which merely moves the next periodic refresh later.
    std::weak_ptr<OidcIssuer> weak = shared_from_this();
    const auto generation = ++generation_;
    fetcher_.after(std::chrono::duration_cast<std::chrono::milliseconds>(config_.jwksRefresh),
                   [weak, generation] {
                       auto self = weak.lock();
                       if (!self || generation != self->generation_.load()) return;
                       {
                           std::lock_guard lock(self->mutex_);
                           if (self->inFlight_) return;
                           self->inFlight_ = true;
                       }
                       self->refresh();
                   });
}

}  // namespace vigil::auth

#include "auth/oidc_issuer.h"

#include <nlohmann/json.hpp>

#include "observe/log.h"

namespace vigil::auth {

OidcIssuer::OidcIssuer(config::Issuer config, net::HttpFetcher& fetcher)
    : config_(std::move(config)), fetcher_(fetcher), keys_(std::make_shared<std::vector<Jwk>>()) {
    fetchOptions_.caFile = config_.caFile;
}

void OidcIssuer::start() {
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
        if (result.status != 200) {
            self->finish(nullptr, result.status == 0 ? result.error
                                                     : "discovery answered HTTP " + std::to_string(result.status));
            return;
        }
        const auto doc = nlohmann::json::parse(result.body, nullptr, false);
        if (!doc.is_object() || !doc.contains("jwks_uri") || !doc["jwks_uri"].is_string()) {
            self->finish(nullptr, "the discovery document has no jwks_uri");
            return;
        }
        if (doc.value("issuer", "") != self->config_.issuer) {
            self->finish(nullptr, "the discovery document names issuer '" + doc.value("issuer", "") +
                                      "', not the configured one");
            return;
        }
        const std::string uri = doc["jwks_uri"].get<std::string>();
        {
            std::lock_guard lock(self->mutex_);
            self->jwksUri_ = uri;
        }
        self->fetchJwks(uri);
    });
}

void OidcIssuer::fetchJwks(const std::string& jwksUri) {
    auto self = shared_from_this();
    fetcher_.get(jwksUri, fetchOptions_, [self](net::FetchResult result) {
        if (result.status != 200) {
            // Discover again next time: the provider may have moved its key set.
            std::lock_guard lock(self->mutex_);
            self->jwksUri_.clear();
        }
        if (result.status != 200) {
            self->finish(nullptr, result.status == 0 ? result.error
                                                     : "JWKS answered HTTP " + std::to_string(result.status));
            return;
        }
        std::vector<std::string> skipped;
        auto keys = std::make_shared<std::vector<Jwk>>(parseJwks(result.body, skipped));
        for (const auto& reason : skipped) {
            observe::LogLine(observe::LogLevel::Warn, "jwks key skipped")
                .str("issuer", self->config_.issuer)
                .str("reason", reason);
        }
        if (keys->empty()) {
            self->finish(nullptr, "the JWKS holds no usable signing key");
            return;
        }
        self->finish(std::move(keys), {});
    });
}

void OidcIssuer::finish(std::shared_ptr<const std::vector<Jwk>> keys, const std::string& error) {
    std::vector<std::function<void()>> waiters;
    std::size_t count = 0;
    {
        std::lock_guard lock(mutex_);
        if (keys) keys_ = keys;
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

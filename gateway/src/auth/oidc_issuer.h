#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/jwk.h"
#include "config/gateway_config.h"
#include "net/http_fetch.h"

namespace vigil::auth {

// Why a discovery document's jwks_uri is not fetched: not an http(s) URL, or plain http for
// an https issuer (keys fetched in the clear could be anyone's). nullopt when it is fine.
std::optional<std::string> jwksUriProblem(std::string_view issuer, std::string_view jwksUri);

// One OpenID Connect issuer: discovery, then its JWKS, cached and refreshed in the
// background. When the identity provider is down the last good keys keep serving.
class OidcIssuer : public std::enable_shared_from_this<OidcIssuer> {
public:
    // An unknown key id refreshes the keys at most this often, so a flood of tokens with
    // made-up key ids cannot hammer the identity provider.
    static constexpr std::chrono::seconds kUnknownKeyRefreshInterval{30};

    OidcIssuer(config::Issuer config, net::HttpFetcher& fetcher);

    // First fetch now, then every jwks_refresh_s.
    void start();

    const config::Issuer& config() const { return config_; }
    std::shared_ptr<const std::vector<Jwk>> keys() const;
    // Changes whenever a refresh brings a different key set (a key added, withdrawn or
    // replaced), not on refreshes that bring the same keys again.
    std::uint64_t keysVersion() const { return keysVersion_.load(std::memory_order_acquire); }

    // A token names a key id the cache does not know: refresh now unless that was done
    // in the last kUnknownKeyRefreshInterval. Returns true when `done` will be called once
    // the refresh has finished (successfully or not); false when refused by the rate limit.
    bool refreshForUnknownKey(std::function<void()> done);

private:
    void refresh();
    void fetchJwks(const std::string& jwksUri);
    void onDiscovery(const net::FetchResult& result);
    void onJwks(const net::FetchResult& result);
    void finish(std::shared_ptr<const std::vector<Jwk>> keys, const std::string& error);
    void scheduleNext();

    const config::Issuer config_;
    net::HttpFetcher& fetcher_;
    net::FetchOptions fetchOptions_;
    mutable std::mutex mutex_;
    std::shared_ptr<const std::vector<Jwk>> keys_;
    std::string jwksUri_;
    bool inFlight_ = false;
    // Only refreshes asked for by unknown key ids count against the rate limit; the
    // start-up and periodic ones do not delay the first legitimate key rotation.
    std::optional<std::chrono::steady_clock::time_point> lastOnDemand_;
    std::vector<std::function<void()>> waiters_;
    std::atomic<std::uint64_t> generation_{0};  // of the scheduled periodic refresh
    std::atomic<std::uint64_t> keysVersion_{0};
};

}  // namespace vigil::auth

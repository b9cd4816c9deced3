#pragma once

#include <functional>
#include <memory>

#include "chain/filter.h"
#include "config/gateway_config.h"

namespace vigil::observe {
class Metrics;
}

namespace vigil::auth {
struct Identity;
}

namespace vigil::policy {

class PolicySource;
class UsageTracker;

// Whose rates and budgets a request counts against: the token subject qualified by its
// issuer (two identity providers may issue the same "sub"), an API key by its name, every
// anonymous caller as one.
std::string usageSubject(const auth::Identity* identity);

// The decide stage: evaluates the policy in force against the caller, the connection and
// the request facts. Allow continues; deny answers 403 policy_denied (or 429
// rate_limited / budget_exhausted with Retry-After); review answers 403 review_required
// until the review gate exists. Denied requests are not counted against the caller's
// rate or token budget.
class DecideFilter final : public chain::RequestFilter {
public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;

    DecideFilter(const config::GatewayConfig& config, std::shared_ptr<const PolicySource> source,
                 std::shared_ptr<UsageTracker> usage, std::shared_ptr<observe::Metrics> metrics,
                 Clock clock = [] { return std::chrono::system_clock::now(); }, bool reviewGate = false);
    std::string_view name() const override { return "decide"; }
    chain::FilterStatus onRequest(chain::RequestContext& context) const override;

private:
    const config::GatewayConfig& config_;
    std::shared_ptr<const PolicySource> source_;
    std::shared_ptr<UsageTracker> usage_;
    std::shared_ptr<observe::Metrics> metrics_;
    Clock clock_;
    bool reviewGate_;  // review decisions go on to the review gate instead of 403 review_required
};

}  // namespace vigil::policy

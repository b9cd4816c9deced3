#include "policy/decide_filter.h"

#include "auth/identity.h"
#include "inspect/request_facts.h"
#include "observe/metrics.h"
#include "policy/policy_source.h"
#include "policy/usage_tracker.h"

namespace vigil::policy {

DecideFilter::DecideFilter(const config::GatewayConfig& config, std::shared_ptr<const PolicySource> source,
                           std::shared_ptr<UsageTracker> usage, std::shared_ptr<observe::Metrics> metrics,
                           Clock clock, bool reviewGate)
    : config_(config),
      source_(std::move(source)),
      usage_(std::move(usage)),
      metrics_(std::move(metrics)),
      clock_(std::move(clock)),
      reviewGate_(reviewGate) {}

std::string usageSubject(const auth::Identity* identity) {
    return identity == nullptr ? std::string("anonymous") : auth::callerKey(*identity);
}

chain::FilterStatus DecideFilter::onRequest(chain::RequestContext& context) const {
    // One policy for the whole evaluation, whatever reloads meanwhile.
    const auto policy = source_->current();
    const auto now = clock_();
    const std::string subject = usageSubject(context.identity.get());
    const std::int64_t tokens = context.facts ? context.facts->estimatedPromptTokens : 0;
    const auto admission = usage_->admit(subject, tokens, now);

    EvaluationInput input;
    input.identity = context.identity.get();
    input.connection = config_.connections[*context.connection].name;
    input.path = context.apiPath;
    input.facts = context.facts.get();
    input.usage = admission.usage;
    input.now = now;
    auto decision = std::make_shared<Decision>(evaluate(*policy, input));
    if (metrics_) metrics_->decision(static_cast<std::size_t>(decision->action));

    if (decision->action == Action::Allow) {
        context.decision = std::move(decision);
        return chain::FilterStatus::Continue;
    }
    // Neither denied nor held requests reach the upstream (yet): they use no budget.
    usage_->refund(subject, admission);
    if (decision->action == Action::Review && reviewGate_) {
        context.decision = std::move(decision);
        return chain::FilterStatus::Continue;
    }
    chain::LocalReply reply{decision->code, decision->message, {}, {}};
    if (!decision->rules.empty()) reply.fields.push_back({"rule", decision->rules.front()});
    reply.fields.push_back({"policy_version", decision->policyVersion});
    if (decision->retryAfterSeconds > 0) {
        reply.headers.push_back({"Retry-After", std::to_string(decision->retryAfterSeconds)});
    }
    context.decision = std::move(decision);
    context.localReply = std::move(reply);
    return chain::FilterStatus::LocalReply;
}

}  // namespace vigil::policy

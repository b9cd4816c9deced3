#include <algorithm>
#include <cstdio>

#include "auth/identity.h"
#include "inspect/request_facts.h"
#include "policy/policy.h"

namespace vigil::policy {
namespace {

constexpr std::size_t kNoHit = static_cast<std::size_t>(-1);

std::string inQuotes(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string listText(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        out += items[i];
    }
    return out + "]";
}

std::string numberText(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", value);
    return buffer;
}

bool anyGlob(const std::vector<std::string>& globs, std::string_view text) {
    return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return globMatch(g, text); });
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

// Minutes since the Unix epoch in the window's offset, and the window test itself.
bool insideWindow(const TimeWindow& window, std::chrono::system_clock::time_point now) {
    const auto minutes = std::chrono::floor<std::chrono::minutes>(now.time_since_epoch()).count() +
                         window.utcOffsetMinutes;
    const auto days = minutes >= 0 ? minutes / 1440 : (minutes - 1439) / 1440;
    const int minuteOfDay = static_cast<int>(minutes - days * 1440);
    const int weekday = static_cast<int>(((days % 7) + 7 + 3) % 7);  // 1970-01-01 was a Thursday; Monday = 0
    const int yesterday = (weekday + 6) % 7;
    auto dayOn = [&](int d) { return (window.days & (1u << d)) != 0; };
    if (window.fromMinute < window.toMinute) {
        return dayOn(weekday) && minuteOfDay >= window.fromMinute && minuteOfDay < window.toMinute;
    }
    // Past midnight: the part after `from` belongs to today, the part before `to` to the
    // day the window started.
    return (dayOn(weekday) && minuteOfDay >= window.fromMinute) || (dayOn(yesterday) && minuteOfDay < window.toMinute);
}

// Seconds until a caller at `limit` requests per minute may send again: enough of the
// oldest requests must leave the 60-second window that one more fits under the limit.
std::int64_t rateRetryAfter(const Usage& usage, std::int64_t limit) {
    // The request being decided is not admitted when it is refused.
    std::int64_t inWindow = usage.requestsLastMinute - 1;
    std::int64_t mustLeave = inWindow - limit + 1;
    for (std::size_t i = 0; i < usage.requestsPerSecond.size() && mustLeave > 0; ++i) {
        std::int64_t count = usage.requestsPerSecond[i];
        if (i + 1 == usage.requestsPerSecond.size()) --count;
        mustLeave -= count;
        if (mustLeave <= 0) return static_cast<std::int64_t>(i) + 1;
    }
    return 60;
}

class Evaluation {
public:
    Evaluation(const Policy& policy, const EvaluationInput& input) : policy_(policy), input_(input) {}

    // Fills `hits_` with, per text condition, the message it matched (kNoHit otherwise).
    bool scanText() {
        if (scanned_) return scanOk_;
        scanned_ = true;
        hits_.assign(policy_.textConditions.size(), kNoHit);
        ends_.assign(policy_.textConditions.size(), 0);
        if (input_.facts == nullptr) return true;
        const auto& messages = input_.facts->messages;
        for (std::size_t m = 0; m < messages.size(); ++m) {
            const auto& role = messages[m].role;
            scanOk_ = scanOk_ && policy_.patterns.scan(messages[m].text, [&](std::size_t index, std::size_t end) {
                const auto& condition = policy_.textConditions[index];
                if (hits_[index] != kNoHit) return;
                if (!condition.roles.empty() && !contains(condition.roles, role)) return;
                hits_[index] = m;
                ends_[index] = end;
            });
        }
        return scanOk_;
    }

    // True when the rule applies; with `trace`, every check is recorded (no short cut).
    bool ruleMatches(const Rule& rule, RuleTrace* trace) {
        bool all = true;
        auto check = [&](bool holds, auto&& describe) {
            if (trace != nullptr) trace->checks.push_back({holds, describe()});
            all = all && holds;
            return all || trace != nullptr;
        };
        const auth::Identity* id = input_.identity;
        const auto* facts = input_.facts;
        static const std::vector<std::string> kNone;
        const auto& roles = id != nullptr ? id->roles : kNone;
        const auto& groups = id != nullptr ? id->groups : kNone;
        const std::string_view subject = id != nullptr ? std::string_view(id->subject) : std::string_view("anonymous");
        const std::string_view model = facts != nullptr ? std::string_view(facts->model) : std::string_view();

        if (!rule.roles.empty()) {
            const bool holds = std::any_of(roles.begin(), roles.end(), [&](const auto& r) { return contains(rule.roles, r); });
            if (!check(holds, [&] { return "roles " + listText(rule.roles) + ": caller has " + listText(roles); })) return false;
        }
        if (!rule.groups.empty()) {
            const bool holds = std::any_of(groups.begin(), groups.end(), [&](const auto& g) { return contains(rule.groups, g); });
            if (!check(holds, [&] { return "groups " + listText(rule.groups) + ": caller is in " + listText(groups); })) return false;
        }
        if (!rule.subjects.empty()) {
            if (!check(anyGlob(rule.subjects, subject),
                       [&] { return "subjects " + listText(rule.subjects) + ": caller is " + inQuotes(subject); })) {
                return false;
            }
        }
        if (!rule.issuers.empty()) {
            const bool token = id != nullptr && id->method == auth::Identity::Method::OidcToken;
            if (!check(token && anyGlob(rule.issuers, id->issuer), [&] {
                    return "issuers " + listText(rule.issuers) + ": " +
                           (token ? "token from " + inQuotes(id->issuer) : std::string("caller has no token"));
                })) {
                return false;
            }
        }
        if (!rule.connections.empty()) {
            if (!check(anyGlob(rule.connections, input_.connection), [&] {
                    return "connections " + listText(rule.connections) + ": request is for " + inQuotes(input_.connection);
                })) {
                return false;
            }
        }
        if (!rule.models.empty()) {
            if (!check(!model.empty() && anyGlob(rule.models, model), [&] {
                    return "models " + listText(rule.models) + ": request is for " +
                           (model.empty() ? std::string("no model") : inQuotes(model));
                })) {
                return false;
            }
        }
        if (!rule.paths.empty()) {
            if (!check(anyGlob(rule.paths, input_.path),
                       [&] { return "paths " + listText(rule.paths) + ": path is " + inQuotes(input_.path); })) {
                return false;
            }
        }
        if (rule.promptTokensOver) {
            const auto tokens = facts != nullptr ? facts->estimatedPromptTokens : 0;
            if (!check(tokens > *rule.promptTokensOver, [&] {
                    return "prompt_tokens_over " + std::to_string(*rule.promptTokensOver) + ": estimate is " +
                           std::to_string(tokens);
                })) {
                return false;
            }
        }
        if (rule.maxTokensOver) {
            const auto requested = facts != nullptr ? facts->maxTokens : std::nullopt;
            if (!check(requested && *requested > *rule.maxTokensOver, [&] {
                    return "max_tokens_over " + std::to_string(*rule.maxTokensOver) + ": request asks for " +
                           (requested ? std::to_string(*requested) : std::string("no limit (max_tokens absent)"));
                })) {
                return false;
            }
        }
        if (rule.costOver) {
            const double cost = facts != nullptr ? facts->estimatedCost : 0.0;
            if (!check(cost > *rule.costOver, [&] {
                    return "cost_over " + numberText(*rule.costOver) + ": estimate is " + numberText(cost);
                })) {
                return false;
            }
        }
        if (!rule.tools.empty()) {
            std::string found;
            if (facts != nullptr) {
                for (const auto& tool : facts->tools) {
                    if (anyGlob(rule.tools, tool)) {
                        found = tool;
                        break;
                    }
                }
            }
            if (!check(!found.empty(), [&] {
                    return "tools " + listText(rule.tools) + ": " +
                           (found.empty() ? "request offers " + listText(facts != nullptr ? facts->tools : kNone)
                                          : "request offers " + inQuotes(found));
                })) {
                return false;
            }
        }
        if (rule.time) {
            const bool inside = insideWindow(*rule.time, input_.now);
            if (!check(inside != rule.time->outside, [&] {
                    return std::string(rule.time->outside ? "outside " : "within ") + rule.time->text + ": now is " +
                           (inside ? "inside" : "outside") + " the window";
                })) {
                return false;
            }
        }
        if (rule.requestsPerMinuteOver) {
            if (!check(input_.usage.requestsLastMinute > *rule.requestsPerMinuteOver, [&] {
                    return "requests_per_minute_over " + std::to_string(*rule.requestsPerMinuteOver) +
                           ": this is request " + std::to_string(input_.usage.requestsLastMinute) + " in the last minute";
                })) {
                return false;
            }
        }
        if (rule.tokensPerDayOver) {
            if (!check(input_.usage.tokensToday > *rule.tokensPerDayOver, [&] {
                    return "tokens_per_day_over " + std::to_string(*rule.tokensPerDayOver) + ": " +
                           std::to_string(input_.usage.tokensToday) + " tokens today with this request";
                })) {
                return false;
            }
        }
        for (const auto* group : {&rule.regexConditions, &rule.keywordConditions}) {
            if (group->empty()) continue;
            if (!scanText()) {
                scanFailed_ = true;
                return false;
            }
            const bool any = std::any_of(group->begin(), group->end(), [&](std::size_t i) { return hits_[i] != kNoHit; });
            if (!check(any, [&] { return describeText(*group); })) return false;
        }
        return all;
    }

    bool scanFailed() const { return scanFailed_; }

    // Where text condition `index` matched (message, end offset), if it did.
    std::optional<std::pair<std::size_t, std::size_t>> hit(std::size_t index) const {
        if (!scanned_ || index >= hits_.size() || hits_[index] == kNoHit) return std::nullopt;
        return std::make_pair(hits_[index], ends_[index]);
    }

    // True when [begin, end) is empty or one of its text conditions matched.
    bool anyHit(std::uint32_t begin, std::uint32_t end) const {
        if (begin == end) return true;
        for (auto i = begin; i < end; ++i) {
            if (hits_[i] != kNoHit) return true;
        }
        return false;
    }

private:
    std::string describeText(const std::vector<std::size_t>& group) const {
        std::string out;
        for (const auto index : group) {
            const auto& condition = policy_.textConditions[index];
            if (!out.empty()) out += "; ";
            out += condition.kind == TextCondition::Kind::Regex ? "regex " : "keywords ";
            out += condition.text;
            out += condition.roles.empty() ? " in any message" : " in " + listText(condition.roles) + " messages";
            const auto hit = hits_[index];
            if (hit == kNoHit) {
                out += ": no match";
                continue;
            }
            const auto& message = input_.facts->messages[hit];
            const auto end = ends_[index];
            const auto from = end > 40 ? end - 40 : 0;
            std::string excerpt = message.text.substr(from, end - from);
            for (auto& c : excerpt) {
                if (c == '\n' || c == '\r' || c == '\t') c = ' ';
            }
            out += ": matched messages[" + std::to_string(hit) + "] (" + message.role + "), ending '" +
                   (from > 0 ? "..." : "") + excerpt + "'";
        }
        return out;
    }

    const Policy& policy_;
    const EvaluationInput& input_;
    bool scanned_ = false;
    bool scanOk_ = true;
    bool scanFailed_ = false;
    std::vector<std::size_t> hits_;
    std::vector<std::size_t> ends_;
};

}  // namespace

std::string_view actionName(Action action) {
    switch (action) {
    case Action::Allow: return "allow";
    case Action::Review: return "review";
    case Action::Deny: return "deny";
    }
    return "deny";
}

std::string_view reviewModeName(ReviewSpec::Mode mode) {
    return mode == ReviewSpec::Mode::Ticket ? "ticket" : "hold";
}

bool globMatch(std::string_view pattern, std::string_view text) {
    // Iterative matching with one backtrack point: linear for patterns with one '*',
    // O(n*m) at worst, with short patterns and names here.
    std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

std::uint64_t NameBits::of(std::string_view name) const {
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == name) return std::uint64_t{1} << i;
    }
    return std::uint64_t{1} << 63;  // a name past the 63rd, or one no rule names
}

void buildPrefilters(Policy& policy) {
    auto bitsOf = [](NameBits& bits, const std::vector<std::string>& names) {
        std::uint64_t mask = 0;
        for (const auto& n : names) {
            auto it = std::find(bits.names.begin(), bits.names.end(), n);
            if (it == bits.names.end() && bits.names.size() < 63) it = bits.names.insert(bits.names.end(), n);
            mask |= it == bits.names.end() ? std::uint64_t{1} << 63
                                           : std::uint64_t{1} << (it - bits.names.begin());
        }
        return mask;
    };
    auto range = [](const std::vector<std::size_t>& ids, std::uint32_t& begin, std::uint32_t& end) {
        if (ids.empty()) return;
        begin = static_cast<std::uint32_t>(ids.front());
        end = static_cast<std::uint32_t>(ids.back() + 1);
        // The loader adds a rule's conditions one after another; the ranges rely on it.
        if (end - begin != ids.size()) begin = 0, end = 0;
    };
    policy.prefilters.clear();
    for (const auto& rule : policy.rules) {
        RulePrefilter p;
        p.roles = bitsOf(policy.roleBits, rule.roles);
        p.groups = bitsOf(policy.groupBits, rule.groups);
        range(rule.regexConditions, p.regexBegin, p.regexEnd);
        range(rule.keywordConditions, p.keywordBegin, p.keywordEnd);
        policy.prefilters.push_back(p);
    }
}

Decision evaluate(const Policy& policy, const EvaluationInput& input, Trace* trace) {
    Decision decision;
    decision.policyVersion = policy.version;
    Evaluation evaluation(policy, input);
    if (trace != nullptr) trace->rules.assign(policy.rules.size(), RuleTrace{});

    const Rule* firstOfAction[3] = {nullptr, nullptr, nullptr};
    std::optional<Action> strongest;
    const Rule* maskingRule = nullptr;
    std::vector<const Rule*> matched;
    std::uint64_t callerRoles = 0, callerGroups = 0;
    if (input.identity != nullptr) {
        for (const auto& r : input.identity->roles) callerRoles |= policy.roleBits.of(r);
        for (const auto& g : input.identity->groups) callerGroups |= policy.groupBits.of(g);
    }
    const bool prefilter = trace == nullptr && policy.prefilters.size() == policy.rules.size();
    for (std::size_t i = 0; i < policy.rules.size(); ++i) {
        if (prefilter) {
            // Rejects without the full check; what passes is checked in full below.
            const auto& p = policy.prefilters[i];
            if ((p.roles != 0 && (p.roles & callerRoles) == 0) || (p.groups != 0 && (p.groups & callerGroups) == 0)) {
                continue;
            }
            if (p.regexEnd != p.regexBegin || p.keywordEnd != p.keywordBegin) {
                if (!evaluation.scanText()) {
                    decision.action = Action::Deny;
                    decision.code = DetailsCode::InternalError;
                    decision.message = "the policy could not be evaluated (pattern engine failure)";
                    return decision;
                }
                if (!evaluation.anyHit(p.regexBegin, p.regexEnd) || !evaluation.anyHit(p.keywordBegin, p.keywordEnd)) {
                    continue;
                }
            }
        }
        const auto& rule = policy.rules[i];
        RuleTrace* ruleTrace = trace != nullptr ? &trace->rules[i] : nullptr;
        const bool matches = evaluation.ruleMatches(rule, ruleTrace);
        if (evaluation.scanFailed()) {
            // Fail closed: a rule whose text cannot be checked might have denied.
            decision.action = Action::Deny;
            decision.code = DetailsCode::InternalError;
            decision.message = "the policy could not be evaluated (pattern engine failure)";
            return decision;
        }
        if (ruleTrace != nullptr) ruleTrace->matched = matches;
        if (!matches) continue;
        matched.push_back(&rule);
        if (rule.action) {
            const auto a = static_cast<std::size_t>(*rule.action);
            if (firstOfAction[a] == nullptr) firstOfAction[a] = &rule;
            if (!strongest || *rule.action > *strongest) strongest = *rule.action;
        }
        if (maskingRule == nullptr && !rule.masking.empty()) maskingRule = &rule;
        decision.outputReview = decision.outputReview || rule.outputReview;
    }
    decision.masking = maskingRule != nullptr ? maskingRule->masking : policy.defaultMasking;
    if (!decision.masking.empty()) {
        if (const auto it = policy.maskingProfiles.find(decision.masking); it != policy.maskingProfiles.end()) {
            decision.maskProfile = it->second;
        }
    }

    if (!strongest) {
        decision.byDefault = true;
        decision.action = policy.defaultAction;
        if (decision.action == Action::Deny) {
            decision.code = DetailsCode::PolicyDenied;
            decision.message = "no policy rule allows this request";
        }
        return decision;
    }
    decision.action = *strongest;
    for (const auto* rule : matched) {
        if (rule->action != strongest) continue;
        decision.rules.push_back(rule->id);
        if (*strongest == Action::Allow) continue;
        for (const auto* group : {&rule->regexConditions, &rule->keywordConditions}) {
            for (const auto index : *group) {
                const auto where = evaluation.hit(index);
                if (!where) continue;
                const auto& c = policy.textConditions[index];
                decision.matches.push_back({rule->id, c.kind == TextCondition::Kind::Regex, c.text, c.expression, c.caseless,
                                            where->first, where->second});
            }
        }
    }
    const Rule& first = *firstOfAction[static_cast<std::size_t>(*strongest)];
    switch (*strongest) {
    case Action::Allow:
        break;
    case Action::Review: {
        decision.code = DetailsCode::ReviewRequired;
        // Every deciding rule's requirement holds, not only the first's: a requester who adds
        // a laxer rule's keyword to the prompt must not pick the approvers or the quorum.
        ReviewSpec merged;
        bool any = false;
        for (const auto* rule : matched) {
            if (rule->action != Action::Review || !rule->review) continue;
            const auto& spec = *rule->review;
            if (!any) {
                merged = spec;
                merged.approverRoles.clear();
                any = true;
            }
            for (const auto& role : spec.approverRoles) {
                if (std::find(merged.approverRoles.begin(), merged.approverRoles.end(), role) == merged.approverRoles.end()) {
                    merged.approverRoles.push_back(role);
                }
            }
            merged.quorum = std::max(merged.quorum, spec.quorum);
            merged.timeout = std::min(merged.timeout, spec.timeout);
            if (spec.mode == ReviewSpec::Mode::Hold) merged.mode = ReviewSpec::Mode::Hold;
            merged.requirements.push_back({rule->id, spec.approverRoles, spec.quorum});
        }
        if (any) decision.review = std::move(merged);
        decision.message = "this request needs a review under policy rule '" + first.id + "'";
        if (!first.message.empty()) decision.message = first.message + " (" + decision.message + ")";
        break;
    }
    case Action::Deny: {
        // The answer names the most lasting reason: a plain deny (retrying does not help),
        // then a spent budget (until the day ends), then a rate limit (seconds); the first
        // such rule in file order gives the message.
        auto kind = [](const Rule& r) { return r.requestsPerMinuteOver ? 2 : r.tokensPerDayOver ? 1 : 0; };
        const Rule* answer = nullptr;
        for (const auto* rule : matched) {
            if (rule->action == Action::Deny && (answer == nullptr || kind(*rule) < kind(*answer))) answer = rule;
        }
        decision.message = answer->message;
        switch (kind(*answer)) {
        case 2:
            decision.code = DetailsCode::RateLimited;
            decision.retryAfterSeconds = rateRetryAfter(input.usage, *answer->requestsPerMinuteOver);
            break;
        case 1:
            decision.code = DetailsCode::BudgetExhausted;
            decision.retryAfterSeconds = std::max<std::int64_t>(1, input.usage.secondsToDayEnd);
            break;
        default:
            decision.code = DetailsCode::PolicyDenied;
            break;
        }
        // The rule that gave the answer comes first among the deciding rules.
        std::stable_partition(decision.rules.begin(), decision.rules.end(),
                              [&](const std::string& id) { return id == answer->id; });
        break;
    }
    }
    return decision;
}

}  // namespace vigil::policy

#include "app/policy_command.h"

#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "auth/identity.h"
#include "config/gateway_config.h"
#include "inspect/request_facts.h"
#include "policy/policy_loader.h"

namespace vigil::app {
namespace {

using json = nlohmann::json;

constexpr const char* kUsage =
    "usage: vigil-gateway policy check FILE\n"
    "       vigil-gateway policy explain --policy FILE --identity ID.json --request REQ.json\n"
    "                                    [--connection NAME] [--path PATH] [--config FILE]\n"
    "                                    [--time YYYY-MM-DDTHH:MM:SSZ] [--requests-last-minute N]\n"
    "                                    [--tokens-today N] [--json]\n"
    "  check    prints every error with its line and column; exit 0 when the policy is valid.\n"
    "  explain  prints the request facts, each rule with matched / not matched and why, and\n"
    "           the decision. ID.json: {\"subject\": ..., \"groups\": [...], \"roles\": [...]},\n"
    "           with \"issuer\" for a token's issuer or \"method\": \"api_key\".\n"
    "           REQ.json: the request body as the client sends it (to PATH, by default\n"
    "           /v1/chat/completions). --config reads the price table for cost estimates;\n"
    "           --requests-last-minute and --tokens-today set the caller's usage before this\n"
    "           request (both 0 by default).\n";

int usageError(const std::string& message) {
    std::fprintf(stderr, "vigil-gateway policy: %s\n%s", message.c_str(), kUsage);
    return 2;
}

std::optional<std::string> readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

int check(const std::vector<std::string>& args) {
    if (args.size() != 1) return usageError("check takes one FILE");
    const std::filesystem::path file = args[0];
    const auto result = policy::loadPolicyFile(file);
    if (!result.policy) {
        for (const auto& issue : result.issues) std::printf("%s\n", policy::formatIssue(file, issue).c_str());
        std::printf("%s: %zu error%s\n", file.string().c_str(), result.issues.size(),
                    result.issues.size() == 1 ? "" : "s");
        return 1;
    }
    const auto& p = *result.policy;
    std::printf("%s: ok: %zu rule%s, %zu pattern%s, default %s, version %s\n", file.string().c_str(), p.rules.size(),
                p.rules.size() == 1 ? "" : "s", p.textConditions.size(), p.textConditions.size() == 1 ? "" : "s",
                std::string(policy::actionName(p.defaultAction)).c_str(), p.version.c_str());
    return 0;
}

std::optional<std::chrono::system_clock::time_point> parseTime(const std::string& text) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr || std::string_view(end) != "Z") return std::nullopt;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

const char* apiName(inspect::RequestFacts::Api api) {
    switch (api) {
    case inspect::RequestFacts::Api::ChatCompletions: return "chat completions";
    case inspect::RequestFacts::Api::Completions: return "completions";
    case inspect::RequestFacts::Api::Embeddings: return "embeddings";
    case inspect::RequestFacts::Api::Responses: return "responses";
    case inspect::RequestFacts::Api::Other: return "other";
    }
    return "other";
}

json decisionJson(const policy::Decision& d) {
    json out = {{"action", policy::actionName(d.action)},
                {"rules", d.rules},
                {"by_default", d.byDefault},
                {"policy_version", d.policyVersion},
                {"output_review", d.outputReview}};
    if (d.action != policy::Action::Allow) {
        out["code"] = detailsCodeName(d.code);
        out["http_status"] = detailsCodeInfo(d.code).httpStatus;
        out["message"] = d.message;
    }
    if (!d.masking.empty()) out["masking"] = d.masking;
    if (d.retryAfterSeconds > 0) out["retry_after_seconds"] = d.retryAfterSeconds;
    if (d.review) {
        out["review"] = {{"approver_roles", d.review->approverRoles},
                         {"quorum", d.review->quorum},
                         {"mode", policy::reviewModeName(d.review->mode)},
                         {"timeout_seconds", d.review->timeout.count()}};
        auto requirements = json::array();
        for (const auto& req : d.review->requirements) {
            requirements.push_back({{"rule", req.rule}, {"approver_roles", req.approverRoles}, {"quorum", req.quorum}});
        }
        out["review"]["requirements"] = std::move(requirements);
    }
    return out;
}

int explain(const std::vector<std::string>& args) {
    std::string policyFile, identityFile, requestFile, connection = "default", path = "/v1/chat/completions",
                                                       configFile, timeText;
    std::int64_t requestsBefore = 0, tokensBefore = 0;
    bool asJson = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        auto value = [&](std::string& out) {
            if (i + 1 >= args.size()) return false;
            out = args[++i];
            return true;
        };
        auto number = [&](std::int64_t& out) {
            std::string text;
            if (!value(text)) return false;
            try {
                std::size_t used = 0;
                out = std::stoll(text, &used);
                return used == text.size() && out >= 0;
            } catch (const std::exception&) {
                return false;
            }
        };
        bool ok = true;
        if (a == "--policy") ok = value(policyFile);
        else if (a == "--identity") ok = value(identityFile);
        else if (a == "--request") ok = value(requestFile);
        else if (a == "--connection") ok = value(connection);
        else if (a == "--path") ok = value(path);
        else if (a == "--config") ok = value(configFile);
        else if (a == "--time") ok = value(timeText);
        else if (a == "--requests-last-minute") ok = number(requestsBefore);
        else if (a == "--tokens-today") ok = number(tokensBefore);
        else if (a == "--json") asJson = true;
        else return usageError("unknown argument '" + a + "'");
        if (!ok) return usageError(a + " needs a value" + (a.find("today") != std::string::npos || a.find("minute") != std::string::npos ? " (a whole number >= 0)" : ""));
    }
    if (policyFile.empty() || identityFile.empty() || requestFile.empty()) {
        return usageError("explain needs --policy, --identity and --request");
    }

    const auto loaded = policy::loadPolicyFile(policyFile);
    if (!loaded.policy) {
        for (const auto& issue : loaded.issues) std::fprintf(stderr, "%s\n", policy::formatIssue(policyFile, issue).c_str());
        return 1;
    }

    auth::Identity identity;
    {
        const auto text = readFile(identityFile);
        if (!text) return usageError("cannot read " + identityFile);
        try {
            const auto j = json::parse(*text, nullptr, true, true);
            identity.subject = j.at("subject").get<std::string>();
            if (j.contains("groups")) identity.groups = j.at("groups").get<std::vector<std::string>>();
            if (j.contains("roles")) identity.roles = j.at("roles").get<std::vector<std::string>>();
            const auto method = j.value("method", std::string("oidc"));
            identity.method = method == "api_key" ? auth::Identity::Method::ApiKey : auth::Identity::Method::OidcToken;
            if (j.contains("issuer")) identity.issuer = j.at("issuer").get<std::string>();
        } catch (const json::exception& e) {
            return usageError(identityFile + ": expected {\"subject\": \"...\", \"groups\": [...], \"roles\": [...]}: " +
                              e.what());
        }
    }
    const auto body = readFile(requestFile);
    if (!body) return usageError("cannot read " + requestFile);
    std::vector<config::ModelPrice> prices;
    if (!configFile.empty()) {
        try {
            prices = config::loadModelPrices(configFile);
        } catch (const config::ConfigError& e) {
            return usageError(e.what());
        }
    }
    auto now = std::chrono::system_clock::now();
    if (!timeText.empty()) {
        auto t = parseTime(timeText);
        if (!t) return usageError("--time must look like 2026-11-22T14:30:00Z");
        now = *t;
    }

    inspect::RequestFacts facts;
    if (auto error = inspect::inspectRequest("POST", path, *body, prices, facts)) {
        std::printf("the gateway answers %d %s before the policy: %s\n", detailsCodeInfo(error->code).httpStatus,
                    std::string(detailsCodeName(error->code)).c_str(), error->message.c_str());
        return 1;
    }

    policy::EvaluationInput input;
    input.identity = &identity;
    input.connection = connection;
    input.path = path;
    input.facts = &facts;
    input.now = now;
    // As the usage tracker reports it: earlier requests spread over the last minute, and
    // this one in the current second.
    input.usage.requestsLastMinute = requestsBefore + 1;
    input.usage.requestsPerSecond[0] = static_cast<std::uint32_t>(requestsBefore);
    input.usage.requestsPerSecond[59] += 1;
    input.usage.tokensToday = tokensBefore + facts.estimatedPromptTokens;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    input.usage.secondsToDayEnd = 86400 - seconds % 86400;

    policy::Trace trace;
    const auto decision = policy::evaluate(*loaded.policy, input, &trace);
    const auto& rules = loaded.policy->rules;

    if (asJson) {
        json out;
        json messages = json::array();
        for (const auto& m : facts.messages) messages.push_back({{"role", m.role}, {"text", m.text}});
        out["facts"] = {{"api", apiName(facts.api)},
                        {"model", facts.model},
                        {"messages", messages},
                        {"tools", facts.tools},
                        {"stream", facts.stream},
                        {"estimated_prompt_tokens", facts.estimatedPromptTokens},
                        {"estimated_cost", facts.estimatedCost}};
        if (facts.maxTokens) out["facts"]["max_tokens"] = *facts.maxTokens;
        json ruleList = json::array();
        for (std::size_t i = 0; i < rules.size(); ++i) {
            json checks = json::array();
            for (const auto& c : trace.rules[i].checks) checks.push_back({{"holds", c.holds}, {"what", c.what}});
            ruleList.push_back({{"id", rules[i].id}, {"line", rules[i].line}, {"matched", trace.rules[i].matched}, {"checks", checks}});
        }
        out["rules"] = ruleList;
        out["decision"] = decisionJson(decision);
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }

    std::printf("Facts\n");
    std::printf("  caller      %s%s%s  roles [", identity.subject.c_str(), identity.issuer.empty() ? "" : " from ",
                identity.issuer.c_str());
    for (std::size_t i = 0; i < identity.roles.size(); ++i) std::printf("%s%s", i ? ", " : "", identity.roles[i].c_str());
    std::printf("]  groups [");
    for (std::size_t i = 0; i < identity.groups.size(); ++i) std::printf("%s%s", i ? ", " : "", identity.groups[i].c_str());
    std::printf("]\n  connection  %s\n  path        %s (%s)\n", connection.c_str(), path.c_str(), apiName(facts.api));
    std::printf("  model       %s\n", facts.model.empty() ? "-" : facts.model.c_str());
    for (std::size_t i = 0; i < facts.messages.size(); ++i) {
        auto text = facts.messages[i].text;
        for (auto& c : text) {
            if (c == '\n' || c == '\r' || c == '\t') c = ' ';
        }
        if (text.size() > 72) text = text.substr(0, 69) + "...";
        std::printf("  messages[%zu] %s: %s\n", i, facts.messages[i].role.c_str(), text.c_str());
    }
    std::printf("  tools       [");
    for (std::size_t i = 0; i < facts.tools.size(); ++i) std::printf("%s%s", i ? ", " : "", facts.tools[i].c_str());
    std::printf("]\n  stream      %s\n  max tokens  %s\n", facts.stream ? "yes" : "no",
                facts.maxTokens ? std::to_string(*facts.maxTokens).c_str() : "-");
    std::printf("  prompt      ~%lld tokens, estimated cost %.6g\n", static_cast<long long>(facts.estimatedPromptTokens),
                facts.estimatedCost);
    std::printf("  usage       %lld requests in the last minute and %lld tokens today, with this one\n",
                static_cast<long long>(input.usage.requestsLastMinute), static_cast<long long>(input.usage.tokensToday));

    std::printf("\nRules (%s)\n", loaded.policy->version.c_str());
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const auto& r = rules[i];
        std::string effect = r.action ? std::string(policy::actionName(*r.action)) : std::string("(no action)");
        if (!r.masking.empty()) effect += ", masking " + r.masking;
        if (r.outputReview) effect += ", output review";
        std::printf("  %-9s %s (line %d) -> %s\n", trace.rules[i].matched ? "MATCHED" : "no match", r.id.c_str(), r.line,
                    effect.c_str());
        for (const auto& c : trace.rules[i].checks) std::printf("      %s %s\n", c.holds ? "yes" : "no ", c.what.c_str());
        if (trace.rules[i].checks.empty()) std::printf("      yes (no selectors or conditions: applies to every request)\n");
    }

    std::printf("\nDecision\n  %s", std::string(policy::actionName(decision.action)).c_str());
    if (decision.byDefault) {
        std::printf(" (by default: no rule with an action matched)");
    } else {
        std::printf(" by ");
        for (std::size_t i = 0; i < decision.rules.size(); ++i) std::printf("%s%s", i ? ", " : "", decision.rules[i].c_str());
    }
    std::printf("\n");
    if (decision.action != policy::Action::Allow) {
        std::printf("  answer      %d %s: %s\n", detailsCodeInfo(decision.code).httpStatus,
                    std::string(detailsCodeName(decision.code)).c_str(), decision.message.c_str());
    }
    if (decision.retryAfterSeconds > 0) std::printf("  retry after %lld s\n", static_cast<long long>(decision.retryAfterSeconds));
    if (decision.review) {
        std::printf("  review      approvers [");
        for (std::size_t i = 0; i < decision.review->approverRoles.size(); ++i) {
            std::printf("%s%s", i ? ", " : "", decision.review->approverRoles[i].c_str());
        }
        std::printf("], quorum %d, %s mode, timeout %llds\n", decision.review->quorum,
                    std::string(policy::reviewModeName(decision.review->mode)).c_str(),
                    static_cast<long long>(decision.review->timeout.count()));
        if (decision.review->requirements.size() > 1) {
            for (const auto& req : decision.review->requirements) {
                std::printf("              rule %s: %d from [", req.rule.c_str(), req.quorum);
                for (std::size_t i = 0; i < req.approverRoles.size(); ++i) std::printf("%s%s", i ? ", " : "", req.approverRoles[i].c_str());
                std::printf("]\n");
            }
        }
    }
    std::printf("  masking     %s\n  output review %s\n  policy      %s\n",
                decision.masking.empty() ? "none" : decision.masking.c_str(), decision.outputReview ? "yes" : "no",
                decision.policyVersion.c_str());
    return 0;
}

}  // namespace

int runPolicyCommand(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::fputs(kUsage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (args[0] == "check") return check(rest);
    if (args[0] == "explain") return explain(rest);
    return usageError("unknown subcommand '" + args[0] + "'");
}

}  // namespace vigil::app

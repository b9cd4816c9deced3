#include "policy/policy_loader.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "config/gateway_config.h"
#include "crypto/digest.h"
#include "mask/profile.h"

namespace vigil::policy {
namespace {

using json = nlohmann::json;
using config::LocatedJson;

constexpr std::string_view kMessageRoles[] = {"system", "developer", "user",   "assistant",
                                              "tool",   "function",  "prompt", "input"};
constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

std::size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const auto above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string joinNames(std::initializer_list<std::string_view> names) {
    std::string out;
    for (const auto n : names) {
        if (!out.empty()) out += ", ";
        out += n;
    }
    return out;
}

// A JSON value together with where it is (pointer, for positions) and how the messages
// name it (path, "rules[2].if.regex").
struct Node {
    const json& value;
    std::string pointer;
    std::string path;

    Node member(std::string_view key) const {
        return Node{value.at(std::string(key)), config::childPointer(pointer, key),
                    path.empty() ? std::string(key) : path + "." + std::string(key)};
    }
    Node element(std::size_t i) const {
        return Node{value.at(i), config::childPointer(pointer, i), path + "[" + std::to_string(i) + "]"};
    }
};

class Loader {
public:
    Loader(const LocatedJson& doc, std::vector<PolicyIssue>& issues) : doc_(doc), issues_(issues) {}

    void error(const Node& node, const std::string& what) {
        issues_.push_back({doc_.valueAt(node.pointer), (node.path.empty() ? "(top level)" : node.path) + ": " + what});
    }
    void errorAtKey(const Node& node, const std::string& what) {
        issues_.push_back({doc_.keyAt(node.pointer), node.path + ": " + what});
    }

    // Reports keys outside `known`, suggesting the closest known one.
    void checkKeys(const Node& object, std::initializer_list<std::string_view> known) {
        for (const auto& [key, ignored] : object.value.items()) {
            if (std::find(known.begin(), known.end(), key) != known.end()) continue;
            std::string_view best;
            std::size_t bestDistance = 3;
            for (const auto k : known) {
                const auto d = editDistance(key, k);
                if (d < bestDistance) {
                    bestDistance = d;
                    best = k;
                }
            }
            std::string message = "unknown key";
            message += best.empty() ? " (expected one of: " + joinNames(known) + ")"
                                    : ": did you mean \"" + std::string(best) + "\"?";
            errorAtKey(object.member(key), message);
        }
    }

    bool isObject(const Node& node) {
        if (node.value.is_object()) return true;
        error(node, "must be an object");
        return false;
    }

    std::optional<std::string> string(const Node& node, bool allowEmpty = false) {
        if (!node.value.is_string()) {
            error(node, "must be a string");
            return std::nullopt;
        }
        auto s = node.value.get<std::string>();
        if (!allowEmpty && s.empty()) {
            error(node, "must not be empty");
            return std::nullopt;
        }
        return s;
    }

    std::vector<std::string> stringList(const Node& node, const char* example) {
        std::vector<std::string> out;
        if (!node.value.is_array()) {
            error(node, std::string("must be an array of strings, e.g. ") + example);
            return out;
        }
        if (node.value.empty()) error(node, "must not be empty (leave the key out instead)");
        for (std::size_t i = 0; i < node.value.size(); ++i) {
            if (auto s = string(node.element(i))) out.push_back(std::move(*s));
        }
        return out;
    }

    std::optional<std::int64_t> integer(const Node& node, std::int64_t min, std::int64_t max) {
        if (!node.value.is_number_integer()) {
            error(node, "must be an integer");
            return std::nullopt;
        }
        const auto n = node.value.get<std::int64_t>();
        if (n < min || n > max) {
            error(node, "must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " +
                            std::to_string(n) + ")");
            return std::nullopt;
        }
        return n;
    }

    std::optional<bool> boolean(const Node& node) {
        if (!node.value.is_boolean()) {
            error(node, "must be true or false");
            return std::nullopt;
        }
        return node.value.get<bool>();
    }

    std::shared_ptr<Policy> load() {
        auto policy = std::make_shared<Policy>();
        const Node root{doc_.value, "", ""};
        if (!isObject(root)) return policy;
        checkKeys(root, {"description", "default_action", "default_masking", "masking_profiles", "rules"});
        if (root.value.contains("description")) string(root.member("description"), true);
        if (root.value.contains("default_action")) {
            const auto node = root.member("default_action");
            if (auto s = string(node)) {
                if (*s == "deny") policy->defaultAction = Action::Deny;
                else if (*s == "allow") policy->defaultAction = Action::Allow;
                else error(node, "must be \"deny\" or \"allow\" (got \"" + *s + "\")");
            }
        }
        loadMaskingProfiles(root, *policy);
        if (root.value.contains("default_masking")) {
            if (auto s = maskingName(root.member("default_masking"))) {
                checkProfileExists(root.member("default_masking"), *policy, *s);
                policy->defaultMasking = *s;
            }
        }
        if (!root.value.contains("rules")) {
            error(root, "\"rules\" is required: an array of rules");
            return policy;
        }
        const auto rules = root.member("rules");
        if (!rules.value.is_array()) {
            error(rules, "must be an array of rules");
            return policy;
        }
        std::set<std::string, std::less<>> ids;
        for (std::size_t i = 0; i < rules.value.size(); ++i) {
            Rule rule;
            const auto node = rules.element(i);
            if (!loadRule(node, *policy, policy->rules.size(), rule)) continue;
            if (!rule.id.empty() && !ids.insert(rule.id).second) {
                error(node.member("id"), "duplicate rule id \"" + rule.id + "\"");
            }
            policy->rules.push_back(std::move(rule));
        }
        compilePatterns(*policy);
        buildPrefilters(*policy);
        return policy;
    }

private:
    void checkProfileExists(const Node& node, const Policy& policy, const std::string& name) {
        if (policy.maskingProfiles.contains(name)) return;
        std::string known;
        for (const auto& [n, p] : policy.maskingProfiles) known += (known.empty() ? "" : ", ") + n;
        error(node, "unknown masking profile \"" + name + "\" (defined: " + known + ")");
    }

    static bool isEntityName(std::string_view s) {
        return !s.empty() && s.size() <= 64 && s[0] >= 'A' && s[0] <= 'Z' &&
               std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
    }

    std::optional<std::string> entityName(const Node& node) {
        auto s = string(node);
        if (s && !isEntityName(*s)) {
            error(node, "entity types use A-Z, 0-9 and '_' and start with a letter (e.g. \"PROJECT_CODE\")");
            return std::nullopt;
        }
        return s;
    }

    void loadMaskingProfiles(const Node& root, Policy& policy) {
        if (root.value.contains("masking_profiles")) {
            const auto profiles = root.member("masking_profiles");
            if (isObject(profiles)) {
                for (const auto& [name, ignored] : profiles.value.items()) {
                    const auto node = profiles.member(name);
                    if (!isMaskingName(name)) {
                        errorAtKey(node, "masking profile names use a-z, 0-9, '-' and '_' (at most 64 characters)");
                        continue;
                    }
                    // Registered even when it failed, so rules naming it get no second error.
                    policy.maskingProfiles[name] = loadProfile(node, name);
                }
            }
        }
        if (!policy.maskingProfiles.contains("standard")) {
            // Built in: every built-in detector, redacted, in responses.
            mask::ProfileSpec spec;
            spec.name = "standard";
            for (const auto& d : mask::builtinDetectors()) spec.entities.push_back(d.entity);
            std::string problem;
            policy.maskingProfiles["standard"] = mask::Profile::compile(std::move(spec), problem);
        }
    }

    std::optional<mask::OperatorSpec> loadOperator(const Node& node) {
        mask::OperatorSpec op;
        if (node.value.is_string()) {
            const auto s = node.value.get<std::string>();
            if (s == "redact") op.kind = mask::OperatorSpec::Kind::Redact;
            else if (s == "hash") op.kind = mask::OperatorSpec::Kind::Hash;
            else if (s == "keep_last") op.kind = mask::OperatorSpec::Kind::KeepLast;
            else {
                error(node, "must be \"redact\", \"hash\", \"keep_last\" or {\"keep_last\": N} (got \"" + s + "\")");
                return std::nullopt;
            }
            return op;
        }
        if (node.value.is_object() && node.value.size() == 1 && node.value.contains("keep_last")) {
            const auto n = integer(node.member("keep_last"), 1, 16);
            if (!n) return std::nullopt;
            op.kind = mask::OperatorSpec::Kind::KeepLast;
            op.keep = static_cast<int>(*n);
            return op;
        }
        error(node, "must be \"redact\", \"hash\", \"keep_last\" or {\"keep_last\": N}");
        return std::nullopt;
    }

    std::shared_ptr<const mask::Profile> loadProfile(const Node& node, const std::string& name) {
        if (!isObject(node)) return nullptr;
        checkKeys(node, {"description", "detectors", "custom", "operators", "json_paths", "csv_columns", "requests",
                         "responses"});
        const auto issuesBefore = issues_.size();
        mask::ProfileSpec spec;
        spec.name = name;
        if (node.value.contains("description")) string(node.member("description"), true);
        if (node.value.contains("detectors")) {
            const auto list = node.member("detectors");
            const auto names = stringList(list, "[\"credit_card\", \"email\", \"secrets\"]");
            for (std::size_t i = 0; i < names.size(); ++i) {
                const auto entities = mask::builtinEntitiesFor(names[i]);
                if (entities.empty()) {
                    std::string known;
                    for (const auto& n : mask::builtinProfileNames()) known += (known.empty() ? "" : ", ") + n;
                    error(list.element(i), "unknown detector \"" + names[i] + "\" (built in: " + known + ")");
                }
                for (const auto& e : entities) {
                    if (std::find(spec.entities.begin(), spec.entities.end(), e) == spec.entities.end()) spec.entities.push_back(e);
                }
            }
        } else {
            for (const auto& d : mask::builtinDetectors()) spec.entities.push_back(d.entity);
        }
        std::set<std::string, std::less<>> entities(spec.entities.begin(), spec.entities.end());
        if (node.value.contains("custom")) {
            const auto list = node.member("custom");
            if (!list.value.is_array()) {
                error(list, "must be an array of {\"entity\", \"regex\" or \"words\"}");
            } else {
                for (std::size_t i = 0; i < list.value.size(); ++i) {
                    const auto c = list.element(i);
                    if (!isObject(c)) continue;
                    checkKeys(c, {"entity", "regex", "words", "case_insensitive"});
                    mask::CustomDetectorSpec custom;
                    if (!c.value.contains("entity")) error(c, "\"entity\" is required: the type it reports, e.g. \"PROJECT_CODE\"");
                    else if (auto e = entityName(c.member("entity"))) custom.entity = *e;
                    const bool hasRegex = c.value.contains("regex"), hasWords = c.value.contains("words");
                    if (hasRegex == hasWords) {
                        error(c, "a custom detector has either \"regex\" or \"words\"");
                        continue;
                    }
                    if (c.value.contains("case_insensitive")) {
                        if (auto b = boolean(c.member("case_insensitive"))) custom.caseless = *b;
                    }
                    if (hasRegex) {
                        if (auto r = string(c.member("regex"))) {
                            std::string problem;
                            if (!mask::checkCustomRegex(*r, custom.caseless, problem)) error(c.member("regex"), problem);
                            custom.regex = *r;
                        }
                    } else {
                        custom.words = stringList(c.member("words"), "[\"bluebird\", \"nightjar\"]");
                    }
                    entities.insert(custom.entity);
                    spec.custom.push_back(std::move(custom));
                }
            }
        }
        if (node.value.contains("json_paths")) {
            const auto list = node.member("json_paths");
            if (!list.value.is_array()) {
                error(list, "must be an array of JSON paths, e.g. [\"$..ssn\", {\"path\": \"$.data[*].iban\", \"entity\": \"IBAN\"}]");
            } else {
                for (std::size_t i = 0; i < list.value.size(); ++i) {
                    const auto item = list.element(i);
                    mask::FieldRuleSpec field{"", "FIELD"};
                    std::optional<Node> pathNode;
                    if (item.value.is_object()) {
                        checkKeys(item, {"path", "entity"});
                        if (!item.value.contains("path")) {
                            error(item, "\"path\" is required");
                            continue;
                        }
                        pathNode.emplace(item.member("path"));
                        if (item.value.contains("entity")) {
                            if (auto e = entityName(item.member("entity"))) field.entity = *e;
                        }
                    } else {
                        pathNode.emplace(item);
                    }
                    if (auto p = string(*pathNode)) {
                        std::string problem;
                        if (!mask::JsonPath::parse(*p, problem)) error(*pathNode, problem);
                        field.path = *p;
                    }
                    entities.insert(field.entity);
                    spec.fields.push_back(std::move(field));
                }
            }
        }
        if (node.value.contains("csv_columns")) {
            const auto list = node.member("csv_columns");
            if (!list.value.is_array()) {
                error(list, "must be an array of column names, e.g. [\"ssn\", {\"column\": \"iban\", \"entity\": \"IBAN\"}]");
            } else {
                for (std::size_t i = 0; i < list.value.size(); ++i) {
                    const auto item = list.element(i);
                    mask::ColumnRuleSpec column{"", "FIELD"};
                    std::optional<Node> nameNode;
                    if (item.value.is_object()) {
                        checkKeys(item, {"column", "entity"});
                        if (!item.value.contains("column")) {
                            error(item, "\"column\" is required");
                            continue;
                        }
                        nameNode.emplace(item.member("column"));
                        if (item.value.contains("entity")) {
                            if (auto e = entityName(item.member("entity"))) column.entity = *e;
                        }
                    } else {
                        nameNode.emplace(item);
                    }
                    if (auto n = string(*nameNode)) column.column = *n;
                    entities.insert(column.entity);
                    spec.columns.push_back(std::move(column));
                }
            }
        }
        if (node.value.contains("operators")) {
            const auto ops = node.member("operators");
            if (isObject(ops)) {
                for (const auto& [entity, ignored] : ops.value.items()) {
                    const auto item = ops.member(entity);
                    auto op = loadOperator(item);
                    if (entity == "default") {
                        if (op) spec.defaultOperator = *op;
                        continue;
                    }
                    if (!entities.contains(entity)) {
                        std::string known;
                        for (const auto& e : entities) known += (known.empty() ? "" : ", ") + e;
                        errorAtKey(item, "\"" + entity + "\" is not an entity type this profile finds (it finds: " + known +
                                             "; or \"default\")");
                        continue;
                    }
                    if (op) spec.operators[entity] = *op;
                }
            }
        }
        if (node.value.contains("requests")) {
            if (auto b = boolean(node.member("requests"))) spec.requests = *b;
        }
        if (node.value.contains("responses")) {
            if (auto b = boolean(node.member("responses"))) spec.responses = *b;
        }
        if (issues_.size() != issuesBefore) return nullptr;
        std::string problem;
        auto profile = mask::Profile::compile(std::move(spec), problem);
        if (!profile) error(node, problem);
        return profile;
    }

    static bool isMaskingName(std::string_view s) {
        return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        });
    }

    std::optional<std::string> maskingName(const Node& node) {
        auto s = string(node);
        if (s && !isMaskingName(*s)) {
            error(node, "masking profile names use a-z, 0-9, '-' and '_' (at most 64 characters)");
            return std::nullopt;
        }
        return s;
    }

    bool loadRule(const Node& node, Policy& policy, std::size_t ruleIndex, Rule& rule) {
        if (!isObject(node)) return false;
        rule.line = doc_.valueAt(node.pointer).line;
        checkKeys(node, {"id", "description", "match", "if", "action", "message", "review", "masking",
                         "output_review"});
        if (!node.value.contains("id")) {
            error(node, "\"id\" is required: a name for the rule, shown in decisions and logs");
        } else if (auto id = string(node.member("id"))) {
            const bool valid = id->size() <= 64 && std::all_of(id->begin(), id->end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '_' || c == '.' || c == ':';
            });
            if (valid) rule.id = *id;
            else error(node.member("id"), "rule ids use letters, digits, '-', '_', '.' and ':' (at most 64)");
        }
        if (node.value.contains("description")) {
            if (auto s = string(node.member("description"), true)) rule.description = *s;
        }
        if (node.value.contains("match")) loadScope(node.member("match"), rule);
        if (node.value.contains("if")) loadConditions(node.member("if"), policy, ruleIndex, rule);
        if (node.value.contains("action")) {
            const auto a = node.member("action");
            if (auto s = string(a)) {
                if (*s == "allow") rule.action = Action::Allow;
                else if (*s == "deny") rule.action = Action::Deny;
                else if (*s == "review") rule.action = Action::Review;
                else error(a, "must be one of allow, deny, review (got \"" + *s + "\")");
            }
        }
        if (node.value.contains("message")) {
            const auto m = node.member("message");
            if (auto s = string(m)) rule.message = *s;
            if (!rule.action || rule.action == Action::Allow) error(m, "only deny and review rules have a message for the caller");
        } else if (rule.action == Action::Deny) {
            if (rule.requestsPerMinuteOver) {
                rule.message = "rate limit: more than " + std::to_string(*rule.requestsPerMinuteOver) +
                               " requests per minute (policy rule '" + rule.id + "')";
            } else if (rule.tokensPerDayOver) {
                rule.message = "token budget spent: more than " + std::to_string(*rule.tokensPerDayOver) +
                               " tokens today (UTC) (policy rule '" + rule.id + "')";
            } else {
                rule.message = "denied by policy rule '" + rule.id + "'";
            }
        }
        if (node.value.contains("review")) {
            const auto r = node.member("review");
            if (rule.action != Action::Review) {
                error(r, "only rules with \"action\": \"review\" take review settings");
            } else {
                rule.review = loadReview(r);
            }
        } else if (rule.action == Action::Review) {
            error(node, "a review rule needs \"review\": {\"approver_roles\": [...]}");
        }
        if (node.value.contains("masking")) {
            if (auto s = maskingName(node.member("masking"))) {
                checkProfileExists(node.member("masking"), policy, *s);
                rule.masking = *s;
            }
        }
        if (node.value.contains("output_review")) {
            if (auto b = boolean(node.member("output_review"))) rule.outputReview = *b;
        }
        if (!rule.action && rule.masking.empty() && !rule.outputReview && !node.value.contains("masking") &&
            !node.value.contains("action")) {
            error(node, "a rule needs an \"action\" (allow, deny or review), a \"masking\" profile or "
                        "\"output_review\": true");
        }
        return true;
    }

    void loadScope(const Node& match, Rule& rule) {
        if (!isObject(match)) return;
        checkKeys(match, {"roles", "groups", "subjects", "issuers", "connections", "models", "paths"});
        auto list = [&](std::string_view key, std::vector<std::string>& out, const char* example) {
            if (match.value.contains(std::string(key))) out = stringList(match.member(key), example);
        };
        list("roles", rule.roles, "[\"requester\"]");
        for (std::size_t i = 0; i < rule.roles.size(); ++i) {
            if (!config::isValidRoleName(rule.roles[i])) {
                error(match.member("roles").element(i), "'" + rule.roles[i] + "' is not a valid role name (a-z, 0-9, '-', '_')");
            }
        }
        list("groups", rule.groups, "[\"engineering\"]");
        list("subjects", rule.subjects, "[\"apikey:ci-*\"]");
        list("issuers", rule.issuers, "[\"https://login.example.com\"]");
        list("connections", rule.connections, "[\"openai\"]");
        list("models", rule.models, "[\"gpt-4o*\"]");
        list("paths", rule.paths, "[\"/v1/chat/completions\"]");
        for (std::size_t i = 0; i < rule.paths.size(); ++i) {
            if (!rule.paths[i].starts_with('/') && !rule.paths[i].starts_with('*')) {
                error(match.member("paths").element(i), "paths start with '/' (e.g. \"/v1/chat/completions\")");
            }
            // Matched in lower case, as the API path is (inspect::apiPath): an upstream that
            // routes without regard to case (IIS, ASP.NET) must not see /v1/Files past a rule on /v1/files.
            for (auto& c : rule.paths[i]) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }

    void loadConditions(const Node& conditions, Policy& policy, std::size_t ruleIndex, Rule& rule) {
        if (!isObject(conditions)) return;
        checkKeys(conditions, {"regex", "keywords", "prompt_tokens_over", "max_tokens_over", "cost_over", "tools",
                               "time", "requests_per_minute_over", "tokens_per_day_over"});
        constexpr std::int64_t kBig = 1'000'000'000'000LL;
        auto has = [&](const char* key) { return conditions.value.contains(key); };
        if (has("prompt_tokens_over")) rule.promptTokensOver = integer(conditions.member("prompt_tokens_over"), 0, kBig);
        if (has("max_tokens_over")) rule.maxTokensOver = integer(conditions.member("max_tokens_over"), 0, kBig);
        if (has("cost_over")) {
            const auto c = conditions.member("cost_over");
            if (!c.value.is_number() || c.value.get<double>() < 0) {
                error(c, "must be a number >= 0 (in the currency of the price table)");
            } else {
                rule.costOver = c.value.get<double>();
            }
        }
        if (has("tools")) rule.tools = stringList(conditions.member("tools"), "[\"*\"] or [\"shell\", \"fs_*\"]");
        if (has("time")) rule.time = loadTime(conditions.member("time"));
        if (has("requests_per_minute_over")) {
            rule.requestsPerMinuteOver = integer(conditions.member("requests_per_minute_over"), 0, 1'000'000);
        }
        if (has("tokens_per_day_over")) {
            rule.tokensPerDayOver = integer(conditions.member("tokens_per_day_over"), 0, kBig);
        }
        auto textConditions = [&](const char* key, TextCondition::Kind kind) {
            if (!has(key)) return;
            const auto node = conditions.member(key);
            if (node.value.is_array()) {
                if (node.value.empty()) error(node, "must not be empty (leave the key out instead)");
                for (std::size_t i = 0; i < node.value.size(); ++i) {
                    loadText(node.element(i), kind, policy, ruleIndex, rule);
                }
            } else {
                loadText(node, kind, policy, ruleIndex, rule);
            }
        };
        textConditions("regex", TextCondition::Kind::Regex);
        textConditions("keywords", TextCondition::Kind::Keywords);
    }

    void loadText(const Node& node, TextCondition::Kind kind, Policy& policy, std::size_t ruleIndex, Rule& rule) {
        if (!isObject(node)) return;
        TextCondition condition;
        condition.kind = kind;
        condition.rule = ruleIndex;
        if (node.value.contains("roles")) {
            const auto rolesNode = node.member("roles");
            condition.roles = stringList(rolesNode, "[\"user\"]");
            for (std::size_t i = 0; i < condition.roles.size(); ++i) {
                const auto& r = condition.roles[i];
                if (std::find(std::begin(kMessageRoles), std::end(kMessageRoles), r) == std::end(kMessageRoles)) {
                    error(rolesNode.element(i), "unknown message role '" + r +
                                                    "' (expected system, developer, user, assistant, tool, "
                                                    "function, prompt or input)");
                }
            }
        }
        scan::PatternSpec spec;
        if (kind == TextCondition::Kind::Regex) {
            checkKeys(node, {"pattern", "roles", "case_insensitive"});
            if (node.value.contains("case_insensitive")) {
                if (auto b = boolean(node.member("case_insensitive"))) spec.caseless = *b;
            }
            if (!node.value.contains("pattern")) {
                error(node, "\"pattern\" is required: a regular expression");
                return;
            }
            const auto p = node.member("pattern");
            auto pattern = string(p);
            if (!pattern) return;
            spec.expression = *pattern;
            condition.text = "/" + *pattern + "/" + (spec.caseless ? "i" : "");
            condition.expression = *pattern;
            condition.caseless = spec.caseless;
            patternNodes_.push_back(p.pointer);
            patternPaths_.push_back(p.path);
        } else {
            checkKeys(node, {"words", "roles"});
            if (!node.value.contains("words")) {
                error(node, "\"words\" is required: words or phrases, matched whole and case-insensitively");
                return;
            }
            const auto w = node.member("words");
            const auto words = stringList(w, "[\"confidential\", \"project falcon\"]");
            if (words.empty()) return;
            spec.caseless = true;
            spec.expression = keywordExpression(words);
            condition.text = "[";
            for (std::size_t i = 0; i < words.size(); ++i) condition.text += (i > 0 ? ", " : "") + words[i];
            condition.text += "]";
            condition.expression = spec.expression;
            condition.caseless = true;
            patternNodes_.push_back(w.pointer);
            patternPaths_.push_back(w.path);
        }
        (kind == TextCondition::Kind::Regex ? rule.regexConditions : rule.keywordConditions)
            .push_back(policy.textConditions.size());
        policy.textConditions.push_back(std::move(condition));
        specs_.push_back(std::move(spec));
    }

    // Whole words: a word boundary where the keyword starts or ends with a word character;
    // any run of white space between the words of a phrase.
    static std::string keywordExpression(const std::vector<std::string>& words) {
        auto isWordByte = [](unsigned char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        };
        std::string out = "(?:";
        bool firstWord = true;
        for (const auto& word : words) {
            std::string trimmed;
            std::istringstream parts(word);
            std::string part;
            std::vector<std::string> pieces;
            while (parts >> part) pieces.push_back(part);
            if (pieces.empty()) continue;
            if (!firstWord) out += '|';
            firstWord = false;
            const auto& first = pieces.front();
            const auto& last = pieces.back();
            if (isWordByte(static_cast<unsigned char>(first.front()))) out += "\\b";
            for (std::size_t i = 0; i < pieces.size(); ++i) {
                if (i > 0) out += "\\s+";
                out += scan::PatternSet::escape(pieces[i]);
            }
            if (isWordByte(static_cast<unsigned char>(last.back()))) out += "\\b";
        }
        return out + ")";
    }

    std::optional<ReviewSpec> loadReview(const Node& node) {
        if (!isObject(node)) return std::nullopt;
        checkKeys(node, {"approver_roles", "quorum", "mode", "timeout_seconds"});
        ReviewSpec spec;
        if (!node.value.contains("approver_roles")) {
            error(node, "\"approver_roles\" is required: the roles that may decide the review");
        } else {
            const auto roles = node.member("approver_roles");
            spec.approverRoles = stringList(roles, "[\"approver\"]");
            for (std::size_t i = 0; i < spec.approverRoles.size(); ++i) {
                if (!config::isValidRoleName(spec.approverRoles[i])) {
                    error(roles.element(i), "'" + spec.approverRoles[i] + "' is not a valid role name");
                }
            }
        }
        if (node.value.contains("quorum")) {
            if (auto q = integer(node.member("quorum"), 1, 10)) spec.quorum = static_cast<int>(*q);
        }
        if (node.value.contains("mode")) {
            const auto m = node.member("mode");
            if (auto s = string(m)) {
                if (*s == "hold") spec.mode = ReviewSpec::Mode::Hold;
                else if (*s == "ticket") spec.mode = ReviewSpec::Mode::Ticket;
                else error(m, "must be \"hold\" or \"ticket\" (got \"" + *s + "\")");
            }
        }
        if (node.value.contains("timeout_seconds")) {
            if (auto t = integer(node.member("timeout_seconds"), 10, 7 * 24 * 3600)) spec.timeout = std::chrono::seconds(*t);
        }
        return spec;
    }

    // "HH:MM" -> minutes; 24:00 allowed as an end.
    std::optional<int> clock(const Node& node, bool end) {
        auto s = string(node);
        if (!s) return std::nullopt;
        if (s->size() == 5 && (*s)[2] == ':' && std::isdigit(static_cast<unsigned char>((*s)[0])) &&
            std::isdigit(static_cast<unsigned char>((*s)[1])) && std::isdigit(static_cast<unsigned char>((*s)[3])) &&
            std::isdigit(static_cast<unsigned char>((*s)[4]))) {
            const int h = ((*s)[0] - '0') * 10 + ((*s)[1] - '0');
            const int m = ((*s)[3] - '0') * 10 + ((*s)[4] - '0');
            if (m < 60 && (h < 24 || (end && h == 24 && m == 0))) return h * 60 + m;
        }
        error(node, "must be a time of day \"HH:MM\" (00:00 to 23:59" + std::string(end ? ", or 24:00" : "") +
                        "), got \"" + *s + "\"");
        return std::nullopt;
    }

    std::optional<TimeWindow> loadTime(const Node& node) {
        if (!isObject(node)) return std::nullopt;
        checkKeys(node, {"days", "from", "to", "utc_offset", "outside"});
        TimeWindow window;
        std::string daysText = "every day";
        if (node.value.contains("days")) {
            const auto d = node.member("days");
            const auto days = stringList(d, "[\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]");
            window.days = 0;
            daysText.clear();
            for (std::size_t i = 0; i < days.size(); ++i) {
                const auto it = std::find(std::begin(kDays), std::end(kDays), days[i]);
                if (it == std::end(kDays)) {
                    error(d.element(i), "unknown day '" + days[i] + "' (expected mon, tue, wed, thu, fri, sat, sun)");
                    continue;
                }
                window.days |= static_cast<std::uint8_t>(1u << (it - std::begin(kDays)));
                daysText += (daysText.empty() ? "" : ",") + days[i];
            }
        }
        if (node.value.contains("from")) {
            if (auto m = clock(node.member("from"), false)) window.fromMinute = *m;
        }
        if (node.value.contains("to")) {
            if (auto m = clock(node.member("to"), true)) window.toMinute = *m;
        }
        if (window.fromMinute == window.toMinute) error(node, "\"from\" and \"to\" are equal: the window is empty");
        std::string offsetText = "+00:00";
        if (node.value.contains("utc_offset")) {
            const auto o = node.member("utc_offset");
            if (auto s = string(o)) {
                const bool ok = s->size() == 6 && ((*s)[0] == '+' || (*s)[0] == '-') && (*s)[3] == ':' &&
                                std::all_of(s->begin() + 1, s->end(), [](char c) { return c == ':' || std::isdigit(static_cast<unsigned char>(c)); });
                const int h = ok ? ((*s)[1] - '0') * 10 + ((*s)[2] - '0') : 99;
                const int m = ok ? ((*s)[4] - '0') * 10 + ((*s)[5] - '0') : 99;
                if (!ok || h > 14 || m > 59) {
                    error(o, "must be an offset from UTC like \"+01:00\" or \"-05:30\", got \"" + *s + "\"");
                } else {
                    window.utcOffsetMinutes = ((*s)[0] == '-' ? -1 : 1) * (h * 60 + m);
                    offsetText = *s;
                }
            }
        }
        if (node.value.contains("outside")) {
            if (auto b = boolean(node.member("outside"))) window.outside = *b;
        }
        auto hhmm = [](int minutes) {
            char buffer[24];
            std::snprintf(buffer, sizeof buffer, "%02d:%02d", minutes / 60, minutes % 60);
            return std::string(buffer);
        };
        window.text = daysText + " " + hhmm(window.fromMinute) + "-" + hhmm(window.toMinute) + " UTC" + offsetText;
        return window;
    }

    void compilePatterns(Policy& policy) {
        std::vector<scan::PatternError> errors;
        if (!policy.patterns.compile(specs_, errors)) {
            for (const auto& e : errors) {
                static const json kNull;
                const Node node{kNull, patternNodes_[e.index], patternPaths_[e.index]};
                error(node, "cannot compile: " + e.message);
            }
        }
    }

    const LocatedJson& doc_;
    std::vector<PolicyIssue>& issues_;
    std::vector<scan::PatternSpec> specs_;
    std::vector<std::string> patternNodes_;
    std::vector<std::string> patternPaths_;
};

}  // namespace

std::string policyVersionOf(std::string_view bytes) { return "sha256:" + crypto::toHex(crypto::sha256(bytes)); }

LoadResult loadPolicyText(std::string_view text, const std::filesystem::path& file) {
    LoadResult result;
    LocatedJson doc;
    if (auto error = config::parseJsonc(text, doc)) {
        result.issues.push_back({error->position, error->message});
        return result;
    }
    Loader loader(doc, result.issues);
    auto policy = loader.load();
    std::stable_sort(result.issues.begin(), result.issues.end(), [](const PolicyIssue& a, const PolicyIssue& b) {
        return a.position.line != b.position.line ? a.position.line < b.position.line
                                                  : a.position.column < b.position.column;
    });
    if (!result.issues.empty()) return result;
    policy->file = file;
    policy->version = policyVersionOf(text);
    policy->source = std::string(text);
    result.policy = std::move(policy);
    return result;
}

LoadResult loadPolicyFile(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        LoadResult result;
        result.issues.push_back({{0, 0}, "cannot read the policy file"});
        return result;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return loadPolicyText(text.str(), file);
}

std::string formatIssue(const std::filesystem::path& file, const PolicyIssue& issue) {
    if (issue.position.line == 0) return file.string() + ": " + issue.message;
    return file.string() + ":" + std::to_string(issue.position.line) + ":" + std::to_string(issue.position.column) +
           ": " + issue.message;
}

}  // namespace vigil::policy

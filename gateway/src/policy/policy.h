#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scan/pattern_set.h"
#include "vigil/details_code.h"

namespace vigil::auth {
struct Identity;
}
namespace vigil::inspect {
struct RequestFacts;
}
namespace vigil::mask {
class Profile;
}

namespace vigil::policy {

// In order of restrictiveness: across matching rules the greatest wins.
enum class Action { Allow = 0, Review = 1, Deny = 2 };
std::string_view actionName(Action action);

struct ReviewSpec {
    enum class Mode { Hold, Ticket };
    // What one deciding rule asks: `quorum` approvals from holders of one of `approverRoles`.
    struct Requirement {
        std::string rule;
        std::vector<std::string> approverRoles;
        int quorum = 1;
    };
    std::vector<std::string> approverRoles;  // with several rules: all of theirs
    int quorum = 1;                          // with several rules: the highest
    Mode mode = Mode::Hold;                  // with several rules: hold if one holds
    std::chrono::seconds timeout{900};       // with several rules: the shortest
    // Every deciding rule's requirement; each must be met (empty: approverRoles and quorum).
    std::vector<Requirement> requirements;
};
std::string_view reviewModeName(ReviewSpec::Mode mode);

// A weekly window in a fixed UTC offset: days (bit 0 = Monday) and minutes of the day.
// `toMinute` <= `fromMinute` means the window runs past midnight.
struct TimeWindow {
    std::uint8_t days = 0x7F;
    int fromMinute = 0;
    int toMinute = 24 * 60;
    int utcOffsetMinutes = 0;
    bool outside = false;  // the condition holds outside the window
    std::string text;      // as written, for explain
};

// A regex or keyword list, matched against the text of the messages whose role it names.
struct TextCondition {
    enum class Kind { Regex, Keywords };
    Kind kind = Kind::Regex;
    std::vector<std::string> roles;  // empty: every message
    std::string text;                // the pattern or the keywords, for explain
    std::string expression;          // what is scanned for (PCRE syntax; keywords as whole words)
    bool caseless = false;
    std::size_t rule = 0;            // index of the rule it belongs to
};

struct Rule {
    std::string id;
    std::string description;
    int line = 0;

    // Scope: the rule applies only when every non-empty selector matches.
    std::vector<std::string> roles;        // the caller has one of these roles
    std::vector<std::string> groups;       // the caller is in one of these groups
    std::vector<std::string> subjects;     // globs
    std::vector<std::string> issuers;      // globs over the token's iss; API keys and anonymous callers never match
    std::vector<std::string> connections;  // globs
    std::vector<std::string> models;       // globs
    std::vector<std::string> paths;        // globs, e.g. "/v1/chat/*"

    // Conditions: all of them must hold.
    // Into Policy::textConditions. Each list holds when any of its entries matches
    // ("regex": [a, b] is a or b); the two lists together must both hold.
    std::vector<std::size_t> regexConditions;
    std::vector<std::size_t> keywordConditions;
    std::optional<std::int64_t> promptTokensOver;
    std::optional<std::int64_t> maxTokensOver;
    std::optional<double> costOver;
    std::vector<std::string> tools;  // globs; holds when a requested tool matches one
    std::optional<TimeWindow> time;
    std::optional<std::int64_t> requestsPerMinuteOver;
    std::optional<std::int64_t> tokensPerDayOver;

    // Effect. A rule without an action only sets masking / output review.
    std::optional<Action> action;
    std::string message;  // for deny: what the caller reads
    std::optional<ReviewSpec> review;
    std::string masking;  // masking profile name; empty: not set by this rule
    bool outputReview = false;
};

// What evaluate() looks at first for each rule, packed so that most rules are rejected
// without reading the Rule itself: role and group names are numbered at load (bit 63
// stands for every name past the 63rd, and then the full check decides).
struct RulePrefilter {
    std::uint64_t roles = 0;   // 0: the rule has no roles selector
    std::uint64_t groups = 0;  // 0: the rule has no groups selector
    std::uint32_t regexBegin = 0, regexEnd = 0;      // its regex conditions (consecutive)
    std::uint32_t keywordBegin = 0, keywordEnd = 0;  // its keyword conditions (consecutive)
};

struct NameBits {
    std::vector<std::string> names;  // bit i names[i], i < 63
    std::uint64_t of(std::string_view name) const;
};

// A loaded policy: immutable, shared by every request evaluated against it.
struct Policy {
    std::filesystem::path file;
    std::string version;  // "sha256:<hex of the file's bytes>"
    std::string source;   // the file's bytes (recorded, so that evidence can show them)
    Action defaultAction = Action::Deny;
    std::string defaultMasking;
    // Masking profiles by name (docs/masking.md), compiled at load; "standard" is built in.
    std::map<std::string, std::shared_ptr<const mask::Profile>, std::less<>> maskingProfiles;
    std::vector<Rule> rules;
    std::vector<TextCondition> textConditions;
    scan::PatternSet patterns;  // one expression per text condition, same index
    std::vector<RulePrefilter> prefilters;  // same index as rules
    NameBits roleBits;
    NameBits groupBits;
};

// Fills prefilters, roleBits and groupBits from the rules (the loader calls it).
void buildPrefilters(Policy& policy);

// The caller's recent use, from the usage tracker, counting the request being decided.
struct Usage {
    // Requests admitted in each of the last 60 seconds, oldest first; the last entry is
    // the current second.
    std::array<std::uint32_t, 60> requestsPerSecond{};
    std::int64_t requestsLastMinute = 0;
    std::int64_t tokensToday = 0;     // estimated prompt tokens, UTC day
    std::int64_t secondsToDayEnd = 0;  // until the budget day (UTC) ends
};

struct EvaluationInput {
    const auth::Identity* identity = nullptr;  // null: anonymous
    std::string_view connection;
    std::string_view path;  // "/v1/chat/completions", without the query
    const inspect::RequestFacts* facts = nullptr;
    Usage usage;
    std::chrono::system_clock::time_point now;
};

// A text condition of a deciding rule that matched: where, so that a reviewer sees why.
struct TextMatch {
    std::string rule;
    bool regex = false;
    std::string condition;   // as written ("/pattern/i" or "[word, phrase]")
    std::string expression;  // PCRE syntax, to find the match again in the message
    bool caseless = false;
    std::size_t message = 0;  // index into the request's messages
    std::size_t end = 0;      // byte offset just after the first match
};

struct Decision {
    Action action = Action::Deny;
    DetailsCode code = DetailsCode::PolicyDenied;  // for deny and review answers
    std::vector<std::string> rules;  // the rules that decided; empty when by default
    bool byDefault = false;
    std::string message;             // for deny
    std::optional<ReviewSpec> review;
    std::string masking;
    std::shared_ptr<const mask::Profile> maskProfile;  // the profile `masking` names; null: none
    bool outputReview = false;
    std::vector<TextMatch> matches;      // text conditions of the deciding rules that matched
    std::int64_t retryAfterSeconds = 0;  // for rate_limited and budget_exhausted
    std::string policyVersion;
};

// Why each rule matched or not, for `policy explain`.
struct RuleTrace {
    struct Check {
        bool holds = false;
        std::string what;  // "model: 'gpt-4o' matches 'gpt-4*'"
    };
    bool matched = false;
    std::vector<Check> checks;  // every selector and condition of the rule, in order
};
struct Trace {
    std::vector<RuleTrace> rules;
};

// The decide stage: a pure function of the policy and its input (no I/O, no clock).
Decision evaluate(const Policy& policy, const EvaluationInput& input, Trace* trace = nullptr);

// '*' matches any run of characters (also none), '?' one character.
bool globMatch(std::string_view pattern, std::string_view text);

}  // namespace vigil::policy

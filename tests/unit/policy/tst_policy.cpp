// The decide stage: the decision table in tests/data/policy/decisions.json, every bad
// construct of tests/data/policy/bad_constructs.json with its line and column, and the
// pieces the table relies on (globs, pattern sets, the usage tracker).
#include <QTest>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "auth/identity.h"
#include "config/jsonc.h"
#include "inspect/request_facts.h"
#include "policy/policy_loader.h"
#include "policy/usage_tracker.h"
#include "scan/pattern_set.h"

using json = nlohmann::json;
using namespace vigil;

namespace {

const std::string kDataDir = VIGIL_SOURCE_DIR "/tests/data/policy/";

std::string readText(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

json readJsonc(const std::string& path) {
    config::LocatedJson doc;
    const auto error = config::parseJsonc(readText(path), doc);
    if (error) qFatal("%s:%d:%d: %s", path.c_str(), error->position.line, error->position.column, error->message.c_str());
    return doc.value;
}

std::chrono::system_clock::time_point parseUtc(const std::string& text) {
    std::tm tm{};
    strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

QString q(const std::string& s) { return QString::fromStdString(s); }

}  // namespace

class TestPolicy : public QObject {
    Q_OBJECT
private slots:
    void decisionTable() {
        const json table = readJsonc(kDataDir + "decisions.json");
        std::map<std::string, std::shared_ptr<const policy::Policy>> policies;
        const std::vector<config::ModelPrice> prices = {{"gpt-4o", 2.5, 10.0}, {"gpt-4o-pro", 150.0, 600.0}};
        int checked = 0;
        for (const auto& c : table.at("cases")) {
            const std::string name = c.at("name");
            const std::string policyFile = c.at("policy");
            if (!policies.contains(policyFile)) {
                auto loaded = policy::loadPolicyFile(kDataDir + policyFile);
                if (!loaded.policy) QFAIL(qPrintable(q(policy::formatIssue(policyFile, loaded.issues.front()))));
                policies[policyFile] = loaded.policy;
            }
            const auto& p = *policies[policyFile];

            std::optional<auth::Identity> identity;
            const json& who = table.at("identities").at(c.at("identity").get<std::string>());
            if (!who.is_null()) {
                identity.emplace();
                identity->subject = who.at("subject");
                identity->groups = who.at("groups").get<std::vector<std::string>>();
                identity->roles = who.at("roles").get<std::vector<std::string>>();
            }
            json body;
            if (c.contains("request")) {
                body = c.at("request");
            } else {
                std::string text = c.value("user_text", std::string());
                if (c.contains("repeat")) {
                    for (int i = 0; i < c.at("repeat").at("times").get<int>(); ++i) text += c.at("repeat").at("text").get<std::string>();
                }
                body = {{"model", c.at("model")}, {"messages", json::array({{{"role", "user"}, {"content", text}}})}};
            }
            const std::string path = c.value("path", std::string("/v1/chat/completions"));
            inspect::RequestFacts facts;
            const auto error = inspect::inspectRequest("POST", path, body.dump(), prices, facts);
            QVERIFY2(!error, name.c_str());

            policy::EvaluationInput input;
            input.identity = identity ? &*identity : nullptr;
            const std::string connection = c.value("connection", std::string("openai"));
            input.connection = connection;
            input.path = path;
            input.facts = &facts;
            input.now = parseUtc(c.value("time", std::string("2026-11-24T10:00:00Z")));
            const json usage = c.value("usage", json::object());
            const auto before = usage.value("requests_before", 0);
            input.usage.requestsPerSecond[59 - usage.value("seconds_ago", 0)] += static_cast<std::uint32_t>(before);
            input.usage.requestsPerSecond[59] += 1;
            input.usage.requestsLastMinute = before + 1;
            input.usage.tokensToday = usage.value("tokens_before", std::int64_t{0}) + facts.estimatedPromptTokens;
            const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(input.now.time_since_epoch()).count();
            input.usage.secondsToDayEnd = 86400 - seconds % 86400;

            const auto d = policy::evaluate(p, input);
            const json& expect = c.at("expect");
            const QByteArray what = QByteArray("case '") + name.c_str() + "'";
            QVERIFY2(std::string(policy::actionName(d.action)) == expect.at("action").get<std::string>(),
                     what + ": action " + policy::actionName(d.action).data());
            if (expect.contains("code")) {
                QVERIFY2(detailsCodeName(d.code) == expect.at("code").get<std::string>(), what + ": code " + detailsCodeName(d.code).data());
            }
            if (expect.contains("rules")) {
                QVERIFY2(d.rules == expect.at("rules").get<std::vector<std::string>>(), what + ": rules " + json(d.rules).dump().c_str());
            }
            QVERIFY2(d.byDefault == expect.value("by_default", false), what + ": by_default");
            if (expect.contains("message")) QCOMPARE(q(d.message), q(expect.at("message")));
            if (expect.contains("masking")) QCOMPARE(q(d.masking), q(expect.at("masking")));
            if (expect.contains("output_review")) QCOMPARE(d.outputReview, expect.at("output_review").get<bool>());
            QCOMPARE(d.retryAfterSeconds, expect.value("retry_after", std::int64_t{0}));
            if (expect.contains("review")) {
                QVERIFY2(d.review.has_value(), what);
                const auto& r = expect.at("review");
                QCOMPARE(d.review->approverRoles, r.at("approver_roles").get<std::vector<std::string>>());
                QCOMPARE(d.review->quorum, r.at("quorum").get<int>());
                QCOMPARE(std::string(policy::reviewModeName(d.review->mode)), r.at("mode").get<std::string>());
                QCOMPARE(d.review->timeout.count(), r.at("timeout_seconds").get<std::int64_t>());
                if (r.contains("requirements")) {
                    json got = json::array();
                    for (const auto& req : d.review->requirements) {
                        got.push_back({{"rule", req.rule}, {"approver_roles", req.approverRoles}, {"quorum", req.quorum}});
                    }
                    QVERIFY2(got == r.at("requirements"), what + ": requirements " + got.dump().c_str());
                } else {
                    QCOMPARE(d.review->requirements.size(), std::size_t{1});
                }
            } else {
                QVERIFY2(d.review.has_value() == (d.action == policy::Action::Review), what);
            }
            QCOMPARE(q(d.policyVersion), q(p.version));

            // The same input gives the same decision, and explain's trace agrees with it.
            policy::Trace trace;
            const auto again = policy::evaluate(p, input, &trace);
            QCOMPARE(again.rules, d.rules);
            QCOMPARE(int(again.action), int(d.action));
            for (std::size_t i = 0; i < p.rules.size(); ++i) {
                bool allHold = true;
                for (const auto& check : trace.rules[i].checks) allHold = allHold && check.holds;
                QVERIFY2(trace.rules[i].matched == allHold, what + ": trace of rule " + p.rules[i].id.c_str());
                if (std::find(d.rules.begin(), d.rules.end(), p.rules[i].id) != d.rules.end()) {
                    QVERIFY2(trace.rules[i].matched, what);
                }
            }
            ++checked;
        }
        QVERIFY(checked >= 40);
    }

    void policyVersionIsTheHashOfTheFile() {
        const auto text = readText(kDataDir + "team.json");
        const auto loaded = policy::loadPolicyText(text, "team.json");
        QVERIFY(loaded.policy);
        QCOMPARE(q(loaded.policy->version), q(policy::policyVersionOf(text)));
        QCOMPARE(loaded.policy->version.size(), std::size_t(7 + 64));
        // A comment changes the file, and so the version.
        const auto edited = policy::loadPolicyText(text + "\n// edited\n", "team.json");
        QVERIFY(edited.policy);
        QVERIFY(edited.policy->version != loaded.policy->version);
    }

    void everyBadConstructHasItsLineAndColumn() {
        const json cases = readJsonc(kDataDir + "bad_constructs.json");
        int checked = 0;
        QByteArray mismatches;
        for (const auto& c : cases) {
            std::string text;
            for (const auto& line : c.at("lines")) {
                if (!text.empty()) text += '\n';
                text += line.get<std::string>();
            }
            const auto result = policy::loadPolicyText(text, "bad.json");
            const QByteArray what = QByteArray("case '") + c.at("name").get<std::string>().c_str() + "'";
            QVERIFY2(!result.policy, what);
            std::vector<std::string> got;
            for (const auto& issue : result.issues) {
                got.push_back(std::to_string(issue.position.line) + ":" + std::to_string(issue.position.column) + ": " + issue.message);
            }
            const auto expected = c.at("errors").get<std::vector<std::string>>();
            // Issues come sorted by position; compare as sets of prefixes.
            bool ok = got.size() == expected.size();
            for (const auto& e : expected) {
                ok = ok && std::any_of(got.begin(), got.end(), [&](const std::string& g) { return g.starts_with(e); });
            }
            if (!ok) mismatches += what + ": expected " + json(expected).dump().c_str() + ", got " + json(got).dump().c_str() + "\n";
            ++checked;
        }
        QVERIFY2(mismatches.isEmpty(), mismatches.constData());
        QVERIFY(checked >= 50);
    }

    void theDemoAndDocumentedPoliciesAreValid() {
        for (const char* file : {"/resources/demo/policy.json"}) {
            const auto result = policy::loadPolicyFile(std::string(VIGIL_SOURCE_DIR) + file);
            QVERIFY2(result.policy, result.issues.empty() ? file : policy::formatIssue(file, result.issues.front()).c_str());
        }
        // The demo's confidential names wait for review in whichever message the caller puts
        // them (a rule limited to user messages let a system message through).
        const auto demo = policy::loadPolicyFile(std::string(VIGIL_SOURCE_DIR) + "/resources/demo/policy.json");
        for (const char* role : {"user", "system", "developer", "assistant", "User"}) {
            const std::string body = std::string("{\"model\":\"mock-gpt\",\"messages\":[{\"role\":\"") + role +
                                     "\",\"content\":\"Summarise Project Falcon for the board\"},{\"role\":\"user\",\"content\":\"go\"}]}";
            inspect::RequestFacts facts;
            QVERIFY(!inspect::inspectRequest("POST", "/v1/chat/completions", body, {}, facts));
            auth::Identity who;
            who.method = auth::Identity::Method::ApiKey;
            who.subject = "apikey:demo";
            who.roles = {"requester"};
            policy::EvaluationInput input;
            input.identity = &who;
            input.connection = "demo";
            input.path = "/v1/chat/completions";
            input.facts = &facts;
            input.now = std::chrono::system_clock::now();
            QVERIFY2(policy::evaluate(*demo.policy, input, nullptr).action == policy::Action::Review, role);
        }
    }

    void unreadableFile() {
        const auto result = policy::loadPolicyFile("/nonexistent/policy.json");
        QVERIFY(!result.policy);
        QCOMPARE(result.issues.size(), std::size_t(1));
        QCOMPARE(q(policy::formatIssue("/nonexistent/policy.json", result.issues[0])),
                 QStringLiteral("/nonexistent/policy.json: cannot read the policy file"));
    }

    void issuersSelectTokensFromThem() {
        // Subjects are the issuer's to choose: with several issuers, a rule pins the one it
        // trusts, and an API key or an anonymous caller never matches an issuers rule.
        const auto loaded = policy::loadPolicyText(
            "{\"default_action\":\"deny\",\"rules\":[{\"id\":\"corp-alice\",\"match\":{\"subjects\":[\"alice\"],\"issuers\":[\"https://login.corp.example\"]},\"action\":\"allow\"}]}",
            "issuers.json");
        QVERIFY(loaded.policy);
        const std::string body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        inspect::RequestFacts facts;
        QVERIFY(!inspect::inspectRequest("POST", "/v1/chat/completions", body, {}, facts));
        auto decide = [&](auth::Identity::Method method, const std::string& issuer) {
            auth::Identity who;
            who.method = method;
            who.issuer = issuer;
            who.subject = "alice";
            policy::EvaluationInput input;
            input.identity = &who;
            input.connection = "openai";
            input.path = "/v1/chat/completions";
            input.facts = &facts;
            input.now = std::chrono::system_clock::now();
            policy::Trace trace;
            const auto d = policy::evaluate(*loaded.policy, input, &trace);
            QString why;
            for (const auto& check : trace.rules[0].checks) why += q(check.what) + QStringLiteral("; ");
            return std::make_pair(d.action, why);
        };
        QCOMPARE(int(decide(auth::Identity::Method::OidcToken, "https://login.corp.example").first), int(policy::Action::Allow));
        const auto other = decide(auth::Identity::Method::OidcToken, "https://selfservice.example");
        QCOMPARE(int(other.first), int(policy::Action::Deny));
        QVERIFY2(other.second.contains(QStringLiteral("token from 'https://selfservice.example'")), qPrintable(other.second));
        const auto key = decide(auth::Identity::Method::ApiKey, "");
        QCOMPARE(int(key.first), int(policy::Action::Deny));
        QVERIFY2(key.second.contains(QStringLiteral("caller has no token")), qPrintable(key.second));

        const auto bad = policy::loadPolicyText("{\"rules\":[{\"id\":\"x\",\"match\":{\"issuers\":\"https://a\"},\"action\":\"allow\"}]}", "bad.json");
        QVERIFY(!bad.policy);
    }

    void globs() {
        QVERIFY(policy::globMatch("gpt-4o*", "gpt-4o"));
        QVERIFY(policy::globMatch("gpt-4o*", "gpt-4o-mini"));
        QVERIFY(!policy::globMatch("gpt-4o*", "gpt-4"));
        QVERIFY(policy::globMatch("*", ""));
        QVERIFY(policy::globMatch("a?c", "abc"));
        QVERIFY(!policy::globMatch("a?c", "ac"));
        QVERIFY(policy::globMatch("*-mini", "gpt-4o-mini"));
        QVERIFY(policy::globMatch("a*b*c", "axxbyyc"));
        QVERIFY(!policy::globMatch("a*b*c", "axxbyy"));
        QVERIFY(policy::globMatch("/v1/*", "/v1/chat/completions"));
        QVERIFY(!policy::globMatch("exact", "exactly"));
    }

    void patternSetReportsEachExpressionOnce() {
        scan::PatternSet set;
        std::vector<scan::PatternError> errors;
        QVERIFY(set.compile({{"foo", false}, {"BAR", true}, {"\\d{3}", false}}, errors));
        std::vector<std::pair<std::size_t, std::size_t>> hits;
        QVERIFY(set.scan("xx foo bar foo 12 345", [&](std::size_t i, std::size_t end) { hits.emplace_back(i, end); }));
        std::sort(hits.begin(), hits.end());
        QCOMPARE(hits.size(), std::size_t(3));
        QCOMPARE(hits[0], std::make_pair(std::size_t(0), std::size_t(6)));   // first "foo" ends at 6
        QCOMPARE(hits[1], std::make_pair(std::size_t(1), std::size_t(10)));  // "bar", case-insensitive
        QCOMPARE(hits[2], std::make_pair(std::size_t(2), std::size_t(21)));
        // Literal escaping: metacharacters match themselves.
        scan::PatternSet literal;
        QVERIFY(literal.compile({{scan::PatternSet::escape("a.b*(c)"), false}}, errors));
        int count = 0;
        QVERIFY(literal.scan("axb", [&](std::size_t, std::size_t) { ++count; }));
        QCOMPARE(count, 0);
        QVERIFY(literal.scan("a.b*(c)", [&](std::size_t, std::size_t) { ++count; }));
        QCOMPARE(count, 1);
    }

    void patternSetsAreSharedAcrossThreads() {
        scan::PatternSet a, b;
        std::vector<scan::PatternError> errors;
        QVERIFY(a.compile({{"alpha", false}}, errors));
        QVERIFY(b.compile({{"beta[0-9]+", false}, {"gamma", false}}, errors));
        std::atomic<int> failures{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&] {
                for (int i = 0; i < 2000; ++i) {
                    int hitsA = 0, hitsB = 0;
                    a.scan("x alpha y", [&](std::size_t, std::size_t) { ++hitsA; });
                    b.scan("beta42 gamma", [&](std::size_t, std::size_t) { ++hitsB; });
                    if (hitsA != 1 || hitsB != 2) ++failures;
                }
            });
        }
        for (auto& t : threads) t.join();
        QCOMPARE(failures.load(), 0);
    }

    void usageTrackerCountsAndRefunds() {
        policy::UsageTracker tracker("");
        const auto t0 = parseUtc("2026-11-24T10:00:00Z");
        for (int i = 0; i < 5; ++i) tracker.admit("alice", 10, t0 + std::chrono::seconds(i));
        auto a = tracker.admit("alice", 10, t0 + std::chrono::seconds(5));
        QCOMPARE(a.usage.requestsLastMinute, std::int64_t(6));
        QCOMPARE(a.usage.tokensToday, std::int64_t(60));
        QCOMPARE(a.usage.requestsPerSecond[59], 1u);
        QCOMPARE(a.usage.requestsPerSecond[54], 1u);
        QCOMPARE(a.usage.secondsToDayEnd, std::int64_t(14 * 3600 - 5));
        tracker.refund("alice", a);
        auto b = tracker.admit("alice", 0, t0 + std::chrono::seconds(5));
        QCOMPARE(b.usage.requestsLastMinute, std::int64_t(6));  // the refunded one is gone
        QCOMPARE(b.usage.tokensToday, std::int64_t(50));
        // Others are counted apart.
        QCOMPARE(tracker.admit("bob", 1, t0).usage.requestsLastMinute, std::int64_t(1));
        // A minute later the window is empty again; the day's tokens stay.
        auto later = tracker.admit("alice", 1, t0 + std::chrono::seconds(65));
        QCOMPARE(later.usage.requestsLastMinute, std::int64_t(1));
        QCOMPARE(later.usage.tokensToday, std::int64_t(51));
        // The next UTC day starts from zero.
        auto tomorrow = tracker.admit("alice", 7, parseUtc("2026-11-25T00:00:01Z"));
        QCOMPARE(tomorrow.usage.tokensToday, std::int64_t(7));
    }

    void usageTrackerBudgetsSurviveARestart() {
        QTemporaryDir dir;
        const auto db = dir.filePath(QStringLiteral("vigil.db")).toStdString();
        const auto now = std::chrono::system_clock::now();
        {
            policy::UsageTracker tracker(db, now);
            tracker.admit("alice", 1200, now);
            tracker.admit("alice", 34, now);
            tracker.admit("bob", 5, now);
        }  // the destructor writes what is pending
        policy::UsageTracker restarted(db, now);
        QCOMPARE(restarted.admit("alice", 0, now).usage.tokensToday, std::int64_t(1234));
        QCOMPARE(restarted.admit("bob", 0, now).usage.tokensToday, std::int64_t(5));
        QCOMPARE(restarted.admit("carol", 0, now).usage.tokensToday, std::int64_t(0));
        // Rate counts are not kept across restarts (a minute matters, not a day).
        QCOMPARE(restarted.admit("alice", 0, now).usage.requestsLastMinute, std::int64_t(2));
    }

    void usageTrackerIsExactUnderConcurrency() {
        policy::UsageTracker tracker("");
        const auto now = parseUtc("2026-11-24T10:00:00Z");
        std::vector<std::thread> threads;
        std::mutex mutex;
        std::vector<std::int64_t> seen;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&] {
                for (int i = 0; i < 250; ++i) {
                    const auto a = tracker.admit("alice", 1, now);
                    std::lock_guard lock(mutex);
                    seen.push_back(a.usage.requestsLastMinute);
                }
            });
        }
        for (auto& t : threads) t.join();
        std::sort(seen.begin(), seen.end());
        // Every request saw a different count: a limit of N lets exactly N through.
        for (std::size_t i = 0; i < seen.size(); ++i) QCOMPARE(seen[i], std::int64_t(i + 1));
    }
};

QTEST_APPLESS_MAIN(TestPolicy)
#include "tst_policy.moc"

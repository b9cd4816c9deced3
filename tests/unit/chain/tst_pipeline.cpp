#include <QTest>

#include <QTemporaryDir>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>


#include "auth/api_keys.h"
#include "chain/pipeline.h"
#include "chain/session_owners.h"
#include "store/sqlite_store.h"
#include "config/gateway_config.h"

using vigil::net::Action;
using vigil::net::HeaderView;
using vigil::net::RequestView;

namespace {

RequestView makeRequest(std::string_view method, std::string_view target,
                        const std::vector<HeaderView>& headers) {
    RequestView r;
    r.method = method;
    r.target = target;
    r.headers = headers;
    r.body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    return r;
}

}  // namespace

namespace texts {
const char* const kText0 = "{\"listeners\":[{\"port\":1}],\"connections\":{\n"
            "                \"demo\":{\"kind\":\"openai\",\"base_url\":\"http://up/base\",\"credential\":{\"env\":\"VIGIL_TST_KEY\"}}},\n"
            "                \"log\":{\"level\":\"error\"}}";
}  // namespace texts
using namespace texts;

class TestPipeline : public QObject {
    Q_OBJECT
    std::shared_ptr<vigil::chain::Pipeline> pipeline_;
    QTemporaryDir dir_;
    std::string key_;  // "Bearer vgl_..."

private slots:
    void initTestCase() {
        qputenv("VIGIL_TST_KEY", "sk-upstream-credential");
        auto config = std::make_shared<vigil::config::GatewayConfig>(vigil::config::parseConfig(
            kText0,
            "/x/gateway.json"));
        const auto db = dir_.filePath(QStringLiteral("vigil.db")).toStdString();
        {
            vigil::store::SqliteStore store(db);
            auto created = vigil::auth::generateApiKey("unit", {"requester"}, std::nullopt, 1);
            store.insertApiKey(created.record);
            key_ = "Bearer " + created.key;
        }
        auto apiKeys = std::make_shared<vigil::auth::ApiKeyRegistry>(db);
        auto tokens = std::make_shared<vigil::auth::TokenVerifier>(
            std::vector<std::shared_ptr<vigil::auth::OidcIssuer>>{}, std::vector<vigil::config::RoleMapping>{}, 10);
        pipeline_ = std::make_shared<vigil::chain::Pipeline>(
            config, std::make_shared<vigil::observe::Metrics>(std::vector<std::string>{"demo"}), tokens, apiKeys);
    }

    void forwardsWithTheConnectionCredential() {
        const std::vector<HeaderView> headers = {{"Authorization", key_}, {"X-Request-Id", "client-id-1"}};
        Action action = pipeline_->handle(makeRequest("POST", "/v1/chat/completions", headers));
        QCOMPARE(int(action.kind), int(Action::Kind::Forward));
        QCOMPARE(action.forward.target, std::string("/base/v1/chat/completions"));
        QCOMPARE(action.forward.credentialHeader, std::string_view("Bearer sk-upstream-credential"));
        const auto& dropped = action.forward.dropHeaders;
        QVERIFY(std::find(dropped.begin(), dropped.end(), "authorization") != dropped.end());
        QVERIFY(std::find(dropped.begin(), dropped.end(), "cookie") != dropped.end());
        QCOMPARE(action.forward.setHeaders.size(), std::size_t(1));
        QCOMPARE(action.forward.setHeaders[0].value, std::string("client-id-1"));
        QVERIFY(action.observer);
    }

    void invalidRequestIdIsReplaced() {
        const std::vector<HeaderView> headers = {{"Authorization", key_}, {"X-Request-Id", "bad id with spaces"}};
        Action action = pipeline_->handle(makeRequest("GET", "/v1/models", headers));
        QCOMPARE(action.forward.setHeaders[0].name, std::string("X-Request-Id"));
        QCOMPARE(action.forward.setHeaders[0].value.size(), std::size_t(32));
        QVERIFY(vigil::chain::isValidRequestId(action.forward.setHeaders[0].value));
        QVERIFY(vigil::chain::newRequestId() != vigil::chain::newRequestId());
    }

    void newRequestIdsAreHexAndTimeOrdered() {
        // 48 bits of Unix milliseconds first: ids made later sort after (the store's
        // session-keyed indexes then grow at their end); 80 random bits after them.
        const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        std::vector<std::string> ids;
        for (int i = 0; i < 5; ++i) {
            ids.push_back(vigil::chain::newRequestId());
            QTest::qWait(2);
        }
        for (const auto& id : ids) {
            QCOMPARE(id.size(), std::size_t(32));
            QVERIFY(id.find_first_not_of("0123456789abcdef") == std::string::npos);
            const auto stamp = std::stoll(id.substr(0, 12), nullptr, 16);
            QVERIFY2(stamp >= millis && stamp < millis + 5000, id.c_str());
        }
        QVERIFY(std::is_sorted(ids.begin(), ids.end()));
        QCOMPARE(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
        // Made in the same millisecond, they still differ (the random part).
        std::set<std::string> burst;
        for (int i = 0; i < 1000; ++i) burst.insert(vigil::chain::newRequestId());
        QCOMPARE(burst.size(), std::size_t(1000));
    }

    void unknownConnectionIsAnsweredLocally() {
        Action action = pipeline_->handle(makeRequest("GET", "/other/v1/models", {}));
        QCOMPARE(int(action.kind), int(Action::Kind::Local));
        QCOMPARE(action.local.status, 404);
        QVERIFY(action.local.body.find("\"unknown_connection\"") != std::string::npos);
        QVERIFY(action.local.body.find("sk-upstream-credential") == std::string::npos);
    }

    void builtinEndpoints() {
        QCOMPARE(pipeline_->handle(makeRequest("GET", "/healthz", {})).local.status, 200);
        QCOMPARE(pipeline_->handle(makeRequest("GET", "/readyz", {})).local.status, 200);
        const auto metrics = pipeline_->handle(makeRequest("GET", "/metrics", {}));
        QVERIFY(metrics.local.body.find("vigil_requests_in_flight") != std::string::npos);
        QCOMPARE(pipeline_->handle(makeRequest("POST", "/healthz", {})).local.status, 405);
        pipeline_->onShutdownStarted();
        QCOMPARE(pipeline_->handle(makeRequest("GET", "/readyz", {})).local.status, 503);
    }

    void missingCredentialsAre401WithAChallenge() {
        Action action = pipeline_->handle(makeRequest("POST", "/v1/chat/completions", {}));
        QCOMPARE(action.local.status, 401);
        QVERIFY(action.local.body.find("\"missing_credentials\"") != std::string::npos);
        const auto challenge = std::find_if(action.local.headers.begin(), action.local.headers.end(),
                                            [](const auto& h) { return h.name == "WWW-Authenticate"; });
        QVERIFY(challenge != action.local.headers.end());
        QCOMPARE(challenge->value, std::string("Bearer realm=\"vigil\""));
        const std::vector<HeaderView> wrong = {{"Authorization", "Bearer vgl_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"}};
        Action refused = pipeline_->handle(makeRequest("POST", "/v1/chat/completions", wrong));
        QCOMPARE(refused.local.status, 401);
        QVERIFY(refused.local.body.find("\"api_key_invalid\"") != std::string::npos);
    }

    void credentialIsScrubbedFromUpstreamAnswers() {
        const std::vector<HeaderView> headers = {{"Authorization", key_}};
        Action action = pipeline_->handle(makeRequest("POST", "/v1/chat/completions", headers));
        vigil::net::Headers responseHeaders = {{"X-Echo", "Bearer sk-upstream-credential"}};
        int status = 401;
        action.observer->onResponseHead(status, responseHeaders, false);
        QCOMPARE(responseHeaders[0].value, std::string("Bearer [REDACTED]"));
        std::string out;
        action.observer->onResponseData("key: sk-upstream-credential", out);
        action.observer->onResponseEnd(out);
        QCOMPARE(out, std::string("key: [REDACTED]"));
    }

    // Who may name a session: the first caller owns it (issuer and subject); the store
    // answers for sessions no longer in memory with their caller key (or, for sessions
    // recorded before it kept one, their subject); a store that cannot be read grants nothing.
    void sessionOwnersDecideWhoMayNameASession() {
        using vigil::chain::SessionOwners;
        int lookups = 0;
        SessionOwners owners(
            [&](const std::string& id) -> std::optional<SessionOwners::Stored> {
                ++lookups;
                if (id == "broken") throw std::runtime_error("disk I/O error");
                if (id == "old") return SessionOwners::Stored{"alice", ""};
                if (id == "keyed") return SessionOwners::Stored{"alice", "idp-a alice"};
                return std::nullopt;
            },
            2);
        QCOMPARE(owners.claim("new", "idp-a alice", "alice"), SessionOwners::Claim::Granted);
        QCOMPARE(owners.claim("new", "idp-a alice", "alice"), SessionOwners::Claim::Granted);
        QCOMPARE(owners.claim("new", "idp-b alice", "alice"), SessionOwners::Claim::Conflict);  // same sub, other issuer
        QCOMPARE(owners.claim("new", "apikey:bob", "apikey:bob"), SessionOwners::Claim::Conflict);
        QCOMPARE(lookups, 1);  // remembered after the first
        QCOMPARE(owners.claim("keyed", "idp-b alice", "alice"), SessionOwners::Claim::Conflict);  // the store's key: issuer too
        QCOMPARE(owners.claim("keyed", "idp-a alice", "alice"), SessionOwners::Claim::Granted);
        QCOMPARE(owners.claim("old", "apikey:bob", "apikey:bob"), SessionOwners::Claim::Conflict);
        QCOMPARE(owners.claim("old", "idp-a alice", "alice"), SessionOwners::Claim::Granted);  // recorded without a key: by subject
        QCOMPARE(owners.claim("old", "idp-b alice", "alice"), SessionOwners::Claim::Granted);
        QCOMPARE(owners.claim("broken", "apikey:bob", "apikey:bob"), SessionOwners::Claim::Unavailable);
        QCOMPARE(owners.claim("broken", "apikey:bob", "apikey:bob"), SessionOwners::Claim::Unavailable);  // nothing granted
        // Bounded memory: the oldest entry goes; the store is asked again for it.
        QCOMPARE(owners.claim("third", "apikey:bob", "apikey:bob"), SessionOwners::Claim::Granted);
        const int before = lookups;
        QCOMPARE(owners.claim("new", "apikey:carol", "apikey:carol"), SessionOwners::Claim::Granted);  // forgotten, not in the store
        QCOMPARE(lookups, before + 1);
    }
};

QTEST_APPLESS_MAIN(TestPipeline)
#include "tst_pipeline.moc"

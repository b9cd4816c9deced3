// The decide stage in the real gateway: answers (403 policy_denied with the rule, 403
// review_required, 429 rate_limited with Retry-After, 429 budget_exhausted that survives a
// restart), reloads on file change and SIGHUP, invalid policies refused at start and at
// reload, reload under load, and the policy check / explain commands.

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QSaveFile>
#include <QTest>
#include <QThread>
#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

#include "managed_process.h"
#include "raw_http.h"

using namespace vigil::test;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-upstream-policy-test-4242");

const char* const kPolicy =
    "// integration test policy\n"
    "{\n"
    "  \"default_action\": \"deny\",\n"
    "  \"rules\": [\n"
    "    {\"id\": \"requesters\", \"match\": {\"roles\": [\"requester\"]}, \"action\": \"allow\"},\n"
    "    {\"id\": \"no-secrets\", \"if\": {\"keywords\": {\"words\": [\"topsecret\"]}}, \"action\": \"deny\",\n"
    "     \"message\": \"no secrets here\"},\n"
    "    {\"id\": \"needs-review\", \"if\": {\"keywords\": {\"words\": [\"falcon\"]}}, \"action\": \"review\",\n"
    "     \"review\": {\"approver_roles\": [\"approver\"], \"mode\": \"ticket\"}},\n"
    "    {\"id\": \"rpm\", \"match\": {\"subjects\": [\"apikey:limited\"]}, \"if\": {\"requests_per_minute_over\": 3},\n"
    "     \"action\": \"deny\"},\n"
    "    {\"id\": \"budget\", \"match\": {\"subjects\": [\"apikey:budget\"]}, \"if\": {\"tokens_per_day_over\": 50},\n"
    "     \"action\": \"deny\"},\n"
    "    {\"id\": \"rpm-one\", \"match\": {\"subjects\": [\"apikey:approved-once\"]}, \"if\": {\"requests_per_minute_over\": 1},\n"
    "     \"action\": \"deny\"}\n"
    "  ]\n"
    "}\n";

bool writeFile(const QString& path, const QByteArray& text) {
    QSaveFile f(path);  // write to a temporary file, then rename: readers never see half
    if (!f.open(QIODevice::WriteOnly)) return false;
    f.write(text);
    return f.commit();
}

bool writeInPlace(const QString& path, const QByteArray& text) {
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return false;
    return f.write(text) == text.size();
}

QByteArray bearer(const QString& key) { return "Bearer " + key.toLatin1(); }

HttpResponse chat(const QString& url, const QString& key, const QString& prompt) {
    return httpRequest(url, "POST", "/v1/chat/completions", chatBody(prompt), {{"Authorization", bearer(key)}});
}

QString metric(const QString& url, const QByteArray& line) {
    const auto r = httpRequest(url, "GET", "/metrics");
    for (const auto& l : r.body.split('\n')) {
        if (l.startsWith(line)) return QString::fromLatin1(l.mid(line.size())).trimmed();
    }
    return {};
}

struct RunResult {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

RunResult runGatewayCli(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(VIGIL_GATEWAY_BIN), args);
    p.waitForFinished(30000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

}  // namespace

class TestPolicyGateway : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<ManagedProcess> mock_;
    std::unique_ptr<ManagedProcess> gateway_;
    QString requesterKey_, limitedKey_, budgetKey_, auditorKey_, approvedOnceKey_, approverKey_;

    QString policyPath() const { return dir_.filePath(QStringLiteral("policy.json")); }

    QJsonObject config(bool watch = true) const {
        auto c = basicGatewayConfig(mock_->url());
        // The connection lets requesters and auditors in; the policy decides the rest.
        auto connections = c.value(QStringLiteral("connections")).toObject();
        auto mock = connections.value(QStringLiteral("mock")).toObject();
        mock.insert(QStringLiteral("allowed_roles"), QJsonArray{QStringLiteral("requester"), QStringLiteral("auditor")});
        connections.insert(QStringLiteral("mock"), mock);
        c.insert(QStringLiteral("connections"), connections);
        c.insert(QStringLiteral("policy"), QJsonObject{{QStringLiteral("file"), QStringLiteral("policy.json")},
                                                       {QStringLiteral("watch"), watch},
                                                       {QStringLiteral("poll_ms"), 100}});
        return c;
    }

    bool restartGateway(bool watch = true) {
        if (gateway_) gateway_->terminate();
        gateway_ = startGateway(dir_, config(watch), kUpstreamKey);
        return gateway_ != nullptr;
    }

    QString policyVersionInForce() {
        return QString::fromLatin1(chat(gateway_->url(), requesterKey_, QStringLiteral("hello")).header("x-vigil-policy-version"));
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        mock_ = startMockUpstream(kUpstreamKey);
        QVERIFY(mock_);
        const auto db = dir_.filePath(QStringLiteral("vigil.db"));
        requesterKey_ = createApiKey(db, QStringLiteral("alice"), QStringLiteral("requester"));
        limitedKey_ = createApiKey(db, QStringLiteral("limited"), QStringLiteral("requester"));
        approvedOnceKey_ = createApiKey(db, QStringLiteral("approved-once"), QStringLiteral("requester"));
        approverKey_ = createApiKey(db, QStringLiteral("approver"), QStringLiteral("approver"));
        QVERIFY(!approvedOnceKey_.isEmpty() && !approverKey_.isEmpty());
        budgetKey_ = createApiKey(db, QStringLiteral("budget"), QStringLiteral("requester"));
        auditorKey_ = createApiKey(db, QStringLiteral("audit"), QStringLiteral("auditor"));
        QVERIFY(!requesterKey_.isEmpty() && !limitedKey_.isEmpty() && !budgetKey_.isEmpty() && !auditorKey_.isEmpty());
        QVERIFY(writeFile(policyPath(), kPolicy));
        QVERIFY(restartGateway());
    }

    void cleanupTestCase() {
        if (gateway_) QCOMPARE(gateway_->terminate(), 0);
    }

    void allowedRequestsReachTheUpstream() {
        const auto r = chat(gateway_->url(), requesterKey_, QStringLiteral("hello there"));
        QCOMPARE(r.status, 200);
        QVERIFY(r.header("x-vigil-policy-version").startsWith("sha256:"));
        QVERIFY(r.json().contains(QStringLiteral("choices")));
        QTRY_VERIFY(gateway_->logLines(QStringLiteral("request")).size() >= 1);
        const auto line = gateway_->logLines(QStringLiteral("request")).last();
        QCOMPARE(line.value(QStringLiteral("decision")).toString(), QStringLiteral("allow"));
        QCOMPARE(line.value(QStringLiteral("rules")).toString(), QStringLiteral("requesters"));
        QCOMPARE(line.value(QStringLiteral("policy_version")).toString(), QString::fromLatin1(r.header("x-vigil-policy-version")));
    }

    void deniedRequestsGet403WithTheRule() {
        const auto r = chat(gateway_->url(), requesterKey_, QStringLiteral("the TopSecret plan"));
        QCOMPARE(r.status, 403);
        const auto error = r.json().value(QStringLiteral("error")).toObject();
        QCOMPARE(error.value(QStringLiteral("code")).toString(), QStringLiteral("policy_denied"));
        QCOMPARE(error.value(QStringLiteral("type")).toString(), QStringLiteral("permission_error"));
        QCOMPARE(error.value(QStringLiteral("message")).toString(), QStringLiteral("no secrets here"));
        QCOMPARE(error.value(QStringLiteral("rule")).toString(), QStringLiteral("no-secrets"));
        QVERIFY(error.value(QStringLiteral("policy_version")).toString().startsWith(QStringLiteral("sha256:")));
        // The upstream never saw it: its last request is still the earlier one.
        const auto last = httpRequest(mock_->url(), "GET", "/_mock/last-request");
        QVERIFY(!last.body.contains("TopSecret"));
    }

    // A prompt reaches the upstream only past the policy, however the request is spelled:
    // another method with the body, an encoded letter, doubled slashes, a trailing slash or
    // a path parameter (all of which some upstream, or a framework before it, takes for
    // POST /v1/chat/completions).
    void noSpellingGetsAPromptPastThePolicy_data() {
        QTest::addColumn<QByteArray>("method");
        QTest::addColumn<QByteArray>("path");
        QTest::newRow("PUT") << QByteArray("PUT") << QByteArray("/v1/chat/completions");
        QTest::newRow("PATCH") << QByteArray("PATCH") << QByteArray("/v1/chat/completions");
        QTest::newRow("DELETE") << QByteArray("DELETE") << QByteArray("/v1/chat/completions");
        QTest::newRow("encoded letter") << QByteArray("POST") << QByteArray("/v1/chat/%63ompletions");
        QTest::newRow("encoded, upper hex") << QByteArray("POST") << QByteArray("/v1/chat/c%6Fmpletions");
        QTest::newRow("other case") << QByteArray("POST") << QByteArray("/v1/Chat/Completions");
        QTest::newRow("double slash") << QByteArray("POST") << QByteArray("/v1//chat/completions");
        QTest::newRow("trailing slash") << QByteArray("POST") << QByteArray("/v1/chat/completions/");
        QTest::newRow("path parameter") << QByteArray("POST") << QByteArray("/v1/chat/completions;x");
        QTest::newRow("named connection") << QByteArray("POST") << QByteArray("/mock/v1/chat/%63ompletions");
    }
    void noSpellingGetsAPromptPastThePolicy() {
        QFETCH(QByteArray, method);
        QFETCH(QByteArray, path);
        const auto r = httpRequest(gateway_->url(), method, path, chatBody(QStringLiteral("the TopSecret plan")),
                                   {{"Authorization", bearer(requesterKey_)}, {"Content-Type", "application/json"}});
        QCOMPARE(r.status, 403);
        QCOMPARE(r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("rule")).toString(),
                 QStringLiteral("no-secrets"));
        QVERIFY(!httpRequest(mock_->url(), "GET", "/_mock/last-request").body.contains("TopSecret"));
    }
    // A second "content" in one message: the gateway reads the last, an upstream that keeps
    // the first would get the secret. Refused before the policy, never forwarded.
    void aRepeatedMemberDoesNotHideThePrompt() {
        const QByteArray body = "{\"model\":\"mock-gpt\",\"messages\":[{\"role\":\"user\",\"content\":\"the TopSecret plan\","
                                "\"content\":\"hello\"}]}";
        const auto r = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", body,
                                   {{"Authorization", bearer(requesterKey_)}, {"Content-Type", "application/json"}});
        QCOMPARE(r.status, 400);
        QCOMPARE(r.errorCode(), QStringLiteral("invalid_json"));
        QVERIFY2(r.body.contains("twice in one object"), r.body.constData());
        QVERIFY(!httpRequest(mock_->url(), "GET", "/_mock/last-request").body.contains("TopSecret"));
    }
    // What the policy read is what the upstream is sent: the canonical path.
    void theUpstreamGetsTheCanonicalPath() {
        const auto r = httpRequest(gateway_->url(), "POST", "/v1//chat/%63ompletions?x=%2e", chatBody(QStringLiteral("hi")),
                                   {{"Authorization", bearer(requesterKey_)}, {"Content-Type", "application/json"}});
        QCOMPARE(r.status, 200);
        const auto last = httpRequest(mock_->url(), "GET", "/_mock/last-request").json();
        QCOMPARE(last.value(QStringLiteral("target")).toString(), QStringLiteral("/v1/chat/completions?x=%2e"));
        // A listing carries no prompt: not inspected, decided by the path.
        QCOMPARE(httpRequest(gateway_->url(), "GET", "/v1/models", {}, {{"Authorization", bearer(requesterKey_)}}).status, 200);
        // Dot segments in any spelling are refused before anything else.
        const auto climb = httpRequest(gateway_->url(), "GET", "/v1/%2E%2e/models", {}, {{"Authorization", bearer(requesterKey_)}});
        QCOMPARE(climb.status, 400);
        QCOMPARE(climb.errorCode(), QStringLiteral("malformed_request"));
        const auto escape = httpRequest(gateway_->url(), "GET", "/v1/models/%zz", {}, {{"Authorization", bearer(requesterKey_)}});
        QCOMPARE(escape.status, 400);
        QVERIFY2(escape.body.contains("two hex digits"), escape.body.constData());
    }

    void aCallerNoRuleAllowsIsDeniedByDefault() {
        const auto r = chat(gateway_->url(), auditorKey_, QStringLiteral("hello"));
        QCOMPARE(r.status, 403);
        const auto error = r.json().value(QStringLiteral("error")).toObject();
        QCOMPARE(error.value(QStringLiteral("code")).toString(), QStringLiteral("policy_denied"));
        QCOMPARE(error.value(QStringLiteral("message")).toString(), QStringLiteral("no policy rule allows this request"));
        QVERIFY(!error.contains(QStringLiteral("rule")));
    }

    // Ticket mode answers at once (hold mode is tested in tst_reviews).
    void reviewDecisionsAreAnswered403ReviewRequired() {
        const auto r = chat(gateway_->url(), requesterKey_, QStringLiteral("status of falcon?"));
        QCOMPARE(r.status, 403);
        const auto error = r.json().value(QStringLiteral("error")).toObject();
        QCOMPARE(error.value(QStringLiteral("code")).toString(), QStringLiteral("review_required"));
        QCOMPARE(error.value(QStringLiteral("rule")).toString(), QStringLiteral("needs-review"));
        // The request's own log line (found by its id: the line of the previous test's
        // request may be written just after this one's).
        const QString id = QString::fromLatin1(r.header("X-Request-Id"));
        auto line = [&] {
            for (const auto& l : gateway_->logLines(QStringLiteral("request"))) {
                if (l.value(QStringLiteral("request_id")).toString() == id) return l;
            }
            return QJsonObject();
        };
        QTRY_COMPARE(line().value(QStringLiteral("decision")).toString(), QStringLiteral("review"));
    }

    void badBodiesAreRefusedBeforeThePolicy() {
        const auto r = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", "{not json",
                                   {{"Authorization", bearer(requesterKey_)}});
        QCOMPARE(r.status, 400);
        QCOMPARE(r.errorCode(), QStringLiteral("invalid_json"));
    }

    void rateLimitAnswers429WithRetryAfter() {
        for (int i = 0; i < 3; ++i) QCOMPARE(chat(gateway_->url(), limitedKey_, QStringLiteral("hi")).status, 200);
        const auto r = chat(gateway_->url(), limitedKey_, QStringLiteral("hi"));
        QCOMPARE(r.status, 429);
        QCOMPARE(r.errorCode(), QStringLiteral("rate_limited"));
        QCOMPARE(r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("rule")).toString(), QStringLiteral("rpm"));
        bool ok = false;
        const int retryAfter = r.header("retry-after").toInt(&ok);
        QVERIFY(ok);
        QVERIFY2(retryAfter >= 1 && retryAfter <= 60, r.header("retry-after").constData());
        // Refused requests do not count: still limited, not more so; others are unaffected.
        QCOMPARE(chat(gateway_->url(), limitedKey_, QStringLiteral("hi")).status, 429);
        QCOMPARE(chat(gateway_->url(), requesterKey_, QStringLiteral("hi")).status, 200);
    }

    // A held request does not count while it waits; once approved and released it reaches
    // the upstream, and counts: the caller's next request finds the minute's one request used.
    void aReleasedRequestCountsAgainstTheLimits() {
        const auto held = chat(gateway_->url(), approvedOnceKey_, QStringLiteral("falcon figures please"));
        QCOMPARE(held.errorCode(), QStringLiteral("review_required"));
        const auto id = held.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("review_id")).toString();
        QVERIFY(!id.isEmpty());
        QCOMPARE(httpRequest(gateway_->url(), "POST", "/api/reviews/" + id.toLatin1() + "/approve", {}, {{"Authorization", bearer(approverKey_)}}).status,
                 200);
        QCOMPARE(chat(gateway_->url(), approvedOnceKey_, QStringLiteral("falcon figures please")).status, 200);  // released
        const auto next = chat(gateway_->url(), approvedOnceKey_, QStringLiteral("hi"));
        QCOMPARE(next.status, 429);
        QCOMPARE(next.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("rule")).toString(), QStringLiteral("rpm-one"));
    }

    void budgetsAnswer429AndSurviveARestart() {
        // About 20 estimated tokens per request: the third passes 50.
        const QString prompt = QStringLiteral("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen");
        QCOMPARE(chat(gateway_->url(), budgetKey_, prompt).status, 200);
        QCOMPARE(chat(gateway_->url(), budgetKey_, prompt).status, 200);
        auto r = chat(gateway_->url(), budgetKey_, prompt);
        QCOMPARE(r.status, 429);
        QCOMPARE(r.errorCode(), QStringLiteral("budget_exhausted"));
        const int retryAfter = r.header("retry-after").toInt();
        QVERIFY(retryAfter >= 1 && retryAfter <= 86400);

        // Killed without a chance to flush: the counts written in the background survive.
        QTest::qWait(2500);
        gateway_->process().kill();
        gateway_->process().waitForFinished(5000);
        gateway_.reset();
        QVERIFY(restartGateway());
        r = chat(gateway_->url(), budgetKey_, QStringLiteral("hi"));
        QCOMPARE(r.status, 429);
        QCOMPARE(r.errorCode(), QStringLiteral("budget_exhausted"));
        // And after a clean stop too.
        QVERIFY(restartGateway());
        QCOMPARE(chat(gateway_->url(), budgetKey_, QStringLiteral("hi")).errorCode(), QStringLiteral("budget_exhausted"));
        QCOMPARE(chat(gateway_->url(), requesterKey_, QStringLiteral("hi")).status, 200);
    }

    void metricsCountDecisions() {
        const auto allow = metric(gateway_->url(), "vigil_policy_decisions_total{action=\"allow\"} ");
        const auto deny = metric(gateway_->url(), "vigil_policy_decisions_total{action=\"deny\"} ");
        QVERIFY(allow.toInt() >= 1);
        QVERIFY(deny.toInt() >= 1);
        QVERIFY(!metric(gateway_->url(), "vigil_policy_info{version=\"sha256:").isEmpty());
    }

    void aChangedFileIsReloaded() {
        const auto before = policyVersionInForce();
        QByteArray changed = QByteArray(kPolicy).replace("\"topsecret\"", "\"classified\"");
        QVERIFY(writeFile(policyPath(), changed));
        QTRY_VERIFY_WITH_TIMEOUT(policyVersionInForce() != before, 5000);
        QCOMPARE(chat(gateway_->url(), requesterKey_, QStringLiteral("the topsecret plan")).status, 200);
        QCOMPARE(chat(gateway_->url(), requesterKey_, QStringLiteral("classified")).errorCode(), QStringLiteral("policy_denied"));
        QCOMPARE(metric(gateway_->url(), "vigil_policy_reloads_total{result=\"loaded\"} "), QStringLiteral("1"));
        const auto reloaded = gateway_->logLines(QStringLiteral("policy reloaded"));
        QCOMPARE(reloaded.size(), 1);
        QCOMPARE(reloaded[0].value(QStringLiteral("trigger")).toString(), QStringLiteral("file change"));
        QCOMPARE(reloaded[0].value(QStringLiteral("previous_version")).toString(), before);
    }

    void anInvalidFileIsRefusedAndTheOldPolicyStays() {
        const auto before = policyVersionInForce();
        QVERIFY(writeFile(policyPath(), "{\n  \"rules\": [\n    {\"id\": \"x\", \"action\": \"alow\"}\n  ]\n}\n"));
        QTRY_VERIFY_WITH_TIMEOUT(!gateway_->logLines(QStringLiteral("policy reload refused")).isEmpty(), 5000);
        const auto refused = gateway_->logLines(QStringLiteral("policy reload refused")).first();
        QVERIFY2(refused.value(QStringLiteral("first_error")).toString().endsWith(
                     QStringLiteral("policy.json:3:27: rules[0].action: must be one of allow, deny, review (got \"alow\")")),
                 qPrintable(refused.value(QStringLiteral("first_error")).toString()));
        QCOMPARE(refused.value(QStringLiteral("kept_version")).toString(), before);
        QCOMPARE(metric(gateway_->url(), "vigil_policy_reloads_total{result=\"refused\"} "), QStringLiteral("1"));
        QCOMPARE(policyVersionInForce(), before);
        QCOMPARE(chat(gateway_->url(), requesterKey_, QStringLiteral("classified")).errorCode(), QStringLiteral("policy_denied"));
        // Fixing the file loads it.
        QVERIFY(writeFile(policyPath(), kPolicy));
        QTRY_VERIFY_WITH_TIMEOUT(policyVersionInForce() != before, 5000);
    }

    void sighupReloads() {
        QVERIFY(restartGateway(/*watch=*/false));
        const auto before = policyVersionInForce();
        QByteArray changed = QByteArray(kPolicy).replace("\"falcon\"", "\"eagle\"");
        QVERIFY(writeFile(policyPath(), changed));
        QTest::qWait(800);
        QCOMPARE(policyVersionInForce(), before);  // not watching: nothing changes
        ::kill(static_cast<pid_t>(gateway_->process().processId()), SIGHUP);
        QTRY_VERIFY_WITH_TIMEOUT(policyVersionInForce() != before, 5000);
        QCOMPARE(chat(gateway_->url(), requesterKey_, QStringLiteral("eagle")).errorCode(), QStringLiteral("review_required"));
        QCOMPARE(gateway_->logLines(QStringLiteral("policy reloaded")).first().value(QStringLiteral("trigger")).toString(),
                 QStringLiteral("SIGHUP"));
        QVERIFY(gateway_->isRunning());
        QVERIFY(writeFile(policyPath(), kPolicy));
        QVERIFY(restartGateway());
    }

    void reloadUnderLoad() {
        // Policy A allows "flip"; policy B denies it. Clients send without pause while the
        // file flips between A, B and invalid text; every answer must come from one whole
        // policy: 200 under A's version, 403 flip-denied under B's, and nothing else.
        const QByteArray policyA = kPolicy;
        const QByteArray policyB = QByteArray(kPolicy).replace("\"topsecret\"", "\"flip\"");
        QVERIFY(writeFile(policyPath(), policyA));
        QTRY_VERIFY_WITH_TIMEOUT(!policyVersionInForce().isEmpty(), 5000);
        const QString versionA = policyVersionInForce();

        std::atomic<bool> stop{false};
        std::mutex mutex;
        QStringList problems;
        QSet<QString> versionsSeen;
        std::atomic<int> answered{0};
        const QString url = gateway_->url();
        const QByteArray auth = bearer(requesterKey_);
        std::vector<std::thread> clients;
        for (int t = 0; t < 4; ++t) {
            clients.emplace_back([&] {
                RawHttpConnection connection{QUrl(url)};
                while (!stop.load()) {
                    if (!connection.isConnected()) {
                        std::lock_guard lock(mutex);
                        problems << QStringLiteral("connection lost");
                        return;
                    }
                    const auto r = connection.request("POST", "/v1/chat/completions", chatBody(QStringLiteral("flip it")),
                                                      {{"Authorization", auth}});
                    const QString version = QString::fromLatin1(r.header("x-vigil-policy-version"));
                    std::lock_guard lock(mutex);
                    answered.fetch_add(1);
                    versionsSeen.insert(version);
                    if (r.status == 200 && version == versionA) continue;
                    if (r.status == 403 && version != versionA && r.errorCode() == QStringLiteral("policy_denied") &&
                        r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("rule")).toString() ==
                            QStringLiteral("no-secrets")) {
                        continue;
                    }
                    problems << QStringLiteral("status %1 version %2 body %3").arg(r.status).arg(version, QString::fromLatin1(r.body));
                    if (r.status == 0) return;
                }
            });
        }
        QElapsedTimer timer;
        timer.start();
        int flips = 0;
        while (timer.elapsed() < 6000) {
            const QByteArray& next = flips % 2 == 0 ? policyB : policyA;
            if (flips % 3 == 2) {
                // A broken write, left in place until the gateway has refused it (however
                // long the poller takes on a loaded machine).
                const int refused = metric(url, "vigil_policy_reloads_total{result=\"refused\"} ").toInt();
                QVERIFY(writeInPlace(policyPath(), "{ \"rules\": [ broken"));
                QTRY_VERIFY_WITH_TIMEOUT(metric(url, "vigil_policy_reloads_total{result=\"refused\"} ").toInt() > refused, 10000);
            }
            QVERIFY(flips % 2 == 0 ? writeInPlace(policyPath(), next) : writeFile(policyPath(), next));
            QTest::qWait(400);
            ++flips;
        }
        stop.store(true);
        for (auto& c : clients) c.join();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.mid(0, 5).join(QLatin1Char('\n'))));
        QVERIFY(answered.load() > 100);
        // Both policies served requests: the reloads happened under load.
        versionsSeen.remove(versionA);
        QCOMPARE(versionsSeen.size(), 1);
        QVERIFY(metric(url, "vigil_policy_reloads_total{result=\"loaded\"} ").toInt() >= 6);
        QVERIFY(metric(url, "vigil_policy_reloads_total{result=\"refused\"} ").toInt() >= 1);
        QVERIFY(writeFile(policyPath(), kPolicy));
    }

    void anInvalidPolicyStopsTheStart() {
        QTemporaryDir dir;
        QVERIFY(writeFile(dir.filePath(QStringLiteral("policy.json")),
                          "{\n  \"rules\": [\n    {\"id\": \"a\", \"match\": {\"model\": [\"x\"]}, \"action\": \"allow\"}\n  ]\n}\n"));
        auto c = basicGatewayConfig(mock_->url());
        c.insert(QStringLiteral("policy"), QJsonObject{{QStringLiteral("file"), QStringLiteral("policy.json")}});
        QFile f(dir.filePath(QStringLiteral("gateway.json")));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QJsonDocument(c).toJson());
        f.close();
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("VIGIL_TEST_UPSTREAM_KEY"), kUpstreamKey);
        ManagedProcess gateway(QStringLiteral(VIGIL_GATEWAY_BIN),
                               {QStringLiteral("--config"), dir.filePath(QStringLiteral("gateway.json"))}, env);
        QCOMPARE(gateway.runToExit(), 2);
        QVERIFY2(gateway.stderrText().contains("policy.json:3:27: rules[0].match.model: unknown key: did you mean \"models\"?"),
                 gateway.stderrText().constData());
    }

    void policyCheckCommand() {
        auto good = runGatewayCli({QStringLiteral("policy"), QStringLiteral("check"), policyPath()});
        QCOMPARE(good.exitCode, 0);
        QVERIFY2(good.out.contains(": ok: 6 rules, 2 patterns, default deny, version sha256:"), good.out.constData());

        QTemporaryDir dir;
        const auto bad = dir.filePath(QStringLiteral("bad.json"));
        QVERIFY(writeFile(bad, "{\n  \"default_action\": \"block\",\n  \"rules\": [\n    {\"id\": \"a\", \"if\": {\"regex\": {\"pattern\": \"(\"}}, \"action\": \"deny\"},\n    {\"id\": \"a\", \"action\": \"allow\"}\n  ]\n}\n"));
        auto result = runGatewayCli({QStringLiteral("policy"), QStringLiteral("check"), bad});
        QCOMPARE(result.exitCode, 1);
        const auto lines = QString::fromUtf8(result.out).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 4);
        QVERIFY2(lines[0].startsWith(bad + QStringLiteral(":2:21: default_action: must be \"deny\" or \"allow\"")), qPrintable(lines[0]));
        QVERIFY2(lines[1].startsWith(bad + QStringLiteral(":4:45: rules[0].if.regex.pattern: cannot compile:")), qPrintable(lines[1]));
        QVERIFY2(lines[2].startsWith(bad + QStringLiteral(":5:12: rules[1].id: duplicate rule id \"a\"")), qPrintable(lines[2]));
        QCOMPARE(lines[3], bad + QStringLiteral(": 3 errors"));

        QCOMPARE(runGatewayCli({QStringLiteral("policy"), QStringLiteral("check"), dir.filePath(QStringLiteral("missing.json"))}).exitCode, 1);
        QCOMPARE(runGatewayCli({QStringLiteral("policy"), QStringLiteral("check")}).exitCode, 2);
    }

    void policyExplainCommand() {
        QTemporaryDir dir;
        const auto id = dir.filePath(QStringLiteral("id.json"));
        const auto req = dir.filePath(QStringLiteral("req.json"));
        QVERIFY(writeFile(id, "{\"subject\": \"alice\", \"groups\": [\"engineering\"], \"roles\": [\"requester\"]}"));
        QVERIFY(writeFile(req, "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": \"what about Falcon and topsecret?\"}]}"));
        auto r = runGatewayCli({QStringLiteral("policy"), QStringLiteral("explain"), QStringLiteral("--policy"), policyPath(),
                                QStringLiteral("--identity"), id, QStringLiteral("--request"), req});
        QCOMPARE(r.exitCode, 0);
        const QString out = QString::fromUtf8(r.out);
        QVERIFY2(out.contains(QStringLiteral("model       gpt-4o")), qPrintable(out));
        QVERIFY2(out.contains(QStringLiteral("MATCHED   requesters (line 5) -> allow")), qPrintable(out));
        QVERIFY2(out.contains(QStringLiteral("MATCHED   no-secrets (line 6) -> deny")), qPrintable(out));
        QVERIFY2(out.contains(QStringLiteral("matched messages[0] (user), ending 'what about Falcon and topsecret'")), qPrintable(out));
        QVERIFY2(out.contains(QStringLiteral("no match  rpm (line 10) -> deny")), qPrintable(out));
        QVERIFY2(out.contains(QStringLiteral("no  subjects [apikey:limited]: caller is 'alice'")), qPrintable(out));
        QVERIFY2(out.contains(QStringLiteral("Decision\n  deny by no-secrets\n  answer      403 policy_denied: no secrets here")), qPrintable(out));

        // --json, with usage that trips the rate limit for the limited caller.
        QVERIFY(writeFile(id, "{\"subject\": \"apikey:limited\", \"roles\": [\"requester\"], \"method\": \"api_key\"}"));
        QVERIFY(writeFile(req, "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}"));
        r = runGatewayCli({QStringLiteral("policy"), QStringLiteral("explain"), QStringLiteral("--policy"), policyPath(),
                           QStringLiteral("--identity"), id, QStringLiteral("--request"), req, QStringLiteral("--requests-last-minute"),
                           QStringLiteral("3"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        const auto doc = QJsonDocument::fromJson(r.out).object();
        const auto decision = doc.value(QStringLiteral("decision")).toObject();
        QCOMPARE(decision.value(QStringLiteral("action")).toString(), QStringLiteral("deny"));
        QCOMPARE(decision.value(QStringLiteral("code")).toString(), QStringLiteral("rate_limited"));
        QCOMPARE(decision.value(QStringLiteral("http_status")).toInt(), 429);
        QCOMPARE(decision.value(QStringLiteral("rules")).toArray(), QJsonArray{QStringLiteral("rpm")});
        QVERIFY(decision.value(QStringLiteral("retry_after_seconds")).toInt() >= 1);
        QCOMPARE(doc.value(QStringLiteral("rules")).toArray().size(), 6);  // every rule of the policy, each with its checks

        // A body the inspect stage refuses is reported as the gateway would answer it.
        QVERIFY(writeFile(req, "{\"model\": 5}"));
        r = runGatewayCli({QStringLiteral("policy"), QStringLiteral("explain"), QStringLiteral("--policy"), policyPath(),
                           QStringLiteral("--identity"), id, QStringLiteral("--request"), req});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains("400 invalid_request"), r.out.constData());
        // Missing arguments are a usage error.
        QCOMPARE(runGatewayCli({QStringLiteral("policy"), QStringLiteral("explain"), QStringLiteral("--policy"), policyPath()}).exitCode, 2);
    }
};

QTEST_GUILESS_MAIN(TestPolicyGateway)
#include "tst_policy_gateway.moc"

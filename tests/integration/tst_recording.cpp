// The recording in the real gateway: the events of buffered and streaming requests (in
// order, with monotone offsets, the recorded reply equal to what the client received), no
// credential anywhere in the database or the logs, the sessions API (roles, filters,
// keyset paging, bad parameters, stats, chain status), the public key command with the
// offline verifier, a SIGKILL under load, and a full disk (file-size limit) answered with
// 503 recording_unavailable and recovered from.

#include <QDir>
#include <QDirIterator>
#include <QHash>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QSet>
#include <QTest>
#include <QThread>
#include <QUrlQuery>
#include <QWebSocket>
#include <atomic>
#include <mutex>
#include <sys/resource.h>
#include <thread>

#include "managed_process.h"
#include "raw_http.h"

using namespace vigil::test;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-upstream-recording-test-9876");

const char* const kPolicy =
    "{\n"
    "  \"default_action\": \"allow\",\n"
    "  \"rules\": [\n"
    "    {\"id\": \"no-secrets\", \"if\": {\"keywords\": {\"words\": [\"topsecret\"]}}, \"action\": \"deny\",\n"
    "     \"message\": \"no secrets here\"}\n"
    "  ]\n"
    "}\n";

QByteArray bearer(const QString& key) { return "Bearer " + key.toLatin1(); }

struct RunResult {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

RunResult run(const QString& program, const QStringList& args) {
    QProcess p;
    p.start(program, args);
    p.waitForFinished(60000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

// The recorded reply: every response.chunk's data, in order.
QByteArray recordedReply(const QJsonArray& events) {
    QByteArray out;
    for (const auto& e : events) {
        const auto o = e.toObject();
        if (o.value(QStringLiteral("type")).toString() == QStringLiteral("response.chunk")) {
            out += o.value(QStringLiteral("payload")).toObject().value(QStringLiteral("data")).toString().toUtf8();
        }
    }
    return out;
}

QStringList typesOf(const QJsonArray& events) {
    QStringList out;
    for (const auto& e : events) out << e.toObject().value(QStringLiteral("type")).toString();
    return out;
}

QByteArray readWhole(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

}  // namespace

class TestRecording : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<ManagedProcess> mock_;
    std::unique_ptr<ManagedProcess> gateway_;
    QString requesterKey_, auditorKey_, adminKey_, otherRequesterKey_;
    QStringList gatewayLogs_;  // logs of gateways that were stopped

    QString dbPath() const { return dir_.filePath(QStringLiteral("vigil.db")); }

    QJsonObject config() const {
        auto c = basicGatewayConfig(mock_->url());
        auto connections = c.value(QStringLiteral("connections")).toObject();
        auto mock = connections.value(QStringLiteral("mock")).toObject();
        mock.insert(QStringLiteral("allowed_roles"), QJsonArray{QStringLiteral("requester"), QStringLiteral("auditor")});
        connections.insert(QStringLiteral("mock"), mock);
        c.insert(QStringLiteral("connections"), connections);
        c.insert(QStringLiteral("policy"), QJsonObject{{QStringLiteral("file"), QStringLiteral("policy.json")}});
        // Small checkpoint settings, so the tests see several checkpoints.
        c.insert(QStringLiteral("recording"), QJsonObject{{QStringLiteral("checkpoint_every"), 50},
                                                          {QStringLiteral("checkpoint_interval_ms"), 200}});
        return c;
    }

    bool startGatewayProcess() {
        gateway_ = startGateway(dir_, config(), kUpstreamKey);
        return gateway_ != nullptr;
    }

    void stopGateway(bool kill = false) {
        if (!gateway_) return;
        if (kill) {
            gateway_->process().kill();
            gateway_->process().waitForFinished(10000);
        } else {
            QCOMPARE(gateway_->terminate(), 0);
        }
        gatewayLogs_ << QString::fromUtf8(gateway_->logText() + gateway_->stderrText());
        gateway_.reset();
    }

    HttpResponse api(const QByteArray& path, const QString& key) {
        return httpRequest(gateway_->url(), "GET", path, {}, {{"Authorization", bearer(key)}});
    }

    QJsonObject session(const QString& id) {
        const auto r = api("/api/sessions/" + QUrl::toPercentEncoding(id), auditorKey_);
        return r.status == 200 ? r.json() : QJsonObject();
    }

    // The gateway answers before its writer thread may have run the last batch in relaxed
    // mode; in strict mode (the default here) the session is complete once the client has
    // the answer. This waits only for events recorded after the answer (client.disconnected).
    QJsonArray eventsOf(const QString& id) {
        return session(id).value(QStringLiteral("events")).toArray();
    }

    // Every series of the gateway's /metrics at one moment: series (with labels) -> value.
    QHash<QByteArray, double> metrics() {
        QHash<QByteArray, double> values;
        for (const auto& line : httpRequest(gateway_->url(), "GET", "/metrics").body.split('\n')) {
            const auto space = line.lastIndexOf(' ');
            if (line.startsWith('#') || space <= 0) continue;
            values.insert(line.left(space), line.mid(space + 1).toDouble());
        }
        return values;
    }
    double metric(const QByteArray& series) { return metrics().value(series, -1); }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        mock_ = startMockUpstream(kUpstreamKey, {QStringLiteral("--token-delay-ms"), QStringLiteral("3")});
        QVERIFY(mock_);
        requesterKey_ = createApiKey(dbPath(), QStringLiteral("alice"), QStringLiteral("requester"));
        auditorKey_ = createApiKey(dbPath(), QStringLiteral("audrey"), QStringLiteral("auditor"));
        adminKey_ = createApiKey(dbPath(), QStringLiteral("root"), QStringLiteral("admin"));
        otherRequesterKey_ = createApiKey(dbPath(), QStringLiteral("bruno"), QStringLiteral("requester"));
        QVERIFY(!otherRequesterKey_.isEmpty());
        QVERIFY(!requesterKey_.isEmpty() && !auditorKey_.isEmpty() && !adminKey_.isEmpty());
        QFile policy(dir_.filePath(QStringLiteral("policy.json")));
        QVERIFY(policy.open(QIODevice::WriteOnly));
        policy.write(kPolicy);
        policy.close();
        QVERIFY(startGatewayProcess());
    }

    void cleanupTestCase() { stopGateway(); }

    void aBufferedRequestIsRecordedAsDelivered() {
        const QByteArray body = chatBody(QStringLiteral("What is the capital of France?"));
        const auto r = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", body,
                                   {{"Authorization", bearer(requesterKey_)}, {"Cookie", "sid=cookie-value-77"}});
        QCOMPARE(r.status, 200);
        const QString id = QString::fromLatin1(r.header("x-vigil-session"));
        QVERIFY(!id.isEmpty());
        QCOMPARE(id, QString::fromLatin1(r.header("x-request-id")));  // one session per request by default

        const auto s = session(id);
        const auto events = s.value(QStringLiteral("events")).toArray();
        QCOMPARE(typesOf(events), (QStringList{"request.received", "identity", "decision", "upstream.started",
                                               "response.started", "response.chunk", "request.completed"}));
        const auto received = events.at(0).toObject().value(QStringLiteral("payload")).toObject();
        QCOMPARE(received.value(QStringLiteral("body")).toString().toUtf8(), body);  // as forwarded
        QCOMPARE(received.value(QStringLiteral("model")).toString(), QStringLiteral("mock-gpt"));
        QCOMPARE(received.value(QStringLiteral("connection")).toString(), QStringLiteral("mock"));
        const auto identity = events.at(1).toObject().value(QStringLiteral("payload")).toObject();
        QCOMPARE(identity.value(QStringLiteral("subject")).toString(), QStringLiteral("apikey:alice"));
        QCOMPARE(identity.value(QStringLiteral("roles")).toArray(), QJsonArray{QStringLiteral("requester")});
        QCOMPARE(identity.value(QStringLiteral("method")).toString(), QStringLiteral("api_key"));
        const auto decision = events.at(2).toObject().value(QStringLiteral("payload")).toObject();
        QCOMPARE(decision.value(QStringLiteral("action")).toString(), QStringLiteral("allow"));
        QVERIFY(decision.value(QStringLiteral("policy_version")).toString().startsWith(QStringLiteral("sha256:")));
        QCOMPARE(recordedReply(events), r.body);
        const auto completed = events.last().toObject().value(QStringLiteral("payload")).toObject();
        QCOMPARE(completed.value(QStringLiteral("status")).toInt(), 200);
        QCOMPARE(completed.value(QStringLiteral("response_bytes")).toInteger(), r.body.size());
        QCOMPARE(completed.value(QStringLiteral("request_bytes")).toInteger(), body.size());
        // Events link: each carries the hash of the one before it in the whole chain.
        for (const auto& e : events) {
            QCOMPARE(e.toObject().value(QStringLiteral("hash")).toString().size(), 64);
        }
        const auto summary = s.value(QStringLiteral("session")).toObject();
        QCOMPARE(summary.value(QStringLiteral("subject")).toString(), QStringLiteral("apikey:alice"));
        QCOMPARE(summary.value(QStringLiteral("outcome")).toString(), QStringLiteral("completed"));
        QCOMPARE(summary.value(QStringLiteral("status")).toInt(), 200);
    }

    void aStreamIsRecordedEventByEventWithItsTiming() {
        RawHttpConnection connection{QUrl(gateway_->url())};
        const auto r = connection.request("POST", "/v1/chat/completions",
                                          chatBody(QStringLiteral("Tell me a story"), true),
                                          {{"Authorization", bearer(requesterKey_)}, {"X-Vigil-Session", "story-1"},
                                           // tokens 30 ms apart: far enough for the timing to show on a slow machine
                                           {"X-Mock-Token-Delay-Ms", "30"}});
        QCOMPARE(r.status, 200);
        QVERIFY(r.complete);
        QVERIFY(r.chunks.size() > 3);
        QCOMPARE(r.header("x-vigil-session"), QByteArray("story-1"));
        const auto events = eventsOf(QStringLiteral("story-1"));
        const auto types = typesOf(events);
        QCOMPARE(types.first(), QStringLiteral("request.received"));
        QCOMPARE(types.last(), QStringLiteral("request.completed"));
        QVERIFY(types.count(QStringLiteral("response.chunk")) >= 3);
        QCOMPARE(types.indexOf(QStringLiteral("response.started")), types.indexOf(QStringLiteral("upstream.started")) + 1);
        // In order, with monotone offsets from the start of the request.
        qint64 lastSeq = 0, lastOffset = -1;
        for (const auto& e : events) {
            const auto o = e.toObject();
            QVERIFY(o.value(QStringLiteral("seq")).toInteger() > lastSeq);
            lastSeq = o.value(QStringLiteral("seq")).toInteger();
            const auto payload = o.value(QStringLiteral("payload")).toObject();
            if (!payload.contains(QStringLiteral("offset_us"))) continue;
            const auto offset = payload.value(QStringLiteral("offset_us")).toInteger();
            QVERIFY2(offset >= lastOffset, qPrintable(QStringLiteral("offset %1 after %2").arg(offset).arg(lastOffset)));
            lastOffset = offset;
        }
        // The mock waits 30 ms between tokens: the recorded timing shows it.
        qint64 firstChunk = -1, lastChunk = -1;
        for (const auto& e : events) {
            const auto o = e.toObject();
            if (o.value(QStringLiteral("type")).toString() != QStringLiteral("response.chunk")) continue;
            const auto offset = o.value(QStringLiteral("payload")).toObject().value(QStringLiteral("offset_us")).toInteger();
            if (firstChunk < 0) firstChunk = offset;
            lastChunk = offset;
        }
        QVERIFY2(lastChunk - firstChunk >= 30000 * 2, qPrintable(QString::number(lastChunk - firstChunk)));
        QCOMPARE(recordedReply(events), r.body);
        QVERIFY(r.body.contains("data: [DONE]"));

        // A second request in the same conversation joins the session.
        const auto again = connection.request("POST", "/v1/chat/completions", chatBody(QStringLiteral("And then?")),
                                              {{"Authorization", bearer(requesterKey_)}, {"X-Vigil-Session", "story-1"},
                                           // tokens 30 ms apart: far enough for the timing to show on a slow machine
                                           {"X-Mock-Token-Delay-Ms", "30"}});
        QCOMPARE(again.status, 200);
        const auto s = session(QStringLiteral("story-1"));
        QCOMPARE(s.value(QStringLiteral("session")).toObject().value(QStringLiteral("requests")).toInt(), 2);
        QCOMPARE(s.value(QStringLiteral("requests")).toArray().size(), 2);
        QCOMPARE(typesOf(s.value(QStringLiteral("events")).toArray()).count(QStringLiteral("request.completed")), 2);
    }

    void deniedAndUnauthenticatedRequestsAreRecordedToo() {
        const auto denied = httpRequest(gateway_->url(), "POST", "/v1/chat/completions",
                                        chatBody(QStringLiteral("the topsecret plan")),
                                        {{"Authorization", bearer(requesterKey_)}});
        QCOMPARE(denied.status, 403);
        auto events = eventsOf(QString::fromLatin1(denied.header("x-vigil-session")));
        QCOMPARE(typesOf(events), (QStringList{"request.received", "identity", "decision", "response.started",
                                               "response.chunk", "request.completed"}));
        const auto decision = events.at(2).toObject().value(QStringLiteral("payload")).toObject();
        QCOMPARE(decision.value(QStringLiteral("action")).toString(), QStringLiteral("deny"));
        QCOMPARE(decision.value(QStringLiteral("rules")).toArray(), QJsonArray{QStringLiteral("no-secrets")});
        QCOMPARE(recordedReply(events), denied.body);
        const auto end = events.last().toObject().value(QStringLiteral("payload")).toObject();
        QCOMPARE(end.value(QStringLiteral("code")).toString(), QStringLiteral("policy_denied"));

        // No credentials: the attempt is recorded, its body is not (nobody vouches for it).
        const auto anonymous = httpRequest(gateway_->url(), "POST", "/v1/chat/completions",
                                           chatBody(QStringLiteral("hello")), {{"Authorization", "Bearer not-a-key"}});
        QCOMPARE(anonymous.status, 401);
        events = eventsOf(QString::fromLatin1(anonymous.header("x-vigil-session")));
        QCOMPARE(typesOf(events), (QStringList{"request.received", "response.started", "response.chunk", "request.completed"}));
        const auto received = events.first().toObject().value(QStringLiteral("payload")).toObject();
        QVERIFY(!received.contains(QStringLiteral("body")));
        QVERIFY(received.contains(QStringLiteral("body_omitted")));
    }

    void aBadSessionHeaderIsRefused() {
        const auto r = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hi")),
                                   {{"Authorization", bearer(requesterKey_)}, {"X-Vigil-Session", "bad session/id"}});
        QCOMPARE(r.status, 400);
        QCOMPARE(r.errorCode(), QStringLiteral("invalid_request"));
        QVERIFY(r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString().contains(
            QStringLiteral("X-Vigil-Session")));
        // Given empty, or twice: which one would count is a guess, so neither does.
        const auto empty = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hi")),
                                       {{"Authorization", bearer(requesterKey_)}, {"X-Vigil-Session", ""}});
        QCOMPARE(empty.status, 400);
        QVERIFY2(empty.body.contains("X-Vigil-Session is empty"), empty.body.constData());
        const auto twice = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hi")),
                                       {{"Authorization", bearer(requesterKey_)}, {"X-Vigil-Session", "dup-a"}, {"X-Vigil-Session", "dup-b"}});
        QCOMPARE(twice.status, 400);
        QVERIFY2(twice.body.contains("X-Vigil-Session may be given once"), twice.body.constData());
        const auto twoKeys = httpRequest(gateway_->url(), "GET", "/api/sessions?limit=1", {},
                                         {{"Authorization", bearer(auditorKey_)}, {"Authorization", bearer(requesterKey_)}});
        QCOMPARE(twoKeys.status, 400);
        QVERIFY2(twoKeys.body.contains("Authorization may be given once"), twoKeys.body.constData());
        // Nothing of them was recorded: no session by either name.
        QCOMPARE(api("/api/sessions/dup-a", auditorKey_).status, 404);
        QCOMPARE(api("/api/sessions/dup-b", auditorKey_).status, 404);
        // The public sign-in configuration answers GET only.
        const auto post = httpRequest(gateway_->url(), "POST", "/api/auth/config", "{}");
        QCOMPARE(post.status, 405);
        QCOMPARE(post.header("Allow"), QByteArray("GET, HEAD"));
        QCOMPARE(httpRequest(gateway_->url(), "GET", "/api/auth/config").status, 200);
    }

    // A conversation belongs to the caller that began it: another caller naming it is
    // refused (409, recorded in a session of its own), an unidentified one gets its own
    // session, and this holds after a restart (the owner is read back from the store). The
    // gateway's own session cannot be named.
    void aSessionBelongsToTheCallerThatBeganIt() {
        auto post = [&](const QString& key, const QByteArray& session) {
            return httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hello")),
                               {{"Authorization", bearer(key)}, {"X-Vigil-Session", session}});
        };
        QCOMPARE(post(requesterKey_, "conv-owned").status, 200);
        auto other = post(otherRequesterKey_, "conv-owned");
        QCOMPARE(other.status, 409);
        QCOMPARE(other.errorCode(), QStringLiteral("session_conflict"));
        QVERIFY(other.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString().contains(
            QStringLiteral("another caller")));
        QVERIFY(other.header("x-vigil-session") != "conv-owned");
        QCOMPARE(other.header("x-vigil-session"), other.header("x-request-id"));
        QCOMPARE(typesOf(eventsOf(QString::fromLatin1(other.header("x-vigil-session")))).last(), QStringLiteral("request.completed"));
        const auto anonymous = post(QStringLiteral("not-a-key"), "conv-owned");
        QCOMPARE(anonymous.status, 401);
        QCOMPARE(anonymous.header("x-vigil-session"), anonymous.header("x-request-id"));
        QCOMPARE(post(requesterKey_, "conv-owned").status, 200);
        // Nor through a request id: a client-chosen X-Request-Id is kept as the request's id,
        // but its session is a fresh one (not another caller's, not the gateway's).
        for (const auto& id : {QByteArray("conv-owned"), QByteArray("gateway")}) {
            const auto viaRequestId = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hello")),
                                                  {{"Authorization", bearer(otherRequesterKey_)}, {"X-Request-Id", id}});
            QCOMPARE(viaRequestId.status, 200);
            QCOMPARE(viaRequestId.header("x-request-id"), id);
            QVERIFY(!viaRequestId.header("x-vigil-session").isEmpty());
            QVERIFY(viaRequestId.header("x-vigil-session") != id);
            const auto anonymousViaId = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hello")),
                                                    {{"Authorization", "Bearer not-a-key"}, {"X-Request-Id", id}});
            QCOMPARE(anonymousViaId.status, 401);
            QVERIFY(anonymousViaId.header("x-vigil-session") != id);
        }

        const auto requests = session(QStringLiteral("conv-owned")).value(QStringLiteral("requests")).toArray();
        QCOMPARE(requests.size(), 2);
        for (const auto& r : requests) QCOMPARE(r.toObject().value(QStringLiteral("subject")).toString(), QStringLiteral("apikey:alice"));

        // After a restart the owner comes from the store.
        stopGateway();
        QVERIFY(startGatewayProcess());
        QCOMPARE(post(otherRequesterKey_, "conv-owned").errorCode(), QStringLiteral("session_conflict"));
        QCOMPARE(post(requesterKey_, "conv-owned").status, 200);
        QCOMPARE(post(otherRequesterKey_, "conv-of-bruno").status, 200);

        const auto reserved = post(requesterKey_, "gateway");
        QCOMPARE(reserved.status, 400);
        QVERIFY(reserved.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString().contains(
            QStringLiteral("reserved")));
    }

    // Requests the gateway cannot read are interactions too: answered, and recorded in a
    // session of their own (what was known: method, target, client; no body, no identity).
    void unreadableRequestsAreRecordedToo() {
        RawHttpConnection big{QUrl(gateway_->url())};
        QVERIFY(big.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: " + bearer(requesterKey_) +
                            "\r\nContent-Length: 999999999\r\n\r\n{\"model\":"));
        const auto tooLarge = big.readResponse();
        QCOMPARE(tooLarge.status, 413);
        QCOMPARE(tooLarge.errorCode(), QStringLiteral("body_too_large"));
        const auto session = QString::fromLatin1(tooLarge.header("x-vigil-session"));
        QVERIFY(!session.isEmpty());
        auto events = eventsOf(session);
        QCOMPARE(typesOf(events), (QStringList{"request.received", "response.started", "response.chunk", "request.completed"}));
        const auto received = events.first().toObject().value(QStringLiteral("payload")).toObject();
        QCOMPARE(received.value(QStringLiteral("method")).toString(), QStringLiteral("POST"));
        QCOMPARE(received.value(QStringLiteral("target")).toString(), QStringLiteral("/v1/chat/completions"));
        QVERIFY(!received.contains(QStringLiteral("body")));
        QCOMPARE(recordedReply(events), tooLarge.body);
        QCOMPARE(events.last().toObject().value(QStringLiteral("payload")).toObject().value(QStringLiteral("code")).toString(),
                 QStringLiteral("body_too_large"));

        RawHttpConnection garbage{QUrl(gateway_->url())};
        QVERIFY(garbage.sendRaw("GARBAGE\r\n\r\n"));
        const auto malformed = garbage.readResponse();
        QCOMPARE(malformed.status, 400);
        QCOMPARE(malformed.errorCode(), QStringLiteral("malformed_request"));
        events = eventsOf(QString::fromLatin1(malformed.header("x-vigil-session")));
        QCOMPARE(typesOf(events).last(), QStringLiteral("request.completed"));
        QCOMPARE(events.last().toObject().value(QStringLiteral("payload")).toObject().value(QStringLiteral("code")).toString(),
                 QStringLiteral("malformed_request"));
        QVERIFY(!events.first().toObject().value(QStringLiteral("payload")).toObject().value(QStringLiteral("client_address")).toString().isEmpty());

        // A target with raw bytes that are not ASCII: refused, and recorded byte for byte
        // (as base64url: it is not UTF-8), not with replacement characters.
        RawHttpConnection latin1{QUrl(gateway_->url())};
        const QByteArray target = "/v1/mod\xe9ls?x=\xff";
        QVERIFY(latin1.sendRaw("GET " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + bearer(requesterKey_) + "\r\n\r\n"));
        const auto nonAscii = latin1.readResponse();
        QCOMPARE(nonAscii.status, 400);
        QCOMPARE(nonAscii.errorCode(), QStringLiteral("malformed_request"));
        QVERIFY2(nonAscii.body.contains("ASCII"), nonAscii.body.constData());
        events = eventsOf(QString::fromLatin1(nonAscii.header("x-vigil-session")));
        QVERIFY(!events.isEmpty());
        const auto exact = events.first().toObject().value(QStringLiteral("payload")).toObject();
        QVERIFY(!exact.contains(QStringLiteral("target")));
        QCOMPARE(QByteArray::fromBase64(exact.value(QStringLiteral("target_base64url")).toString().toLatin1(),
                                        QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals),
                 target);
    }

    void theApiIsForAuditorsAndAdmins() {
        QCOMPARE(api("/api/sessions", auditorKey_).status, 200);
        QCOMPARE(api("/api/sessions", adminKey_).status, 200);
        const auto requester = api("/api/sessions", requesterKey_);
        QCOMPARE(requester.status, 403);
        QCOMPARE(requester.errorCode(), QStringLiteral("role_not_allowed"));
        const auto none = httpRequest(gateway_->url(), "GET", "/api/sessions");
        QCOMPARE(none.status, 401);
        QCOMPARE(none.errorCode(), QStringLiteral("missing_credentials"));
        QCOMPARE(api("/api/stats", requesterKey_).status, 403);
        QCOMPARE(api("/api/chain/status", requesterKey_).status, 403);
        QCOMPARE(api("/api/sessions/story-1", requesterKey_).status, 403);
        const auto post = httpRequest(gateway_->url(), "POST", "/api/sessions", "{}", {{"Authorization", bearer(auditorKey_)}});
        QCOMPARE(post.status, 405);
        const auto unknown = api("/api/nothing", auditorKey_);
        QCOMPARE(unknown.status, 404);
        QCOMPARE(api("/api/sessions/no-such-session", auditorKey_).status, 404);
        QCOMPARE(api("/api/sessions/no-such-session/events", auditorKey_).status, 404);
    }

    void badQueryParametersAreNamed_data() {
        QTest::addColumn<QByteArray>("path");
        QTest::addColumn<QString>("param");
        QTest::newRow("unknown") << QByteArray("/api/sessions?colour=red") << "colour";
        QTest::newRow("from") << QByteArray("/api/sessions?from=yesterday") << "from";
        QTest::newRow("to") << QByteArray("/api/sessions?to=2026-13-01T00:00:00Z") << "to";
        QTest::newRow("decision") << QByteArray("/api/sessions?decision=maybe") << "decision";
        QTest::newRow("status") << QByteArray("/api/sessions?status=abc") << "status";
        QTest::newRow("code") << QByteArray("/api/sessions?code=no_such_code") << "code";
        QTest::newRow("limit") << QByteArray("/api/sessions?limit=0") << "limit";
        QTest::newRow("limit-big") << QByteArray("/api/sessions?limit=100000") << "limit";
        QTest::newRow("cursor") << QByteArray("/api/sessions?cursor=zzz") << "cursor";
        QTest::newRow("order") << QByteArray("/api/sessions?order=sideways") << "order";
        QTest::newRow("twice") << QByteArray("/api/sessions?subject=a&subject=b") << "subject";
        QTest::newRow("subject-empty") << QByteArray("/api/sessions?subject=") << "subject";
        QTest::newRow("code-empty") << QByteArray("/api/sessions?code") << "code";
        QTest::newRow("stats-from-empty") << QByteArray("/api/stats?from=") << "from";
        QTest::newRow("events-after-twice") << QByteArray("/api/sessions/story-1/events?after=1&after=2") << "after";
        QTest::newRow("session_id-empty") << QByteArray("/api/sessions?session_id=page-1&session_id=") << "session_id";
        QTest::newRow("session_id-many") << QByteArray("/api/sessions?session_id=s").append(QByteArray("&session_id=s").repeated(500))
                                         << "session_id";
        QTest::newRow("after") << QByteArray("/api/sessions/story-1/events?after=-1") << "after";
        QTest::newRow("stats-range") << QByteArray("/api/stats?from=2026-11-22T10:00:00Z&to=2026-11-22T09:00:00Z") << "from";
    }
    void badQueryParametersAreNamed() {
        QFETCH(QByteArray, path);
        QFETCH(QString, param);
        const auto r = api(path, auditorKey_);
        QCOMPARE(r.status, 400);
        QCOMPARE(r.errorCode(), QStringLiteral("invalid_request"));
        QCOMPARE(r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("param")).toString(), param);
    }

    void sessionsAreFilteredAndPaged() {
        // Sessions of two callers, some denied.
        for (int i = 0; i < 5; ++i) {
            QCOMPARE(httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hello")),
                                 {{"Authorization", bearer(requesterKey_)}, {"X-Vigil-Session", "page-" + QByteArray::number(i)}})
                         .status,
                     200);
        }
        QCOMPARE(httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("topsecret")),
                             {{"Authorization", bearer(auditorKey_)}})
                     .status,
                 403);

        // Paging through everything, 2 at a time: every session once, newest first.
        QStringList seen;
        QByteArray path = "/api/sessions?limit=2";
        qint64 lastStarted = std::numeric_limits<qint64>::max();
        for (int pages = 0; pages < 100; ++pages) {
            const auto page = api(path, auditorKey_).json();
            const auto rows = page.value(QStringLiteral("sessions")).toArray();
            QVERIFY(rows.size() <= 2);
            for (const auto& row : rows) {
                const auto o = row.toObject();
                QVERIFY(o.value(QStringLiteral("started_us")).toInteger() <= lastStarted);
                lastStarted = o.value(QStringLiteral("started_us")).toInteger();
                seen << o.value(QStringLiteral("id")).toString();
            }
            const auto next = page.value(QStringLiteral("next_cursor"));
            if (next.isNull()) break;
            path = "/api/sessions?limit=2&cursor=" + QUrl::toPercentEncoding(next.toString());
        }
        const auto all = api("/api/sessions?limit=500", auditorKey_).json().value(QStringLiteral("sessions")).toArray();
        QCOMPARE(seen.size(), all.size());
        QCOMPARE(QSet<QString>(seen.begin(), seen.end()).size(), seen.size());
        for (int i = 0; i < 5; ++i) QVERIFY(seen.contains(QStringLiteral("page-%1").arg(i)));

        // The same, oldest first (order=asc): the same sessions, in the opposite order.
        QStringList ascending;
        path = "/api/sessions?limit=2&order=asc";
        for (int pages = 0; pages < 100; ++pages) {
            const auto page = api(path, auditorKey_).json();
            for (const auto& row : page.value(QStringLiteral("sessions")).toArray()) {
                ascending << row.toObject().value(QStringLiteral("id")).toString();
            }
            const auto next = page.value(QStringLiteral("next_cursor"));
            if (next.isNull()) break;
            path = "/api/sessions?limit=2&order=asc&cursor=" + QUrl::toPercentEncoding(next.toString());
        }
        QStringList reversed(seen.rbegin(), seen.rend());
        QCOMPARE(ascending, reversed);

        auto ids = [&](const QByteArray& query) {
            QStringList out;
            const auto r = api("/api/sessions?limit=500&" + query, auditorKey_);
            for (const auto& row : r.json().value(QStringLiteral("sessions")).toArray()) {
                out << row.toObject().value(QStringLiteral("id")).toString();
            }
            return out;
        };
        const auto denied = ids("decision=deny");
        QVERIFY(denied.size() >= 2);  // this one and the earlier topsecret request
        for (const auto& row : all) {
            const auto o = row.toObject();
            QCOMPARE(denied.contains(o.value(QStringLiteral("id")).toString()),
                     o.value(QStringLiteral("decision")).toString() == QStringLiteral("deny"));
        }
        const auto audrey = ids("subject=apikey:audrey");
        QCOMPARE(audrey.size(), 1);
        QVERIFY(denied.contains(audrey.first()));
        QCOMPARE(ids("subject=apikey:audrey&decision=allow").size(), 0);
        QVERIFY(ids("code=policy_denied") == denied);
        const auto unauthorized = ids("status=4xx");
        QVERIFY(unauthorized.size() >= 3);  // two denials, one 401
        QVERIFY(ids("status=401").size() >= 1);
        // Every session routed to the connection (requests the gateway could not read have none).
        QStringList routed;
        for (const auto& row : all) {
            if (row.toObject().value(QStringLiteral("connection")).toString() == QStringLiteral("mock")) {
                routed << row.toObject().value(QStringLiteral("id")).toString();
            }
        }
        QVERIFY(routed.size() >= all.size() - 3);
        QCOMPARE(ids("connection=mock"), routed);
        QCOMPARE(ids("model=mock-gpt").contains(QStringLiteral("page-3")), true);
        // Given sessions (how those on a reader's screen stand now): those that exist, in order,
        // and with the other filters still applied.
        QCOMPARE(ids("session_id=page-1&session_id=no-such-session&session_id=page-3"),
                 QStringList({QStringLiteral("page-3"), QStringLiteral("page-1")}));
        QCOMPARE(ids("session_id=page-1&session_id=page-3&order=asc"), QStringList({QStringLiteral("page-1"), QStringLiteral("page-3")}));
        QCOMPARE(ids("session_id=page-1&decision=deny"), QStringList());
        QCOMPARE(ids("session_id=" + QUrl::toPercentEncoding(audrey.first())), audrey);
        QCOMPARE(ids("model=other-model").size(), 0);
        // A time range: the future holds nothing; the last hour holds everything.
        QCOMPARE(ids("from=2099-01-01T00:00:00Z").size(), 0);
        const auto hourAgo = QDateTime::currentDateTimeUtc().addSecs(-3600).toString(Qt::ISODate).toLatin1();
        QCOMPARE(ids("from=" + hourAgo).size(), all.size());
        QCOMPARE(ids("to=" + hourAgo).size(), 0);

        // The events of a session, page by page.
        const auto first = api("/api/sessions/story-1/events?limit=3", auditorKey_).json();
        const auto firstEvents = first.value(QStringLiteral("events")).toArray();
        QCOMPARE(firstEvents.size(), 3);
        const auto after = first.value(QStringLiteral("next_after")).toInteger();
        QCOMPARE(after, firstEvents.last().toObject().value(QStringLiteral("seq")).toInteger());
        const auto rest = api("/api/sessions/story-1/events?after=" + QByteArray::number(after), auditorKey_).json();
        QCOMPARE(firstEvents.size() + rest.value(QStringLiteral("events")).toArray().size(), eventsOf(QStringLiteral("story-1")).size());
    }

    void statsCountRequestsByDecisionConnectionAndHour() {
        const auto stats = api("/api/stats", auditorKey_).json();
        const auto byDecision = stats.value(QStringLiteral("by_decision")).toObject();
        QVERIFY(byDecision.value(QStringLiteral("allow")).toInt() >= 8);
        QVERIFY(byDecision.value(QStringLiteral("deny")).toInt() >= 2);
        qint64 total = 0;
        for (const auto& v : byDecision) total += v.toInteger();
        QCOMPARE(total, stats.value(QStringLiteral("requests")).toInteger());
        qint64 byConnection = 0;
        for (const auto& v : stats.value(QStringLiteral("by_connection")).toObject()) byConnection += v.toInteger();
        QCOMPARE(byConnection, total);
        QVERIFY(stats.value(QStringLiteral("by_connection")).toObject().value(QStringLiteral("mock")).toInteger() >= total - 3);
        qint64 hourly = 0;
        for (const auto& h : stats.value(QStringLiteral("by_hour")).toArray()) hourly += h.toObject().value(QStringLiteral("requests")).toInteger();
        QCOMPARE(hourly, total);
        const auto none = api("/api/stats?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z", auditorKey_).json();
        QCOMPARE(none.value(QStringLiteral("requests")).toInt(), 0);
    }

    void theChainVerifiesOnlineAndOffline() {
        const auto status = api("/api/chain/status", auditorKey_).json();
        QCOMPARE(status.value(QStringLiteral("ok")).toBool(), true);
        QVERIFY(status.value(QStringLiteral("head_seq")).toInteger() > 30);
        QCOMPARE(status.value(QStringLiteral("verified_through")).toInteger(), status.value(QStringLiteral("head_seq")).toInteger());
        QVERIFY(status.value(QStringLiteral("checkpoints")).toInt() >= 1);
        QCOMPARE(status.value(QStringLiteral("unsigned_events")).toInteger(),
                 status.value(QStringLiteral("head_seq")).toInteger() - status.value(QStringLiteral("signed_through")).toInteger());
        QCOMPARE(status.value(QStringLiteral("signed_at_start")).toArray().size(), 0);  // no run was killed yet

        const QString pubkey = dir_.filePath(QStringLiteral("gateway-public.pem"));
        const auto exported = run(QStringLiteral(VIGIL_GATEWAY_BIN),
                                  {QStringLiteral("recording"), QStringLiteral("public-key"), QStringLiteral("--config"),
                                   dir_.filePath(QStringLiteral("gateway.json")), QStringLiteral("--out"), pubkey});
        QVERIFY2(exported.exitCode == 0, exported.err.constData());
        QVERIFY(readWhole(pubkey).startsWith("-----BEGIN PUBLIC KEY-----"));
        QCOMPARE(status.value(QStringLiteral("key_id")).toString().size(), 64);
        QVERIFY(exported.out.contains(status.value(QStringLiteral("key_id")).toString().toLatin1()));
        // The private key file is private.
        const QFileInfo key(dir_.filePath(QStringLiteral("signing-key.pem")));
        QVERIFY(key.exists());
        QCOMPARE(key.permissions() & (QFileDevice::ReadGroup | QFileDevice::ReadOther), QFileDevice::Permissions());

        // The running gateway's own file: its newest events may not be signed yet.
        const auto verified = run(QStringLiteral(VIGIL_VERIFY_BIN), {QStringLiteral("verify"), QStringLiteral("--db"), dbPath(),
                                                                    QStringLiteral("--pubkey"), pubkey, QStringLiteral("--live")});
        QVERIFY2(verified.exitCode == 0, verified.out.constData());
        QVERIFY(verified.out.startsWith("OK: "));

        // A copy whose newest checkpoint is gone: its last events are not proven.
        const QString copy = dir_.filePath(QStringLiteral("unproven.db"));
        const auto copied = run(QStringLiteral("python3"),
                                {QStringLiteral("-c"),
                                 QStringLiteral("import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); "
                                                "s.backup(d); d.execute('DELETE FROM checkpoints WHERE seq=(SELECT max(seq) FROM checkpoints)'); "
                                                "d.commit(); d.close()"),
                                 dbPath(), copy});
        QVERIFY2(copied.exitCode == 0, copied.err.constData());
        const auto unproven = run(QStringLiteral(VIGIL_VERIFY_BIN),
                                  {QStringLiteral("verify"), QStringLiteral("--db"), copy, QStringLiteral("--pubkey"), pubkey});
        QCOMPARE(unproven.exitCode, 1);
        QVERIFY2(unproven.out.startsWith("NOT PROVEN: ") && unproven.out.contains("no checkpoint signs them"),
                 unproven.out.constData());
        // The copy was read without a trace: no -wal or -shm files were made beside it.
        QVERIFY(!QFile::exists(copy + QStringLiteral("-wal")) && !QFile::exists(copy + QStringLiteral("-shm")));
        const auto live = run(QStringLiteral(VIGIL_VERIFY_BIN), {QStringLiteral("verify"), QStringLiteral("--db"), copy,
                                                                 QStringLiteral("--pubkey"), pubkey, QStringLiteral("--live")});
        QVERIFY2(live.exitCode == 0 && live.out.contains("not yet signed (--live)"), live.out.constData());
        // --live tolerates a gateway's unsigned tail, not checkpoints deleted to turn signed
        // history into one (any rewrite then passed with the real key): none left at all, or
        // more unsigned events than a gateway leaves, is not proven; no events proves nothing;
        // a rollback journal beside the copy (what every other reader would see) is refused.
        const auto copyWith = [&](const QString& name, const QString& sql) {
            const QString path = dir_.filePath(name);
            const auto made = run(QStringLiteral("python3"),
                                  {QStringLiteral("-c"),
                                   QStringLiteral("import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); "
                                                  "s.backup(d); d.executescript(sys.argv[3]); d.commit(); d.close()"),
                                   dbPath(), path, sql});
            return made.exitCode == 0 ? path : QString();
        };
        const auto verify = [&](const QString& path, QStringList more) {
            return run(QStringLiteral(VIGIL_VERIFY_BIN), QStringList{QStringLiteral("verify"), QStringLiteral("--db"), path,
                                                                     QStringLiteral("--pubkey"), pubkey} + more);
        };
        const auto noCheckpoint = copyWith(QStringLiteral("no-checkpoint.db"), QStringLiteral("DELETE FROM checkpoints;"));
        QVERIFY(!noCheckpoint.isEmpty());
        auto r = verify(noCheckpoint, {QStringLiteral("--live")});
        QVERIFY2(r.exitCode == 1 && r.out.startsWith("NOT PROVEN: ") && r.out.contains("no checkpoint at all"), r.out.constData());
        const auto firstOnly = copyWith(QStringLiteral("first-checkpoint.db"),
                                        QStringLiteral("DELETE FROM checkpoints WHERE seq > (SELECT min(seq) FROM checkpoints);"));
        r = verify(firstOnly, {QStringLiteral("--live"), QStringLiteral("--max-unsigned"), QStringLiteral("5")});
        QVERIFY2(r.exitCode == 1 && r.out.contains("more than --max-unsigned 5"), r.out.constData());
        QCOMPARE(verify(firstOnly, {QStringLiteral("--live")}).exitCode, 0);  // within the default 2000
        const auto emptied = copyWith(QStringLiteral("emptied.db"), QStringLiteral("DELETE FROM events; DELETE FROM checkpoints;"));
        r = verify(emptied, {});
        QVERIFY2(r.exitCode == 1 && r.out.startsWith("NOT PROVEN: the database holds no events"), r.out.constData());
        const auto journaled = copyWith(QStringLiteral("journaled.db"), QString());
        QFile journal(journaled + QStringLiteral("-journal"));
        QVERIFY(journal.open(QIODevice::WriteOnly) && journal.write(QByteArray(512, 'j')) == 512);
        journal.close();
        r = verify(journaled, {});
        QVERIFY2(r.exitCode == 1 && r.out.contains("a rollback journal (journaled.db-journal) lies beside the database"), r.out.constData());
        // A --pubkey that holds no key is a usage error, not a fallback to the stored key.
        const QString empty = dir_.filePath(QStringLiteral("empty.pem"));
        QFile(empty).open(QIODevice::WriteOnly);
        const auto noKey = run(QStringLiteral(VIGIL_VERIFY_BIN),
                               {QStringLiteral("verify"), QStringLiteral("--db"), copy, QStringLiteral("--pubkey"), empty});
        QCOMPARE(noKey.exitCode, 2);
        QVERIFY2(noKey.err.contains("holds no Ed25519 public key"), noKey.err.constData());
        // The first events deleted: the break is at the start, nothing verified before it
        // (the count said the whole rest of the chain).
        const QString cut = dir_.filePath(QStringLiteral("cut.db"));
        QVERIFY(run(QStringLiteral("python3"),
                    {QStringLiteral("-c"),
                     QStringLiteral("import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); "
                                    "s.backup(d); d.execute('DELETE FROM events WHERE seq<=3'); d.commit(); d.close()"),
                     dbPath(), cut})
                    .exitCode == 0);
        const auto broken = run(QStringLiteral(VIGIL_VERIFY_BIN), {QStringLiteral("verify"), QStringLiteral("--db"), cut,
                                                                   QStringLiteral("--pubkey"), pubkey});
        QCOMPARE(broken.exitCode, 1);
        QVERIFY2(broken.out.startsWith("BROKEN at event 4: events 1 to 3 are missing") &&
                     broken.out.contains("\n0 events verified before it"),
                 broken.out.constData());
        // A FIFO given as the database: a message, not a wait for ever.
        const QString fifo = dir_.filePath(QStringLiteral("fifo.db"));
        QVERIFY(run(QStringLiteral("mkfifo"), {fifo}).exitCode == 0);
        const auto notAFile = run(QStringLiteral(VIGIL_VERIFY_BIN), {QStringLiteral("verify"), QStringLiteral("--db"), fifo});
        QCOMPARE(notAFile.exitCode, 1);
        QVERIFY2(notAFile.out.contains("not a regular file"), notAFile.out.constData());
    }

    void noCredentialIsEverStored() {
        // A token-shaped credential that is not a key, and a cookie: neither may be stored.
        QCOMPARE(httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("x")),
                             {{"Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.client-token-abc.sig"}, {"Cookie", "s=cookie-secret-55"}})
                     .status,
                 401);
        stopGateway();  // flushes the WAL into the database file on close
        QByteArray everything;
        QDirIterator files(dir_.path(), QDir::Files, QDirIterator::Subdirectories);
        while (files.hasNext()) {
            const auto path = files.next();
            if (path.endsWith(QStringLiteral(".pem"))) continue;  // the signing key itself
            everything += readWhole(path);
        }
        everything += gatewayLogs_.join(QString()).toUtf8();
        QVERIFY(everything.size() > 10000);
        for (const QByteArray& secret : {kUpstreamKey.toLatin1(), requesterKey_.toLatin1(), auditorKey_.toLatin1(),
                                        adminKey_.toLatin1(), QByteArray("client-token-abc"), QByteArray("cookie-secret-55"),
                                        QByteArray("cookie-value-77")}) {
            QVERIFY2(!everything.contains(secret), secret.constData());
        }
        // The recording itself is there (the search looked at the right files).
        QVERIFY(everything.contains("What is the capital of France?"));
        QVERIFY(startGatewayProcess());
    }

    void theRecorderIsVisibleInMetrics() {
        const double eventsBefore = metric("vigil_recording_events_total");
        const double commitsBefore = metric("vigil_recording_commits_total{result=\"ok\"}");
        QVERIFY(eventsBefore >= 0);
        QCOMPARE(httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("metrics")),
                             {{"Authorization", bearer(requesterKey_)}})
                     .status,
                 200);
        // The request's events are committed before its answer (strict): counted already.
        QVERIFY(metric("vigil_recording_events_total") >= eventsBefore + 5);
        QVERIFY(metric("vigil_recording_commits_total{result=\"ok\"}") > commitsBefore);
        QCOMPARE(metric("vigil_recording_healthy"), 1.0);
        QCOMPARE(metric("vigil_recording_behind"), 0.0);
        QCOMPARE(metric("vigil_recording_commits_total{result=\"failed\"}"), 0.0);
        // One snapshot: the histogram is whole (+Inf counts every commit, buckets do not
        // decrease) and agrees with the commit counter.
        const auto m = metrics();
        QVERIFY(m.value("vigil_recording_committed_seq") >= m.value("vigil_recording_events_total"));
        const double count = m.value("vigil_recording_commit_seconds_count");
        QCOMPARE(m.value("vigil_recording_commit_seconds_bucket{le=\"+Inf\"}"), count);
        QCOMPARE(count, m.value("vigil_recording_commits_total{result=\"ok\"}"));
        QVERIFY(m.value("vigil_recording_commit_seconds_sum") > 0);
        QVERIFY(m.contains("vigil_recording_writer_spins_total{result=\"caught\"}"));
        QVERIFY(m.contains("vigil_recording_writer_spins_total{result=\"expired\"}"));
        double previous = 0;
        for (const char* le : {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                               "0.25", "1"}) {
            const auto key = QByteArray("vigil_recording_commit_seconds_bucket{le=\"") + le + "\"}";
            QVERIFY2(m.contains(key), key.constData());
            QVERIFY(m.value(key) >= previous);
            previous = m.value(key);
        }
        QVERIFY(previous <= count);
    }

    void aKilledGatewayLosesNoCompletedSession() {
        struct Completed {
            QString session;
            QByteArray body;
        };
        std::mutex mutex;
        QList<Completed> completed;
        std::atomic<bool> stop{false};
        const QString url = gateway_->url();
        const QByteArray auth = bearer(requesterKey_);
        std::vector<std::thread> clients;
        for (int t = 0; t < 4; ++t) {
            clients.emplace_back([&, t] {
                for (int i = 0; !stop.load(); ++i) {
                    RawHttpConnection connection{QUrl(url)};
                    if (!connection.isConnected()) return;  // the gateway is gone
                    const QByteArray id = "crash-" + QByteArray::number(t) + "-" + QByteArray::number(i);
                    const auto r = connection.request("POST", "/v1/chat/completions",
                                                      chatBody(QStringLiteral("load %1").arg(i), i % 2 == 0),
                                                      {{"Authorization", auth}, {"X-Vigil-Session", id}}, 5000);
                    if (r.status == 200 && r.complete) {
                        std::lock_guard lock(mutex);
                        completed.push_back({QString::fromLatin1(id), r.body});
                    }
                }
            });
        }
        // Load for at least 1.5 s and until more than 20 responses are complete (a slow
        // machine gets more time), then the kill.
        QTest::qWait(1500);
        (void)QTest::qWaitFor(
            [&] {
                std::lock_guard lock(mutex);
                return completed.size() > 20;
            },
            30000);
        stopGateway(/*kill=*/true);
        stop = true;
        for (auto& c : clients) c.join();
        QVERIFY2(completed.size() > 20, qPrintable(QString::number(completed.size())));
        qInfo("%lld requests completed before the SIGKILL", static_cast<long long>(completed.size()));

        QVERIFY(startGatewayProcess());
        const auto started = gateway_->logLines(QStringLiteral("recording"));
        QCOMPARE(started.size(), 1);
        // Index rows the kill lost (if the index was behind at that moment; it depends on
        // timing) are rebuilt from the events at start, once. tst_recorder covers the rebuild
        // row by row; here the sessions API below must find every completed request.
        const auto rebuilt = gateway_->logLines(QStringLiteral("recording index rebuilt"));
        QVERIFY(rebuilt.size() <= 1);
        qInfo("index rebuilt at start: %s",
              rebuilt.isEmpty() ? "no (it was up to date)"
                                : QJsonDocument(rebuilt.first()).toJson(QJsonDocument::Compact).constData());
        for (const auto& c : completed) {
            const auto s = session(c.session);
            QCOMPARE(s.value(QStringLiteral("session")).toObject().value(QStringLiteral("outcome")).toString(),
                     QStringLiteral("completed"));
            QCOMPARE(s.value(QStringLiteral("requests")).toArray().size(), 1);
            const auto events = s.value(QStringLiteral("events")).toArray();
            const auto types = typesOf(events);
            QVERIFY2(types.contains(QStringLiteral("request.completed")), qPrintable(c.session + ": " + types.join(',')));
            QCOMPARE(types.first(), QStringLiteral("request.received"));
            QCOMPARE(recordedReply(events), c.body);
        }
        // Requests cut off by the kill are marked interrupted, not left open.
        const auto open = api("/api/sessions?limit=500", auditorKey_).json().value(QStringLiteral("sessions")).toArray();
        for (const auto& row : open) {
            QVERIFY(row.toObject().value(QStringLiteral("outcome")).toString() != QStringLiteral("in_progress"));
        }
        const auto status = api("/api/chain/status", auditorKey_).json();
        QVERIFY2(status.value(QStringLiteral("ok")).toBool(), qPrintable(status.value(QStringLiteral("problem")).toString()));
        const auto verified = run(QStringLiteral(VIGIL_VERIFY_BIN), {QStringLiteral("verify"), QStringLiteral("--db"), dbPath(),
                                                                    QStringLiteral("--live")});
        QVERIFY2(verified.exitCode == 0, verified.out.constData());
        // What the killed run had not signed, the restart signed, and the verifier says so.
        const auto adopted = gateway_->logLines(QStringLiteral("recording found unsigned events"));
        qInfo("unsigned events at the restart: %s", adopted.isEmpty() ? "none" : QJsonDocument(adopted.first()).toJson(QJsonDocument::Compact).constData());
        if (!adopted.isEmpty()) {
            const auto from = adopted.first().value(QStringLiteral("from_seq")).toInteger();
            const auto to = adopted.first().value(QStringLiteral("to_seq")).toInteger();
            QVERIFY2(verified.out.contains(QStringLiteral("note: events %1 to %2 were signed only when the gateway started again")
                                               .arg(from).arg(to).toLatin1()),
                     verified.out.constData());
            // The gateway's own status names the stretch too.
            const auto stretches = status.value(QStringLiteral("signed_at_start")).toArray();
            QVERIFY2(stretches.contains(QJsonObject{{QStringLiteral("from_seq"), from}, {QStringLiteral("to_seq"), to}}),
                     QJsonDocument(status).toJson().constData());
        }
    }

    void aFullDiskIsAnswered503AndRecovered() {
        // The file-size limit (RLIMIT_FSIZE) stands in for a full disk: SQLite's writes fail
        // with EFBIG as they would with ENOSPC. The gateway ignores SIGXFSZ so it gets the error.
        const auto pid = static_cast<pid_t>(gateway_->process().processId());
        const qint64 current = std::max(QFileInfo(dbPath()).size(), QFileInfo(dbPath() + QStringLiteral("-wal")).size());
        struct rlimit limit {};
        limit.rlim_cur = static_cast<rlim_t>(current + 64 * 1024);
        limit.rlim_max = RLIM_INFINITY;
        QCOMPARE(::prlimit(pid, RLIMIT_FSIZE, &limit, nullptr), 0);

        // An auditor's console follows the requests' summaries meanwhile.
        QWebSocket events;
        QList<QJsonObject> summaries;
        connect(&events, &QWebSocket::textMessageReceived, this,
                [&](const QString& text) { summaries << QJsonDocument::fromJson(text.toUtf8()).object(); });
        QString eventsUrl = gateway_->url() + QStringLiteral("/api/events");
        eventsUrl.replace(QStringLiteral("http://"), QStringLiteral("ws://"));
        QNetworkRequest eventsRequest{QUrl(eventsUrl)};
        eventsRequest.setRawHeader("Authorization", bearer(auditorKey_));
        events.open(eventsRequest);
        QTRY_COMPARE(events.state(), QAbstractSocket::ConnectedState);
        const auto summaryOf = [&](const QString& type, const QString& session, int waitMs) -> QJsonObject {
            QJsonObject found;
            (void)QTest::qWaitFor([&] {
                for (const auto& m : summaries) {
                    const auto d = m.value(QStringLiteral("data")).toObject();
                    if (m.value(QStringLiteral("type")).toString() == type && d.value(QStringLiteral("session_id")).toString() == session) {
                        found = d;
                        return true;
                    }
                }
                return false;
            }, waitMs);
            return found;
        };
        const auto endOf = [&](const QString& session) { return summaryOf(QStringLiteral("session.ended"), session, 5000); };

        const QString big = QString(100000, QLatin1Char('x'));
        int served = 0;
        HttpResponse refused;
        QString refusedSession;
        QStringList servedSessions;
        for (int i = 0; i < 1000 && refused.status == 0; ++i) {
            const QByteArray id = "full-" + QByteArray::number(i);
            refusedSession = QString::fromLatin1(id);
            const auto r = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(big),
                                       {{"Authorization", bearer(requesterKey_)}, {"X-Vigil-Session", id}});
            if (r.status == 200) {
                ++served;
                servedSessions << QString::fromLatin1(id);
            } else {
                QCOMPARE(r.status, 503);
                refused = r;
            }
        }
        QCOMPARE(refused.status, 503);
        QCOMPARE(refused.errorCode(), QStringLiteral("recording_unavailable"));
        qInfo("%d requests served and recorded before the store filled up", served);
        QVERIFY(served > 0);
        // The live summaries say the same: the last served one completed. The refused one
        // either began recording and ended 503 with no outcome (the store never took its
        // end), or, when a write between requests (the index, a checkpoint) failed first, was
        // refused before anything was recorded: then no session began and none ends.
        QCOMPARE(endOf(servedSessions.last()).value(QStringLiteral("outcome")).toString(), QStringLiteral("completed"));
        if (!summaryOf(QStringLiteral("session.started"), refusedSession, 2000).isEmpty()) {
            const auto refusedEnd = endOf(refusedSession);
            QCOMPARE(refusedEnd.value(QStringLiteral("status")).toInt(), 503);
            QCOMPARE(refusedEnd.value(QStringLiteral("code")).toString(), QStringLiteral("recording_unavailable"));
            QVERIFY2(!refusedEnd.contains(QStringLiteral("outcome")), QJsonDocument(refusedEnd).toJson().constData());
        } else {
            qInfo("the store failed between requests: the refused one was not admitted");
            QVERIFY(summaryOf(QStringLiteral("session.ended"), refusedSession, 500).isEmpty());
        }
        events.close();
        // New requests are refused at once, and /readyz says why.
        const auto next = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("small")),
                                      {{"Authorization", bearer(requesterKey_)}});
        QCOMPARE(next.status, 503);
        QCOMPARE(next.errorCode(), QStringLiteral("recording_unavailable"));
        const auto ready = httpRequest(gateway_->url(), "GET", "/readyz");
        QCOMPARE(ready.status, 503);
        QCOMPARE(ready.json().value(QStringLiteral("status")).toString(), QStringLiteral("recording_unavailable"));
        QVERIFY(!gateway_->logLines(QStringLiteral("recording failed")).isEmpty());
        QCOMPARE(metric("vigil_recording_healthy"), 0.0);
        // The first failed write may have been the index's; the chain's retry (every
        // second) fails too while the disk is full, and is counted.
        QTRY_VERIFY_WITH_TIMEOUT(metric("vigil_recording_commits_total{result=\"failed\"}") >= 1, 5000);
        // ... about once a second, not in a loop (it spun: thousands of signed, failed commits
        // a second, a whole core), and an auditor reading the recording meanwhile is answered
        // from what was committed (the read waited for a flush that never came, and held an
        // I/O thread, /readyz and /metrics with it, until space returned).
        const double failedBefore = metric("vigil_recording_commits_total{result=\"failed\"}");
        QElapsedTimer reading;
        reading.start();
        const auto stats = httpRequest(gateway_->url(), "GET", "/api/stats", {}, {{"Authorization", bearer(auditorKey_)}}, 3000);
        QVERIFY2(stats.status != 0, "the recording API did not answer while the store fails");
        QVERIFY2(reading.elapsed() < 2000, qPrintable(QString::number(reading.elapsed())));
        for (int i = 0; i < 3; ++i) {
            const auto sessions = httpRequest(gateway_->url(), "GET", "/api/sessions?limit=5", {}, {{"Authorization", bearer(auditorKey_)}}, 3000);
            QVERIFY(sessions.status != 0);
        }
        QCOMPARE(httpRequest(gateway_->url(), "GET", "/readyz", {}, {}, 3000).status, 503);
        QTest::qWait(2000);
        const double failedAfter = metric("vigil_recording_commits_total{result=\"failed\"}");
        QVERIFY2(failedAfter - failedBefore <= 10, qPrintable(QStringLiteral("%1 failed commits in ~2 s").arg(failedAfter - failedBefore)));

        // Space returns: the gateway finds out by itself and serves again.
        limit.rlim_cur = RLIM_INFINITY;
        QCOMPARE(::prlimit(pid, RLIMIT_FSIZE, &limit, nullptr), 0);
        QElapsedTimer timer;
        timer.start();
        while (httpRequest(gateway_->url(), "GET", "/readyz").status != 200 && timer.elapsed() < 10000) QTest::qWait(100);
        QCOMPARE(httpRequest(gateway_->url(), "GET", "/readyz").status, 200);
        QCOMPARE(metric("vigil_recording_healthy"), 1.0);
        const auto after = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("back")),
                                       {{"Authorization", bearer(requesterKey_)}});
        QCOMPARE(after.status, 200);
        // Everything served before the failure is recorded; the gap itself is in the chain.
        for (const auto& id : servedSessions) {
            QVERIFY2(typesOf(eventsOf(id)).contains(QStringLiteral("request.completed")), qPrintable(id));
        }
        QVERIFY(typesOf(eventsOf(QStringLiteral("gateway"))).contains(QStringLiteral("recording.resumed")));
        const auto verified = run(QStringLiteral(VIGIL_VERIFY_BIN), {QStringLiteral("verify"), QStringLiteral("--db"), dbPath(),
                                                                    QStringLiteral("--live")});
        QVERIFY2(verified.exitCode == 0, verified.out.constData());
    }
};

QTEST_GUILESS_MAIN(TestRecording)
#include "tst_recording.moc"

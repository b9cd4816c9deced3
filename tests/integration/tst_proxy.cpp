// The gateway as a client sees it: real vigil-gateway and vigil-mock-upstream processes,
// real loopback sockets, every error path, and the gateway still serving after each.

#include <QElapsedTimer>
#include <QJsonArray>
#include <QRegularExpression>
#include <QJsonDocument>
#include <QTcpServer>
#include <QTest>

#include "managed_process.h"
#include "raw_http.h"
#include "raw_upstream.h"

using namespace vigil::test;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-upstream-7f3a9c1e5b2d4f60");
QByteArray kClientKey;  // a Vigil API key, created by initTestCase
const QByteArray kReply = "The quick brown fox jumps over the lazy dog again";

quint16 closedPort() {
    QTcpServer server;
    server.listen(QHostAddress::LocalHost, 0);
    const quint16 port = server.serverPort();
    server.close();
    return port;
}

// Concatenated delta contents of an OpenAI chat completion stream.
QString streamedText(const QByteArray& body) {
    QString text;
    for (const auto& line : body.split('\n')) {
        if (!line.startsWith("data: {")) continue;
        const auto chunk = QJsonDocument::fromJson(line.mid(6)).object();
        const auto delta = chunk.value(QStringLiteral("choices")).toArray().at(0).toObject().value(
            QStringLiteral("delta")).toObject();
        text += delta.value(QStringLiteral("content")).toString();
    }
    return text;
}

// A chat completion whose reply text is `text`, as a whole HTTP response.
QByteArray chatAnswer(const QByteArray& text) {
    const QByteArray body = R"({"id":"chatcmpl-raw","object":"chat.completion","created":1,"model":"mock-gpt","choices":[{"index":0,"message":{"role":"assistant","content":")" +
                            text + R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})";
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body;
}

QString replyText(const HttpResponse& r) {
    return r.json().value(QStringLiteral("choices")).toArray().at(0).toObject().value(QStringLiteral("message")).toObject()
        .value(QStringLiteral("content")).toString();
}

}  // namespace

class TestProxy : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    // Upstreams the mock cannot imitate: early hints before each answer (echoing the
    // caller's "who-..." word), a close without an answer, a reset after the second request
    // on a connection.
    RawUpstream hints_{[](int, const QByteArray& request) {
        static const QRegularExpression who(QStringLiteral("who-[a-z0-9]+"));
        const auto word = who.match(QString::fromLatin1(request)).captured().toLatin1();
        return RawUpstream::Reply{"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" + chatAnswer("answer for " + word)};
    }};
    RawUpstream drop_{[](int, const QByteArray&) { return RawUpstream::Reply{{}, RawUpstream::Then::Close}; }};
    RawUpstream flaky_{[](int nth, const QByteArray&) {
        return nth == 1 ? RawUpstream::Reply{chatAnswer("first on its connection")} : RawUpstream::Reply{{}, RawUpstream::Then::Reset, 100};
    }};
    std::unique_ptr<ManagedProcess> mock_;
    std::unique_ptr<ManagedProcess> gateway_;
    QString url_;

    // A request with the test's API key, unless the caller brings its own Authorization.
    HttpResponse call(const QByteArray& method, const QByteArray& path, const QByteArray& body = {},
                      QList<QPair<QByteArray, QByteArray>> headers = {}, int timeoutMs = 15000) {
        const bool hasAuth = std::any_of(headers.begin(), headers.end(), [](const auto& h) {
            return h.first.compare("authorization", Qt::CaseInsensitive) == 0;
        });
        if (!hasAuth) headers.append({"Authorization", "Bearer " + kClientKey});
        return httpRequest(url_, method, path, body, headers, timeoutMs);
    }

    QJsonObject lastUpstreamRequest() {
        return httpRequest(mock_->url(), "GET", "/_mock/last-request").json();
    }

    void verifyStillServing() {
        const auto r = call("GET", "/v1/models", {}, {{"Authorization", "Bearer " + kClientKey}});
        QCOMPARE(r.status, 200);
        QVERIFY(r.json().value(QStringLiteral("data")).toArray().size() > 0);
    }

private slots:
    void initTestCase() {
        mock_ = startMockUpstream(kUpstreamKey, {QStringLiteral("--reply"), QString::fromLatin1(kReply)});
        QVERIFY(mock_);
        auto config = basicGatewayConfig(mock_->url());
        auto connections = config.value(QStringLiteral("connections")).toObject();
        auto slow = connections.value(QStringLiteral("mock")).toObject();
        // (first_byte_ms generous enough that a slow machine's mock still answers its head in
        // time for the idle-stream test; the slow-first-byte test waits 10 s to exceed it.)
        slow.insert(QStringLiteral("timeouts"), QJsonObject{{QStringLiteral("first_byte_ms"), 1000},
                                                            {QStringLiteral("idle_ms"), 400}});
        connections.insert(QStringLiteral("slow"), slow);
        auto brief = connections.value(QStringLiteral("mock")).toObject();
        brief.insert(QStringLiteral("timeouts"), QJsonObject{{QStringLiteral("total_ms"), 700}});
        connections.insert(QStringLiteral("brief"), brief);
        auto dead = connections.value(QStringLiteral("mock")).toObject();
        dead.insert(QStringLiteral("base_url"), QStringLiteral("http://127.0.0.1:%1").arg(closedPort()));
        connections.insert(QStringLiteral("dead"), dead);
        auto scoped = connections.value(QStringLiteral("mock")).toObject();
        scoped.insert(QStringLiteral("organization"), QStringLiteral("org-vigil"));
        scoped.insert(QStringLiteral("project"), QStringLiteral("proj_vigil"));
        connections.insert(QStringLiteral("scoped"), scoped);
        QVERIFY(hints_.listening() && drop_.listening() && flaky_.listening());
        for (const auto& [name, raw] : {std::pair{"hints", &hints_}, std::pair{"drop", &drop_}, std::pair{"flaky", &flaky_}}) {
            auto c = connections.value(QStringLiteral("mock")).toObject();
            c.insert(QStringLiteral("base_url"), raw->url());
            connections.insert(QLatin1String(name), c);
        }
        config.insert(QStringLiteral("connections"), connections);
        // A whole request must arrive within 1.5 s of its first byte (slow senders are cut off).
        config.insert(QStringLiteral("timeouts"), QJsonObject{{QStringLiteral("client_request_ms"), 1500}});
        config.insert(QStringLiteral("limits"), QJsonObject{{QStringLiteral("max_body_bytes"), 8192},
                                                            {QStringLiteral("max_header_bytes"), 4096},
                                                            {QStringLiteral("max_response_bytes"), 4096}});
        kClientKey = createApiKey(dir_.filePath(QStringLiteral("vigil.db")), QStringLiteral("proxy-test"),
                                  QStringLiteral("requester")).toLatin1();
        QVERIFY(kClientKey.startsWith("vgl_"));
        gateway_ = startGateway(dir_, config, kUpstreamKey);
        QVERIFY(gateway_);
        url_ = gateway_->url();
    }

    void cleanupTestCase() {
        if (gateway_) QCOMPARE(gateway_->terminate(), 0);
    }

    void nonStreamingChatIsRelayedWithTheUpstreamCredential() {
        const auto r = call("POST", "/v1/chat/completions", chatBody(QStringLiteral("hello")),
                                   {{"Authorization", "Bearer " + kClientKey}, {"Cookie", "session=abc"}});
        QCOMPARE(r.status, 200);
        QCOMPARE(r.header("content-type"), QByteArray("application/json"));
        const auto message = r.json().value(QStringLiteral("choices")).toArray().at(0).toObject().value(
            QStringLiteral("message")).toObject();
        QCOMPARE(message.value(QStringLiteral("content")).toString(), QString::fromLatin1(kReply));
        QVERIFY(!r.header("x-request-id").isEmpty());

        // The upstream got the connection's credential, never the client's, nor its cookie.
        const auto seen = lastUpstreamRequest();
        const auto headers = seen.value(QStringLiteral("headers")).toObject();
        QCOMPARE(headers.value(QStringLiteral("authorization")).toString(), QStringLiteral("Bearer ") + kUpstreamKey);
        QVERIFY(!headers.contains(QStringLiteral("cookie")));
        QCOMPARE(headers.value(QStringLiteral("x-request-id")).toString(), QString::fromLatin1(r.header("x-request-id")));
        QVERIFY(!QJsonDocument(seen).toJson().contains(kClientKey));
        // The client never sees the upstream credential.
        QVERIFY(!r.body.contains(kUpstreamKey.toLatin1()));
        for (const auto& h : r.headers) QVERIFY(!h.second.contains(kUpstreamKey.toLatin1()));
    }

    // The caller's other credentials, the organization and project the injected credential
    // would act for, and forwarding fields stay behind; a connection sets its own.
    void callerFieldsDoNotSteerTheCredential() {
        const QList<QPair<QByteArray, QByteArray>> steering{
            {"OpenAI-Organization", "org-someone-else"}, {"OpenAI-Project", "proj_other"}, {"api-key", "azure-caller-key"},
            {"x-api-key", "caller-key"}, {"X-Forwarded-For", "10.9.9.9"}, {"Forwarded", "for=10.9.9.9;host=evil"},
            {"X-Forwarded-Host", "evil"}, {"X-Real-IP", "10.9.9.9"}, {"X-Custom-Trace", "kept"}};
        QCOMPARE(call("POST", "/v1/chat/completions", chatBody(QStringLiteral("hello")), steering).status, 200);
        auto headers = lastUpstreamRequest().value(QStringLiteral("headers")).toObject();
        for (const char* name : {"openai-organization", "openai-project", "api-key", "x-api-key", "x-forwarded-for",
                                 "forwarded", "x-forwarded-host", "x-real-ip"}) {
            QVERIFY2(!headers.contains(QLatin1String(name)), name);
        }
        QCOMPARE(headers.value(QStringLiteral("x-custom-trace")).toString(), QStringLiteral("kept"));
        QCOMPARE(call("POST", "/scoped/v1/chat/completions", chatBody(QStringLiteral("hello")), steering).status, 200);
        headers = lastUpstreamRequest().value(QStringLiteral("headers")).toObject();
        QCOMPARE(headers.value(QStringLiteral("openai-organization")).toString(), QStringLiteral("org-vigil"));
        QCOMPARE(headers.value(QStringLiteral("openai-project")).toString(), QStringLiteral("proj_vigil"));
    }

    void streamingIsRelayedEventByEventAsItArrives() {
        const auto r = call("POST", "/v1/chat/completions", chatBody(QStringLiteral("hi"), true),
                                   {{"Authorization", "Bearer " + kClientKey}, {"X-Mock-Token-Delay-Ms", "150"}});
        QCOMPARE(r.status, 200);
        QVERIFY(r.chunked);
        QVERIFY(r.header("content-type").startsWith("text/event-stream"));
        QCOMPARE(streamedText(r.body), QString::fromLatin1(kReply));
        QVERIFY(r.body.endsWith("data: [DONE]\n\n"));
        // 10 tokens 150 ms apart: the first arrive long before the last (no buffering), and
        // every chunk the client gets is one or more whole events.
        QVERIFY2(r.chunks.size() >= 10, qPrintable(QString::number(r.chunks.size())));
        QVERIFY2(r.chunkArrivalMs.last() - r.chunkArrivalMs.first() >= 1000,
                 qPrintable(QStringLiteral("%1..%2").arg(r.chunkArrivalMs.first()).arg(r.chunkArrivalMs.last())));
        for (const auto& chunk : r.chunks) QVERIFY2(chunk.endsWith("\n\n"), chunk.constData());
    }

    void namedConnectionRoutes() {
        const auto r = call("GET", "/mock/v1/models");
        QCOMPARE(r.status, 200);
        QCOMPARE(lastUpstreamRequest().value(QStringLiteral("target")).toString(), QStringLiteral("/v1/models"));
    }

    void embeddingsAreRelayed() {
        const auto r = call("POST", "/v1/embeddings",
                                   "{\"model\":\"mock-embedding\",\"input\":[\"a\",\"b\"]}");
        QCOMPARE(r.status, 200);
        QCOMPARE(r.json().value(QStringLiteral("data")).toArray().size(), 2);
    }

    void validClientRequestIdIsKept() {
        const auto kept = call("GET", "/v1/models", {}, {{"X-Request-Id", "trace-123.abc"}});
        QCOMPARE(kept.header("x-request-id"), QByteArray("trace-123.abc"));
        const auto replaced = call("GET", "/v1/models", {}, {{"X-Request-Id", "bad id!"}});
        QVERIFY(replaced.header("x-request-id") != "bad id!");
        QCOMPARE(replaced.header("x-request-id").size(), 32);
    }

    void keepAliveServesSeveralRequestsOnOneConnection() {
        RawHttpConnection connection{QUrl(url_)};
        QVERIFY(connection.isConnected());
        for (int i = 0; i < 3; ++i) {
            const auto r = connection.request("POST", "/v1/chat/completions", chatBody(QStringLiteral("n")),
                                              {{"Authorization", "Bearer " + kClientKey}});
            QCOMPARE(r.status, 200);
            QVERIFY(r.complete);
        }
        const auto stream = connection.request("POST", "/v1/chat/completions", chatBody(QStringLiteral("s"), true),
                                               {{"Authorization", "Bearer " + kClientKey}});
        QCOMPARE(stream.status, 200);
        QVERIFY(stream.complete);
        QCOMPARE(connection.request("GET", "/healthz").status, 200);
    }

    void chunkedRequestBodyIsAccepted() {
        RawHttpConnection connection{QUrl(url_)};
        const QByteArray body = chatBody(QStringLiteral("echo me back"));
        const QByteArray half1 = body.left(10), half2 = body.mid(10);
        QByteArray raw = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "X-Mock-Echo: 1\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer " + kClientKey + "\r\n\r\n";
        raw += QByteArray::number(half1.size(), 16) + "\r\n" + half1 + "\r\n";
        raw += QByteArray::number(half2.size(), 16) + "\r\n" + half2 + "\r\n0\r\n\r\n";
        QVERIFY(connection.sendRaw(raw));
        const auto r = connection.readResponse();
        QCOMPARE(r.status, 200);
        QVERIFY(r.body.contains("echo me back"));
        QCOMPARE(lastUpstreamRequest().value(QStringLiteral("body_bytes")).toInt(), body.size());
    }

    void unknownConnectionIs404() {
        const auto r = call("GET", "/nope/v1/models");
        QCOMPARE(r.status, 404);
        QCOMPARE(r.errorCode(), QStringLiteral("unknown_connection"));
        QVERIFY(r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString().contains(
            QStringLiteral("nope")));
        verifyStillServing();
    }

    void unroutedPathIs404() {
        const auto r = call("GET", "/admin");
        QCOMPARE(r.status, 404);
        QCOMPARE(r.errorCode(), QStringLiteral("not_found"));
    }

    void bodyOverTheLimitIs413() {
        const QByteArray big(9000, 'x');
        const auto r = call("POST", "/v1/chat/completions", big);
        QCOMPARE(r.status, 413);
        QCOMPARE(r.errorCode(), QStringLiteral("body_too_large"));
        // Chunked bodies are counted as they arrive.
        RawHttpConnection connection{QUrl(url_)};
        QByteArray raw = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         "Authorization: Bearer " + kClientKey + "\r\n\r\n";
        for (int i = 0; i < 3; ++i) raw += "1000\r\n" + QByteArray(4096, 'y') + "\r\n";
        raw += "0\r\n\r\n";
        QVERIFY(connection.sendRaw(raw));
        const auto chunked = connection.readResponse();
        QCOMPARE(chunked.status, 413);
        QCOMPARE(chunked.errorCode(), QStringLiteral("body_too_large"));
        verifyStillServing();
    }

    void headersOverTheLimitAre431() {
        const auto r = call("GET", "/v1/models", {}, {{"X-Big", QByteArray(6000, 'h')}});
        QCOMPARE(r.status, 431);
        QCOMPARE(r.errorCode(), QStringLiteral("headers_too_large"));
        verifyStillServing();
    }

    void malformedRequestsAre400_data() {
        QTest::addColumn<QByteArray>("raw");
        QTest::newRow("garbage") << QByteArray("GARBAGE\r\n\r\n");
        QTest::newRow("bad version") << QByteArray("GET /v1/models HTTP/9.9x\r\nHost: x\r\n\r\n");
        QTest::newRow("bad content-length") << QByteArray("POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
        QTest::newRow("dot segments") << QByteArray("GET /v1/../admin HTTP/1.1\r\nHost: x\r\n\r\n");
        // Python upstreams decode %2F and drop a fragment: the policy would see another API.
        QTest::newRow("encoded slash") << QByteArray("POST /v1/chat%2Fcompletions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
        QTest::newRow("fragment") << QByteArray("POST /v1/chat/completions#x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
        QTest::newRow("raw UTF-8 in the path") << QByteArray("GET /v1/mod\xc3\xa9ls HTTP/1.1\r\nHost: x\r\n\r\n");
        QTest::newRow("raw byte in the query") << QByteArray("GET /v1/models?q=\xff HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    void malformedRequestsAre400() {
        QFETCH(QByteArray, raw);
        RawHttpConnection connection{QUrl(url_)};
        QVERIFY(connection.sendRaw(raw));
        const auto r = connection.readResponse();
        QCOMPARE(r.status, 400);
        QCOMPARE(r.errorCode(), QStringLiteral("malformed_request"));
        verifyStillServing();
    }

    // A Transfer-Encoding other than exactly "chunked" leaves the body's length unknown
    // (RFC 9112 6.3): taken for an empty body, what follows would be read as a second,
    // smuggled request. Refused with 400, and the connection closed before the rest is read.
    void unsupportedTransferEncodingsAreRefused_data() {
        QTest::addColumn<QByteArray>("encoding");
        QTest::newRow("unknown coding") << QByteArray("xchunked");
        QTest::newRow("gzip") << QByteArray("gzip");
        QTest::newRow("chunked not last") << QByteArray("chunked, identity");
        QTest::newRow("gzip then chunked") << QByteArray("gzip, chunked");
        QTest::newRow("chunked twice") << QByteArray("chunked, chunked");
        QTest::newRow("identity") << QByteArray("identity");
        QTest::newRow("with a Content-Length too") << QByteArray("chunked\r\nContent-Length: 5");
    }
    void unsupportedTransferEncodingsAreRefused() {
        QFETCH(QByteArray, encoding);
        RawHttpConnection connection{QUrl(url_)};
        const QByteArray smuggled = "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kClientKey + "\r\n\r\n";
        QVERIFY(connection.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + encoding +
                                   "\r\nAuthorization: Bearer " + kClientKey + "\r\n\r\n" + smuggled));
        const auto r = connection.readResponse();
        QCOMPARE(r.status, 400);
        QCOMPARE(r.errorCode(), QStringLiteral("malformed_request"));
        QVERIFY2(r.body.contains("Transfer-Encoding"), r.body.constData());
        QCOMPARE(r.header("Connection"), QByteArray("close"));
        QVERIFY(connection.waitForClose(5000));
        QCOMPARE(connection.readResponse(500).status, 0);  // the smuggled request got no answer
        verifyStillServing();
    }
    void chunkedInTwoFieldsIsRefusedToo() {
        RawHttpConnection connection{QUrl(url_)};
        QVERIFY(connection.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                   "Transfer-Encoding: chunked\r\nAuthorization: Bearer " + kClientKey + "\r\n\r\n0\r\n\r\n"));
        const auto r = connection.readResponse();
        QCOMPARE(r.status, 400);
        QCOMPARE(r.errorCode(), QStringLiteral("malformed_request"));
        // The message names the problem (it quoted an empty Transfer-Encoding before).
        QVERIFY2(r.body.contains("given twice") && !r.body.contains("\\\"\\\""), r.body.constData());
        verifyStillServing();
    }

    // Fields after a chunked body (trailers) do not count as header fields: an Authorization
    // or X-Vigil-Session sent last authenticated and named the session, unseen by any proxy
    // in front that checks headers, and other trailer fields reached the upstream.
    void trailerFieldsAreRefused() {
        const QByteArray body = chatBody(QStringLiteral("hello"));
        const QByteArray chunked = QByteArray::number(body.size(), 16) + "\r\n" + body + "\r\n0\r\n";
        RawHttpConnection connection{QUrl(url_)};
        QVERIFY(connection.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked +
                                   "Authorization: Bearer " + kClientKey + "\r\nX-Trailer-Smuggle: yes\r\n\r\n"));
        const auto r = connection.readResponse();
        QCOMPARE(r.status, 400);
        QCOMPARE(r.errorCode(), QStringLiteral("malformed_request"));
        QVERIFY2(r.body.contains("trailer fields"), r.body.constData());
        // Without trailers the same chunked request is served.
        RawHttpConnection plain{QUrl(url_)};
        QVERIFY(plain.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer " +
                              kClientKey + "\r\n\r\n" + chunked + "\r\n"));
        QCOMPARE(plain.readResponse().status, 200);
        verifyStillServing();
    }

    // Slowloris: a byte now and then kept a connection open for ever, since the timeout
    // applied to each read. The whole request must now arrive within client_request_ms of
    // its first byte; past it the client is told so (408) and the connection closed.
    void slowSendersAreCutOffWithA408_data() {
        QTest::addColumn<QByteArray>("start");
        QTest::addColumn<QByteArray>("trickle");
        QTest::newRow("headers a byte at a time")
            << QByteArray("GET /v1/models HTTP/1.1\r\nHost: x\r\n") << QByteArray("X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        QTest::newRow("body a byte at a time")
            << QByteArray("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Authorization: Bearer ") + kClientKey + "\r\nContent-Length: 200\r\n\r\n"
            << QByteArray("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"");
        QTest::newRow("chunk a byte at a time")
            << QByteArray("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                          "Authorization: Bearer ") + kClientKey + "\r\n\r\nc8\r\n"
            << QByteArray("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"");
    }
    void slowSendersAreCutOffWithA408() {
        QFETCH(QByteArray, start);
        QFETCH(QByteArray, trickle);
        RawHttpConnection connection{QUrl(url_)};
        QElapsedTimer timer;
        timer.start();
        QVERIFY(connection.sendRaw(start));
        HttpResponse r;
        // A byte every 250 ms: each read well within the limit, the request never whole.
        for (qsizetype i = 0; i < trickle.size() && r.status == 0; ++i) {
            if (!connection.sendRaw(trickle.mid(i, 1))) break;
            r = connection.readResponse(250);
        }
        if (r.status == 0) r = connection.readResponse(2000);
        const auto elapsed = timer.elapsed();
        QCOMPARE(r.status, 408);
        QCOMPARE(r.errorCode(), QStringLiteral("request_timeout"));
        QVERIFY2(r.body.contains("1500 ms"), r.body.constData());
        QVERIFY2(elapsed >= 1400 && elapsed < 6000, qPrintable(QString::number(elapsed)));
        QCOMPARE(r.header("Connection"), QByteArray("close"));
        QVERIFY(connection.waitForClose(2000));
        verifyStillServing();
    }
    // A connection that never sends a byte is closed without an answer (nobody asked).
    void aSilentConnectionIsClosedWithoutAnAnswer() {
        RawHttpConnection connection{QUrl(url_)};
        QVERIFY(connection.isConnected());
        QVERIFY(connection.waitForClose(4000));
        QCOMPARE(connection.readResponse(200).status, 0);
    }

    // Fields that a Connection header names are for one hop (RFC 9110 7.6.1): not passed to
    // the upstream, nor from the upstream to the client, also when named in a second
    // Connection field.
    void fieldsNamedInConnectionStayOnTheirHop() {
        RawHttpConnection connection{QUrl(url_)};
        const auto r = connection.request("GET", "/v1/models", {},
                                          {{"Authorization", "Bearer " + kClientKey},
                                           {"Connection", "keep-alive"},
                                           {"Connection", "X-Client-Hop"},
                                           {"X-Client-Hop", "secret for the gateway"},
                                           {"X-Passed-On", "yes"},
                                           {"X-Mock-Hop-Header", "X-Upstream-Hop"}});
        QCOMPARE(r.status, 200);
        const auto seen = lastUpstreamRequest().value(QStringLiteral("headers")).toObject();
        QCOMPARE(seen.value(QStringLiteral("x-passed-on")).toString(), QStringLiteral("yes"));
        QVERIFY2(!seen.contains(QStringLiteral("x-client-hop")), qPrintable(QJsonDocument(seen).toJson()));
        QVERIFY(r.header("X-Upstream-Hop").isEmpty());
        for (const auto& [name, value] : r.headers) QVERIFY2(!value.contains("hop only"), name.constData());
        QVERIFY2(r.header("Content-Type").startsWith("application/json"), r.body.constData());
    }

    void badBodiesAre400NamingTheProblem() {
        const auto notJson = call("POST", "/v1/chat/completions", "{\"model\": ");
        QCOMPARE(notJson.status, 400);
        QCOMPARE(notJson.errorCode(), QStringLiteral("invalid_json"));
        const auto wrongShape = call("POST", "/mock/v1/chat/completions", "{\"model\":\"m\",\"messages\":\"hi\"}");
        QCOMPARE(wrongShape.status, 400);
        QCOMPARE(wrongShape.errorCode(), QStringLiteral("invalid_request"));
        QVERIFY(wrongShape.body.contains("messages: must be a non-empty array"));
        verifyStillServing();
    }

    void refusedUpstreamIs502() {
        const auto r = call("POST", "/dead/v1/chat/completions", chatBody(QStringLiteral("x")));
        QCOMPARE(r.status, 502);
        QCOMPARE(r.errorCode(), QStringLiteral("upstream_unreachable"));
        QCOMPARE(r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("type")).toString(),
                 QStringLiteral("upstream_error"));
        verifyStillServing();
    }

    void slowFirstByteIs504() {
        QElapsedTimer timer;
        timer.start();
        const auto r = call("POST", "/slow/v1/chat/completions", chatBody(QStringLiteral("x")),
                                   {{"X-Mock-Fault", "slow-first-byte"}, {"X-Mock-First-Byte-Delay-Ms", "10000"}});
        QCOMPARE(r.status, 504);
        QCOMPARE(r.errorCode(), QStringLiteral("upstream_timeout"));
        QVERIFY2(timer.elapsed() >= 900 && timer.elapsed() < 8000, qPrintable(QString::number(timer.elapsed())));
        verifyStillServing();
    }

    void idleStreamEndsWithAnSseTimeoutEvent() {
        const auto r = call("POST", "/slow/v1/chat/completions", chatBody(QStringLiteral("x"), true),
                                   {{"X-Mock-Token-Delay-Ms", "1500"}});
        QCOMPARE(r.status, 200);
        QVERIFY(r.complete);  // the chunked stream is properly terminated
        QVERIFY2(r.body.contains("event: error\ndata: {"), r.body.constData());
        QVERIFY(r.body.contains("\"code\":\"upstream_timeout\""));
        QVERIFY(!r.body.contains("[DONE]"));
        verifyStillServing();
    }

    void streamOverTheTotalTimeLimitIsCut() {
        // Tokens keep coming every 100 ms (never idle), but the exchange may last 700 ms.
        QElapsedTimer timer;
        timer.start();
        const auto r = call("POST", "/brief/v1/chat/completions", chatBody(QStringLiteral("x"), true),
                                   {{"X-Mock-Token-Delay-Ms", "100"},
                                    {"X-Mock-Reply", "a b c d e f g h i j k l m n o p q r s t u v w x y z"}});
        QCOMPARE(r.status, 200);
        QVERIFY(r.complete);
        QVERIFY2(r.body.contains("total time limit of"), r.body.constData());
        QVERIFY(r.body.contains("\"code\":\"upstream_timeout\""));
        QVERIFY(!r.body.contains("[DONE]"));
        // (A bound against a hang only; the body above shows the cut.)
        QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));
        QVERIFY(!streamedText(r.body).isEmpty());
        verifyStillServing();
    }

    void resetMidStreamEndsWithAnSseErrorEvent() {
        const auto r = call("POST", "/v1/chat/completions", chatBody(QStringLiteral("x"), true),
                                   {{"X-Mock-Fault", "reset-mid-stream"}, {"X-Mock-Token-Delay-Ms", "20"}});
        QCOMPARE(r.status, 200);
        QVERIFY(r.complete);
        const QByteArray tail = r.chunks.last();
        QVERIFY2(tail.startsWith("event: error\ndata: "), tail.constData());
        QCOMPARE(QJsonDocument::fromJson(tail.mid(tail.indexOf("data: ") + 6).trimmed())
                     .object().value(QStringLiteral("error")).toObject().value(QStringLiteral("code")).toString(),
                 QStringLiteral("upstream_reset"));
        // Only whole events reached the client: the half event the upstream sent was dropped.
        for (const auto& line : r.body.split('\n')) {
            if (line.startsWith("data: ")) QVERIFY2(QJsonDocument::fromJson(line.mid(6)).isObject(), line.constData());
        }
        QVERIFY(streamedText(r.body).startsWith(QStringLiteral("The quick")));
        verifyStillServing();
    }

    void anOversizedStreamEventEndsTheStream() {
        // max_response_bytes (4096 here) bounds each event the gateway must hold whole: the
        // mock echoes 6,000 characters as one delta, so one event of over 6 KB.
        const QString text(6000, QLatin1Char('w'));
        const auto r = call("POST", "/v1/chat/completions", chatBody(text, true),
                            {{"X-Mock-Echo", "1"}, {"X-Mock-Chunk-Bytes", "6000"}});
        QCOMPARE(r.status, 200);
        QVERIFY(r.complete);
        QVERIFY2(r.body.startsWith("data: {"), r.body.left(200).constData());  // the role event went out
        const QByteArray tail = r.chunks.last();
        QVERIFY2(tail.startsWith("event: error\ndata: "), tail.constData());
        const auto error = QJsonDocument::fromJson(tail.mid(tail.indexOf("data: ") + 6).trimmed())
                               .object().value(QStringLiteral("error")).toObject();
        QCOMPARE(error.value(QStringLiteral("code")).toString(), QStringLiteral("upstream_response_too_large"));
        QVERIFY2(error.value(QStringLiteral("message")).toString().contains(QStringLiteral("4096 bytes")),
                 qPrintable(error.value(QStringLiteral("message")).toString()));
        QVERIFY(!r.body.contains("wwww"));
        QVERIFY(!r.body.contains("[DONE]"));
        // Under the limit, the same stream passes whole.
        const auto small = call("POST", "/v1/chat/completions", chatBody(QString(3000, QLatin1Char('w')), true),
                                {{"X-Mock-Echo", "1"}, {"X-Mock-Chunk-Bytes", "6000"}});
        QCOMPARE(small.status, 200);
        QCOMPARE(streamedText(small.body), QString(3000, QLatin1Char('w')));
        QVERIFY(small.body.contains("data: [DONE]"));
        // A buffered answer over the limit is a 502 naming it.
        const auto buffered = call("POST", "/v1/chat/completions", chatBody(text), {{"X-Mock-Echo", "1"}});
        QCOMPARE(buffered.status, 502);
        QCOMPARE(buffered.errorCode(), QStringLiteral("upstream_response_too_large"));
        verifyStillServing();
    }

    void resetMidBodyIs502() {
        const auto r = call("POST", "/v1/chat/completions", chatBody(QStringLiteral("x")),
                                   {{"X-Mock-Fault", "reset-mid-stream"}});
        QCOMPARE(r.status, 502);
        QCOMPARE(r.errorCode(), QStringLiteral("upstream_reset"));
        verifyStillServing();
    }

    // The gateway sends no TE, so an upstream may use no transfer coding but chunked. A
    // "gzip, chunked" answer would reach the client still gzipped, past masking.
    void anUpstreamTransferCodingOtherThanChunkedIsRefused() {
        const auto r = call("POST", "/v1/chat/completions", chatBody(QStringLiteral("x"), true), {{"X-Mock-Transfer-Coding", "gzip"}});
        QCOMPARE(r.status, 502);
        QCOMPARE(r.errorCode(), QStringLiteral("upstream_bad_response"));
        const auto message = r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString();
        QVERIFY2(message.contains(QStringLiteral("'gzip,chunked'")) || message.contains(QStringLiteral("'gzip, chunked'")), qPrintable(message));
        QVERIFY(!r.body.contains("The quick"));
        // Chunked alone is the ordinary stream.
        const auto plain = call("POST", "/v1/chat/completions", chatBody(QStringLiteral("x"), true), {{"X-Mock-Transfer-Coding", "chunked"}});
        QCOMPARE(plain.status, 502);  // "chunked, chunked": chunked applied twice is not allowed either
        const auto ok = call("POST", "/v1/chat/completions", chatBody(QStringLiteral("x"), true));
        QCOMPARE(ok.status, 200);
        QVERIFY(streamedText(ok.body).startsWith(QStringLiteral("The quick")));
        verifyStillServing();
    }

    // 103 Early Hints before the answer: read past, never taken for the answer (it was, and
    // the real answer, left on the pooled connection, went to the next caller).
    void interimResponsesAreReadPast() {
        RawHttpConnection connection{QUrl(url_)};  // one client connection: one worker, one pool
        for (const char* who : {"who-alice0", "who-bob1", "who-alice2"}) {
            const auto r = connection.request("POST", "/hints/v1/chat/completions", chatBody(QString::fromLatin1(who)),
                                              {{"Authorization", "Bearer " + kClientKey}}, 5000);
            QCOMPARE(r.status, 200);
            QCOMPARE(replyText(r), QStringLiteral("answer for ") + QLatin1String(who));
        }
    }

    // An upstream that reads the request and closes without a byte of answer: 502, not an
    // empty 200 (recorded as a success before), and not sent again.
    void aCloseWithoutAnAnswerIsAnUpstreamError() {
        for (const bool stream : {false, true}) {
            const int before = drop_.requests();
            const auto r = call("POST", "/drop/v1/chat/completions", chatBody(QStringLiteral("x"), stream));
            QCOMPARE(r.status, 502);
            QCOMPARE(r.errorCode(), QStringLiteral("upstream_reset"));
            QVERIFY(r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString().contains(
                QStringLiteral("closed the connection before responding")));
            QCOMPARE(drop_.requests(), before + 1);
        }
        verifyStillServing();
    }

    // A reused connection reset after the request went out: a POST may have been run, so it
    // is answered 502 and not sent again; a GET is sent again on a new connection.
    void aPostTheUpstreamMayHaveRunIsNotSentTwice() {
        const QList<QPair<QByteArray, QByteArray>> auth{{"Authorization", "Bearer " + kClientKey}};
        RawHttpConnection posts{QUrl(url_)};
        QCOMPARE(posts.request("POST", "/flaky/v1/chat/completions", chatBody(QStringLiteral("one")), auth, 5000).status, 200);
        int before = flaky_.requests();
        const auto second = posts.request("POST", "/flaky/v1/chat/completions", chatBody(QStringLiteral("two")), auth, 5000);
        QCOMPARE(second.status, 502);
        QCOMPARE(second.errorCode(), QStringLiteral("upstream_reset"));
        QCOMPARE(flaky_.requests(), before + 1);
        RawHttpConnection gets{QUrl(url_)};
        QCOMPARE(gets.request("GET", "/flaky/v1/models", {}, auth, 5000).status, 200);
        before = flaky_.requests();
        const auto again = gets.request("GET", "/flaky/v1/models", {}, auth, 5000);
        QCOMPARE(again.status, 200);
        QCOMPARE(flaky_.requests(), before + 2);
    }

    void upstreamErrorsPassThrough() {
        const auto r = call("POST", "/v1/chat/completions", chatBody(QStringLiteral("x")),
                                   {{"X-Mock-Fault", "500"}});
        QCOMPARE(r.status, 500);
        QCOMPARE(r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("type")).toString(),
                 QStringLiteral("server_error"));
        verifyStillServing();
    }

    void credentialQuotedByTheUpstreamIsRedacted() {
        const auto r = call("POST", "/v1/chat/completions", chatBody(QStringLiteral("x")),
                                   {{"X-Mock-Fault", "leak-key"}});
        QCOMPARE(r.status, 401);
        QVERIFY(r.body.contains("[REDACTED]"));
        QVERIFY(!r.body.contains(kUpstreamKey.toLatin1()));
        QCOMPARE(r.header("x-echo-key"), QByteArray("Bearer [REDACTED]"));
    }

    void healthAndReadiness() {
        const auto health = call("GET", "/healthz");
        QCOMPARE(health.status, 200);
        QCOMPARE(health.json().value(QStringLiteral("status")).toString(), QStringLiteral("ok"));
        QCOMPARE(call("GET", "/readyz").status, 200);
        const auto wrongMethod = call("POST", "/healthz", "{}");
        QCOMPARE(wrongMethod.status, 405);
        QCOMPARE(wrongMethod.errorCode(), QStringLiteral("method_not_allowed"));
    }

    void metricsCountRequestsAndUpstreamErrors() {
        const auto r = call("GET", "/metrics");
        QCOMPARE(r.status, 200);
        QVERIFY(r.header("content-type").startsWith("text/plain; version=0.0.4"));
        const QString text = QString::fromUtf8(r.body);
        QRegularExpression ok(QStringLiteral("vigil_requests_total\\{connection=\"mock\",status=\"200\"\\} (\\d+)"));
        const auto match = ok.match(text);
        QVERIFY2(match.hasMatch(), qPrintable(text));
        QVERIFY(match.captured(1).toInt() >= 10);
        QVERIFY(text.contains(QStringLiteral("vigil_requests_total{connection=\"none\",status=\"413\"} 2")));
        QVERIFY(text.contains(QStringLiteral("vigil_upstream_errors_total{connection=\"dead\",code=\"upstream_unreachable\"} 1")));
        QVERIFY(text.contains(QStringLiteral("vigil_upstream_errors_total{connection=\"slow\",code=\"upstream_timeout\"} 2")));
        QVERIFY(text.contains(QStringLiteral("vigil_upstream_errors_total{connection=\"mock\",code=\"upstream_reset\"} 2")));
        QVERIFY(text.contains(QStringLiteral("vigil_request_duration_seconds_bucket{connection=\"mock\",le=\"+Inf\"}")));
        QVERIFY(text.contains(QStringLiteral("vigil_requests_in_flight 0")));
    }

    void logsHaveOneLinePerRequestAndNoSecrets() {
        const auto r = call("POST", "/v1/chat/completions", chatBody(QStringLiteral("a private prompt")),
                                   {{"Authorization", "Bearer " + kClientKey}, {"X-Request-Id", "log-check-1"}});
        QCOMPARE(r.status, 200);
        QTRY_VERIFY(gateway_->logText().contains("log-check-1"));
        QList<QJsonObject> lines;
        for (const auto& line : gateway_->logLines(QStringLiteral("request"))) {
            if (line.value(QStringLiteral("request_id")).toString() == QStringLiteral("log-check-1")) lines.append(line);
        }
        QCOMPARE(lines.size(), 1);
        QCOMPARE(lines[0].value(QStringLiteral("status")).toInt(), 200);
        QCOMPARE(lines[0].value(QStringLiteral("connection")).toString(), QStringLiteral("mock"));
        QCOMPARE(lines[0].value(QStringLiteral("path")).toString(), QStringLiteral("/v1/chat/completions"));
        QVERIFY(lines[0].contains(QStringLiteral("duration_ms")));
        const QByteArray all = gateway_->logText() + gateway_->stderrText();
        QVERIFY(!all.contains(kUpstreamKey.toLatin1()));
        QVERIFY(!all.contains(kClientKey));
        QVERIFY(!all.contains("a private prompt"));
    }
};

QTEST_GUILESS_MAIN(TestProxy)
#include "tst_proxy.moc"

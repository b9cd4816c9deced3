// The vigil-gateway process: start-up validation, refusing bad configurations with a
// message naming the key, and graceful shutdown on SIGTERM.

#include <signal.h>

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTcpServer>
#include <QTest>
#include <QThread>

#include "managed_process.h"
#include "raw_http.h"

using namespace vigil::test;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-upstream-process-test-0042");

QString writeFile(const QTemporaryDir& dir, const QString& name, const QByteArray& text) {
    const QString path = dir.filePath(name);
    QFile f(path);
    if (f.open(QIODevice::WriteOnly | QIODevice::Truncate)) f.write(text);
    return path;
}

}  // namespace

namespace texts {
const char* const kText0 = "{\"listeners\":[{\"port\":0}],\"connections\":{\"a\":{\"kind\":\"openai\",\n"
            "            \"base_url\":\"localhost:80\",\"credential\":{\"env\":\"VIGIL_TEST_UPSTREAM_KEY\"}}}}";
const char* const kText1 = "{\"listeners\":[{\"port\":0}],\"connections\":{\"a\":{\"kind\":\"openai\",\n"
            "            \"base_url\":\"http://localhost\",\"credential\":{\"env\":\"VIGIL_SURELY_UNSET_VAR\"}}}}";
const char* const kText2 = "{\"listeners\":[{\"port\":0}],\"conections\":{}}";
}  // namespace texts
using namespace texts;

// Waits until the gateway's /metrics counts `n` requests in flight (its own are not counted).
bool waitForInFlight(const QString& url, int n) {
    return QTest::qWaitFor(
        [&] {
            const auto body = httpRequest(url, "GET", "/metrics").body;
            return body.contains("\nvigil_requests_in_flight " + QByteArray::number(n) + "\n");
        },
        10000);
}

class TestGatewayProcess : public QObject {
    Q_OBJECT

private slots:
    void rejectsABadConfigNamingTheKey_data() {
        QTest::addColumn<QByteArray>("config");
        QTest::addColumn<QString>("expected");
        QTest::newRow("bad url") << QByteArray(kText0)
                                 << "connections.a.base_url: must start with http:// or https://";
        QTest::newRow("unset env") << QByteArray(kText1)
                                   << "connections.a.credential.env: environment variable VIGIL_SURELY_UNSET_VAR is not set";
        QTest::newRow("typo") << QByteArray(kText2)
                              << "connections: is required";
        QTest::newRow("comment ok, trailing garbage") << QByteArray("// hi\n{\"listeners\":[]} x")
                                                      << "not valid JSON at line 2";
    }
    void rejectsABadConfigNamingTheKey() {
        QFETCH(QByteArray, config);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const QString path = writeFile(dir, QStringLiteral("gateway.json"), config);
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("VIGIL_TEST_UPSTREAM_KEY"), kUpstreamKey);
        ManagedProcess gateway(QStringLiteral(VIGIL_GATEWAY_BIN), {QStringLiteral("--config"), path}, env);
        QCOMPARE(gateway.runToExit(), 2);
        const QString stderrText = QString::fromUtf8(gateway.stderrText());
        QVERIFY2(stderrText.contains(expected), qPrintable(stderrText));
        QVERIFY(stderrText.contains(path));
        QVERIFY(!stderrText.contains(kUpstreamKey));
    }

    void missingConfigFileAndArguments() {
        ManagedProcess missing(QStringLiteral(VIGIL_GATEWAY_BIN), {QStringLiteral("--config"), QStringLiteral("/nonexistent/gw.json")});
        QCOMPARE(missing.runToExit(), 2);
        QVERIFY(missing.stderrText().contains("cannot read the config file"));
        ManagedProcess none(QStringLiteral(VIGIL_GATEWAY_BIN), {});
        QCOMPARE(none.runToExit(), 2);
        QVERIFY(none.stderrText().contains("--config FILE is required"));
    }

    void portInUseIsReportedWithTheListener() {
        QTcpServer blocker;
        QVERIFY(blocker.listen(QHostAddress::LocalHost, 0));
        QTemporaryDir dir;
        auto config = basicGatewayConfig(QStringLiteral("http://127.0.0.1:9"));
        config.insert(QStringLiteral("listeners"),
                      QJsonArray{QJsonObject{{QStringLiteral("address"), QStringLiteral("127.0.0.1")},
                                             {QStringLiteral("port"), blocker.serverPort()}}});
        const QString path = writeFile(dir, QStringLiteral("gateway.json"), QJsonDocument(config).toJson());
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("VIGIL_TEST_UPSTREAM_KEY"), kUpstreamKey);
        ManagedProcess gateway(QStringLiteral(VIGIL_GATEWAY_BIN), {QStringLiteral("--config"), path}, env);
        QCOMPARE(gateway.runToExit(), 1);
        const QString log = QString::fromUtf8(gateway.logText());
        QVERIFY2(log.contains(QStringLiteral("listeners[0]")) && log.contains(QStringLiteral("cannot listen")),
                 qPrintable(log));
    }

    // Operators tell the gateway's threads apart in top -H, ps -L, perf and gdb: each has a
    // name saying what it does; only the main thread keeps the process's name (before any
    // upstream name lookup: Asio's resolver thread takes its creator's name).
    void threadsAreNamedForOperators() {
        auto mock = startMockUpstream(kUpstreamKey);
        QVERIFY(mock);
        QTemporaryDir dir;
        auto config = basicGatewayConfig(mock->url());
        config.insert(QStringLiteral("threads"), 2);
        auto gateway = startGateway(dir, config, kUpstreamKey);
        QVERIFY(gateway);
        const QString tasks = QStringLiteral("/proc/%1/task").arg(gateway->process().processId());
        const auto threadNames = [&] {
            QStringList names;
            for (const auto& task : QDir(tasks).entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
                QFile comm(tasks + QLatin1Char('/') + task + QStringLiteral("/comm"));
                if (comm.open(QIODevice::ReadOnly)) names << QString::fromLatin1(comm.readAll()).trimmed();
            }
            return names;
        };
        // The I/O threads start (and name themselves) just after the listeners are open.
        QTRY_VERIFY_WITH_TIMEOUT(threadNames().contains(QStringLiteral("vigil-io-1")), 5000);
        const auto names = threadNames();
        QVERIFY2(names.contains(QStringLiteral("vigil-io-1")), qPrintable(names.join(u',')));      // the second I/O thread
        QVERIFY2(names.contains(QStringLiteral("vigil-recorder")), qPrintable(names.join(u',')));  // the recording's writer
        QVERIFY2(names.count(QStringLiteral("vigil-gateway")) == 1, qPrintable(names.join(u',')));
        QVERIFY(names.size() >= 4);
        QCOMPARE(gateway->terminate(), 0);
    }

    void sigtermLetsInFlightRequestsFinish() {
        auto mock = startMockUpstream(kUpstreamKey);
        QVERIFY(mock);
        QTemporaryDir dir;
        const QByteArray key = createApiKey(dir.filePath(QStringLiteral("vigil.db")), QStringLiteral("t"),
                                            QStringLiteral("requester")).toLatin1();
        auto gateway = startGateway(dir, basicGatewayConfig(mock->url()), kUpstreamKey);
        QVERIFY(gateway);

        // A stream of ~20 tokens 100 ms apart is in flight, and an idle keep-alive
        // connection is open, when SIGTERM arrives.
        RawHttpConnection idle{QUrl(gateway->url())};
        QCOMPARE(idle.request("GET", "/healthz").status, 200);
        RawHttpConnection streaming{QUrl(gateway->url())};
        QVERIFY(streaming.sendRaw(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Authorization: Bearer " + key + "\r\nX-Mock-Token-Delay-Ms: 100\r\nX-Mock-Reply: one two three four five six seven eight nine ten "
            "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty\r\n"
            "Content-Length: " + QByteArray::number(chatBody(QStringLiteral("x"), true).size()) + "\r\n\r\n" +
            chatBody(QStringLiteral("x"), true)));
        QVERIFY(waitForInFlight(gateway->url(), 1));  // the stream has reached the gateway
        ::kill(static_cast<pid_t>(gateway->process().processId()), SIGTERM);

        const auto r = streaming.readResponse(10000);
        QCOMPARE(r.status, 200);
        QVERIFY(r.complete);
        QVERIFY(r.body.contains("twenty"));
        QVERIFY(r.body.endsWith("data: [DONE]\n\n"));
        QVERIFY(idle.waitForClose(3000));     // idle connections are closed at once
        QVERIFY(streaming.waitForClose(3000));  // and busy ones after their response

        QVERIFY(gateway->process().waitForFinished(5000));
        QCOMPARE(gateway->process().exitCode(), 0);
        QVERIFY(!gateway->logLines(QStringLiteral("shutdown started")).isEmpty());
        QVERIFY(!gateway->logLines(QStringLiteral("shutdown complete")).isEmpty());
        RawHttpConnection after{QUrl(gateway->url())};
        QVERIFY(!after.isConnected());
    }

    void idleAndSlowClientsAreTimedOut() {
        auto mock = startMockUpstream(kUpstreamKey);
        QVERIFY(mock);
        QTemporaryDir dir;
        auto config = basicGatewayConfig(mock->url());
        config.insert(QStringLiteral("timeouts"), QJsonObject{{QStringLiteral("client_request_ms"), 400},
                                                              {QStringLiteral("client_keep_alive_ms"), 300}});
        auto gateway = startGateway(dir, config, kUpstreamKey);
        QVERIFY(gateway);

        // An idle keep-alive connection is closed once client_keep_alive_ms passes.
        // (Each timer starts before the gateway's own clock can: the measured time is never
        // shorter than the real one, however slow this machine.)
        RawHttpConnection idle{QUrl(gateway->url())};
        QElapsedTimer timer;
        timer.start();
        QCOMPARE(idle.request("GET", "/healthz").status, 200);
        QVERIFY(idle.waitForClose(5000));
        QVERIFY2(timer.elapsed() >= 300 && timer.elapsed() < 4000, qPrintable(QString::number(timer.elapsed())));

        // A client that never finishes its headers is cut off after client_request_ms.
        timer.restart();
        RawHttpConnection slow{QUrl(gateway->url())};
        QVERIFY(slow.sendRaw("GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: "));
        QVERIFY(slow.waitForClose(5000));
        QVERIFY2(timer.elapsed() >= 400 && timer.elapsed() < 4000, qPrintable(QString::number(timer.elapsed())));

        RawHttpConnection fresh{QUrl(gateway->url())};
        QCOMPARE(fresh.request("GET", "/healthz").status, 200);
    }

    void shutdownGraceCutsRequestsThatTakeTooLong() {
        auto mock = startMockUpstream(kUpstreamKey);
        QVERIFY(mock);
        QTemporaryDir dir;
        auto config = basicGatewayConfig(mock->url());
        config.insert(QStringLiteral("shutdown_grace_ms"), 500);
        const QByteArray key = createApiKey(dir.filePath(QStringLiteral("vigil.db")), QStringLiteral("t"),
                                            QStringLiteral("requester")).toLatin1();
        auto gateway = startGateway(dir, config, kUpstreamKey);
        QVERIFY(gateway);
        RawHttpConnection slow{QUrl(gateway->url())};
        const QByteArray body = chatBody(QStringLiteral("x"), true);
        QVERIFY(slow.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Mock-Token-Delay-Ms: 2000\r\n"
                             "Authorization: Bearer " + key + "\r\n"
                             "Content-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body));
        QVERIFY(waitForInFlight(gateway->url(), 1));
        QElapsedTimer timer;
        timer.start();
        QCOMPARE(gateway->terminate(8000), 0);
        QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));
        QVERIFY(!gateway->logLines(QStringLiteral("grace period over: closing connections")).isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestGatewayProcess)
#include "tst_gateway_process.moc"

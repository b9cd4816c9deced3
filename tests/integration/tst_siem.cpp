// The SIEM stream of the real gateway: every recorded event, once committed, as an
// OCSF-shaped JSON line, to a file, to syslog over UDP, and to syslog over TCP (octet
// counting) including a collector that comes up after the gateway; and a config naming two
// sinks is refused.

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QUdpSocket>

#include "managed_process.h"
#include "raw_http.h"

using namespace vigil::test;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-upstream-siem-9191");

QJsonObject jsonOfSyslog(const QByteArray& message) {
    // <14>1 TIMESTAMP HOST vigil-gateway - vigil.event - {...}
    const auto at = message.indexOf(" - {");
    return at < 0 ? QJsonObject() : QJsonDocument::fromJson(message.mid(at + 3)).object();
}

}  // namespace

class TestSiem : public QObject {
    Q_OBJECT
    std::unique_ptr<ManagedProcess> mock_;

    QJsonObject config(const QTemporaryDir& dir, const QJsonObject& siem) {
        auto c = basicGatewayConfig(mock_->url());
        auto connections = c.value(QStringLiteral("connections")).toObject();
        auto mock = connections.value(QStringLiteral("mock")).toObject();
        mock.insert(QStringLiteral("authentication"), QStringLiteral("none"));
        connections.insert(QStringLiteral("mock"), mock);
        c.insert(QStringLiteral("connections"), connections);
        c.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), dir.filePath(QStringLiteral("vigil.db"))}});
        c.insert(QStringLiteral("siem"), siem);
        return c;
    }

private slots:
    void initTestCase() {
        mock_ = startMockUpstream(kUpstreamKey);
        QVERIFY(mock_);
    }

    void everyCommittedEventGoesToTheFile() {
        QTemporaryDir dir;
        const auto file = dir.filePath(QStringLiteral("siem.jsonl"));
        const auto auditor = createApiKey(dir.filePath(QStringLiteral("vigil.db")), QStringLiteral("audrey"), QStringLiteral("auditor"));
        auto gateway = startGateway(dir, config(dir, {{QStringLiteral("file"), file}}), kUpstreamKey);
        QVERIFY(gateway);
        const auto r = httpRequest(gateway->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hello siem")),
                                   {{"Content-Type", "application/json"}, {"X-Vigil-Session", "siem-session-1"}});
        QCOMPARE(r.status, 200);
        const auto recorded = httpRequest(gateway->url(), "GET", "/api/sessions/siem-session-1", {}, {{"Authorization", "Bearer " + auditor.toLatin1()}})
                                  .json()
                                  .value(QStringLiteral("events"))
                                  .toArray();
        QVERIFY(recorded.size() >= 5);
        QCOMPARE(gateway->terminate(), 0);

        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QMap<qint64, QJsonObject> bySeq;
        for (const auto& line : f.readAll().split('\n')) {
            if (line.isEmpty()) continue;
            const auto o = QJsonDocument::fromJson(line).object();
            QCOMPARE(o.value(QStringLiteral("class_uid")).toInt(), 6003);
            QCOMPARE(o.value(QStringLiteral("category_uid")).toInt(), 6);
            QCOMPARE(o.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("product")).toObject().value(QStringLiteral("name")).toString(),
                     QStringLiteral("Vigil Gateway"));
            const auto vigil = o.value(QStringLiteral("unmapped")).toObject().value(QStringLiteral("vigil")).toObject();
            bySeq.insert(vigil.value(QStringLiteral("seq")).toInteger(), o);
        }
        // Contiguous from the first event on, the gateway's stop included.
        QVERIFY(!bySeq.isEmpty());
        QCOMPARE(bySeq.firstKey(), 1);
        QCOMPARE(bySeq.lastKey() - bySeq.firstKey() + 1, bySeq.size());
        QCOMPARE(bySeq.last().value(QStringLiteral("api")).toObject().value(QStringLiteral("operation")).toString(), QStringLiteral("gateway.stopped"));
        // The same facts as the recording: type, session, hash, payload.
        for (const auto& v : recorded) {
            const auto e = v.toObject();
            const auto seq = e.value(QStringLiteral("seq")).toInteger();
            QVERIFY2(bySeq.contains(seq), qPrintable(QString::number(seq)));
            const auto vigil = bySeq[seq].value(QStringLiteral("unmapped")).toObject().value(QStringLiteral("vigil")).toObject();
            QCOMPARE(vigil.value(QStringLiteral("type")).toString(), e.value(QStringLiteral("type")).toString());
            QCOMPARE(vigil.value(QStringLiteral("session_id")).toString(), QStringLiteral("siem-session-1"));
            QCOMPARE(vigil.value(QStringLiteral("hash")).toString(), e.value(QStringLiteral("hash")).toString());
            QCOMPARE(vigil.value(QStringLiteral("payload")).toObject(), e.value(QStringLiteral("payload")).toObject());
            if (e.value(QStringLiteral("type")).toString() == QStringLiteral("request.completed")) {
                QCOMPARE(bySeq[seq].value(QStringLiteral("status_code")).toString(), QStringLiteral("200"));
                QCOMPARE(bySeq[seq].value(QStringLiteral("status_id")).toInt(), 1);
            }
        }
    }

    // A gateway killed mid-request: at the next start the recorder writes request.interrupted
    // for it before anything else, and the SIEM stream carries that too (seamless numbers).
    void eventsWrittenAtStartAreStreamed() {
        QTemporaryDir dir;
        auto slowMock = startMockUpstream(kUpstreamKey, {QStringLiteral("--token-delay-ms"), QStringLiteral("300")});
        QVERIFY(slowMock);
        auto c = config(dir, {{QStringLiteral("file"), dir.filePath(QStringLiteral("first.jsonl"))}});
        auto connections = c.value(QStringLiteral("connections")).toObject();
        auto mock = connections.value(QStringLiteral("mock")).toObject();
        mock.insert(QStringLiteral("base_url"), slowMock->url());
        connections.insert(QStringLiteral("mock"), mock);
        c.insert(QStringLiteral("connections"), connections);
        auto gateway = startGateway(dir, c, kUpstreamKey);
        QVERIFY(gateway);
        RawHttpConnection streaming{QUrl(gateway->url())};
        const auto body = chatBody(QStringLiteral("a slow story"), true);
        QVERIFY(streaming.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Vigil-Session: "
                                  "killed-mid-stream\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body));
        auto firstLines = [&] {
            QFile f(dir.filePath(QStringLiteral("first.jsonl")));
            return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
        };
        // In flight: its first chunk is committed (and streamed).
        QVERIFY(QTest::qWaitFor([&] { return firstLines().contains("response.chunk"); }, 10000));
        gateway->process().kill();
        QVERIFY(gateway->process().waitForFinished(10000));
        qint64 lastSeqBefore = 0;
        for (const auto& line : firstLines().split('\n')) {
            if (line.isEmpty()) continue;
            lastSeqBefore = std::max<qint64>(lastSeqBefore, QJsonDocument::fromJson(line).object().value(QStringLiteral("unmapped"))
                                                                .toObject().value(QStringLiteral("vigil")).toObject().value(QStringLiteral("seq")).toInteger());
        }
        QVERIFY(lastSeqBefore > 0);

        c.insert(QStringLiteral("siem"), QJsonObject{{QStringLiteral("file"), dir.filePath(QStringLiteral("second.jsonl"))}});
        auto again = startGateway(dir, c, kUpstreamKey);
        QVERIFY(again);
        QCOMPARE(again->terminate(), 0);
        QFile f(dir.filePath(QStringLiteral("second.jsonl")));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QList<QJsonObject> events;
        for (const auto& line : f.readAll().split('\n')) {
            if (!line.isEmpty()) events << QJsonDocument::fromJson(line).object().value(QStringLiteral("unmapped")).toObject().value(QStringLiteral("vigil")).toObject();
        }
        QVERIFY(!events.isEmpty());
        // Everything the first run committed after its last streamed event, then the interruption.
        bool interrupted = false;
        qint64 expected = events.first().value(QStringLiteral("seq")).toInteger();
        QVERIFY(expected > lastSeqBefore);
        for (const auto& e : events) {
            QCOMPARE(e.value(QStringLiteral("seq")).toInteger(), expected++);
            if (e.value(QStringLiteral("type")).toString() == QStringLiteral("request.interrupted")) {
                QCOMPARE(e.value(QStringLiteral("session_id")).toString(), QStringLiteral("killed-mid-stream"));
                interrupted = true;
            }
        }
        QVERIFY(interrupted);
    }

    void syslogOverUdp() {
        QUdpSocket collector;
        QVERIFY(collector.bind(QHostAddress::LocalHost, 0));
        QTemporaryDir dir;
        auto gateway = startGateway(
            dir, config(dir, {{QStringLiteral("syslog"), QJsonObject{{QStringLiteral("address"), QStringLiteral("127.0.0.1:%1").arg(collector.localPort())}}}}),
            kUpstreamKey);
        QVERIFY(gateway);
        // One request too large for a datagram first: skipped and said so, the stream goes on.
        QCOMPARE(httpRequest(gateway->url(), "POST", "/v1/chat/completions", chatBody(QString(70'000, QLatin1Char('x'))),
                             {{"Content-Type", "application/json"}})
                     .status,
                 200);
        QCOMPARE(httpRequest(gateway->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hello udp")),
                             {{"Content-Type", "application/json"}})
                     .status,
                 200);
        QStringList operations;
        QByteArray malformed;
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                while (collector.hasPendingDatagrams()) {
                    QByteArray d(static_cast<int>(collector.pendingDatagramSize()), '\0');
                    collector.readDatagram(d.data(), d.size());
                    if (!d.startsWith("<14>1 ") || !d.contains(" vigil-gateway - vigil.event - {")) malformed = d;
                    operations << jsonOfSyslog(d).value(QStringLiteral("api")).toObject().value(QStringLiteral("operation")).toString();
                }
                // Both requests' ends (the first one's end is small enough to be sent).
                return operations.count(QStringLiteral("request.completed")) >= 2;
            }(),
            5000);
        QVERIFY2(malformed.isEmpty(), malformed.constData());
        QTRY_VERIFY(!gateway->logLines(QStringLiteral("siem event too large")).isEmpty());
        QVERIFY(operations.contains(QStringLiteral("gateway.started")));
        QVERIFY(operations.contains(QStringLiteral("request.received")));
        QCOMPARE(gateway->terminate(), 0);
    }

    // TCP with octet counting; the collector starts after the gateway: nothing is lost.
    void syslogOverTcpWaitsForTheCollector() {
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
        const auto port = probe.serverPort();
        probe.close();
        QTemporaryDir dir;
        auto gateway = startGateway(dir,
                                    config(dir, {{QStringLiteral("syslog"), QJsonObject{{QStringLiteral("address"), QStringLiteral("127.0.0.1:%1").arg(port)},
                                                                                       {QStringLiteral("protocol"), QStringLiteral("tcp")}}}}),
                                    kUpstreamKey);
        QVERIFY(gateway);
        QCOMPARE(httpRequest(gateway->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hello tcp")),
                             {{"Content-Type", "application/json"}})
                     .status,
                 200);
        QTRY_VERIFY_WITH_TIMEOUT(!gateway->logLines(QStringLiteral("siem unavailable")).isEmpty(), 5000);
        QTcpServer collector;
        QVERIFY(collector.listen(QHostAddress::LocalHost, port));
        QByteArray stream;
        QTcpSocket* peer = nullptr;
        QStringList operations;
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                if (peer == nullptr && collector.hasPendingConnections()) peer = collector.nextPendingConnection();
                if (peer != nullptr) stream += peer->readAll();
                // Frames: "LEN SP MSG".
                operations.clear();
                qsizetype at = 0;
                while (at < stream.size()) {
                    const auto space = stream.indexOf(' ', at);
                    if (space < 0) break;
                    const auto length = stream.mid(at, space - at).toLongLong();
                    if (length <= 0 || space + 1 + length > stream.size()) break;
                    const auto message = stream.mid(space + 1, length);
                    operations << jsonOfSyslog(message).value(QStringLiteral("api")).toObject().value(QStringLiteral("operation")).toString();
                    at = space + 1 + length;
                }
                return operations.contains(QStringLiteral("request.completed"));
            }(),
            10000);
        QCOMPARE(operations.first(), QStringLiteral("gateway.started"));  // kept in order while the collector was away
        QCOMPARE(gateway->terminate(), 0);
    }

    void twoSinksAreRefused() {
        QTemporaryDir dir;
        auto c = config(dir, {{QStringLiteral("file"), dir.filePath(QStringLiteral("a.jsonl"))}, {QStringLiteral("stdout"), true}});
        QFile f(dir.filePath(QStringLiteral("gateway.json")));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QJsonDocument(c).toJson());
        f.close();
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("VIGIL_TEST_UPSTREAM_KEY"), kUpstreamKey);
        ManagedProcess gateway(QStringLiteral(VIGIL_GATEWAY_BIN), {QStringLiteral("--config"), dir.filePath(QStringLiteral("gateway.json"))}, env);
        QVERIFY(gateway.runToExit() != 0);
        QVERIFY2(gateway.stderrText().contains("siem: names more than one sink"), gateway.stderrText().constData());
    }
};

QTEST_GUILESS_MAIN(TestSiem)
#include "tst_siem.moc"

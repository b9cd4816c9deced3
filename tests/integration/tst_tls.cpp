// TLS on both sides: an HTTPS listener (TLS 1.2 and newer only) and an HTTPS upstream
// verified against a configured CA file or, by default, the system CA store.

#include <QFile>
#include <QJsonArray>
#include <QProcess>
#include <QTest>

#include "managed_process.h"
#include "raw_http.h"
#include "test_pki.h"

using namespace vigil::test;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-upstream-tls-test-9931");

// Whether `openssl s_client` completes a handshake with `hostPort` at TLS version `flag`.
bool opensslHandshake(const QString& hostPort, const QString& flag, const QString& caFile) {
    QProcess p;
    p.start(QStringLiteral(VIGIL_OPENSSL_BIN),
            {QStringLiteral("s_client"), QStringLiteral("-connect"), hostPort, flag,
             QStringLiteral("-CAfile"), caFile, QStringLiteral("-cipher"), QStringLiteral("DEFAULT:@SECLEVEL=0"),
             QStringLiteral("-verify_return_error")});
    p.write("Q\n");
    p.closeWriteChannel();
    p.waitForFinished(10000);
    const QByteArray out = p.readAllStandardOutput();
    return p.exitCode() == 0 && out.contains("Verify return code: 0 (ok)") && !out.contains("Cipher is (NONE)");
}

}  // namespace

class TestTls : public QObject {
    Q_OBJECT
    QTemporaryDir pki_;
    QList<QSslCertificate> ca_;

private slots:
    void initTestCase() {
        QVERIFY(makeTestPki(pki_.path()));
        ca_ = QSslCertificate::fromPath(pki_.filePath(QStringLiteral("ca.crt")));
        QCOMPARE(ca_.size(), 1);
    }

    void httpsListenerServesTls12AndNewerOnly() {
        auto mock = startMockUpstream(kUpstreamKey);
        QVERIFY(mock);
        QTemporaryDir dir;
        auto config = basicGatewayConfig(mock->url());
        config.insert(QStringLiteral("listeners"),
                      QJsonArray{QJsonObject{{QStringLiteral("address"), QStringLiteral("127.0.0.1")},
                                             {QStringLiteral("port"), 0},
                                             {QStringLiteral("tls"),
                                              QJsonObject{{QStringLiteral("cert_file"), pki_.filePath(QStringLiteral("server.crt"))},
                                                          {QStringLiteral("key_file"), pki_.filePath(QStringLiteral("server.key"))}}}}});
        const QByteArray key = createApiKey(dir.filePath(QStringLiteral("vigil.db")), QStringLiteral("tls"),
                                            QStringLiteral("requester")).toLatin1();
        auto gateway = startGateway(dir, config, kUpstreamKey);
        QVERIFY(gateway);
        QVERIFY(gateway->url().startsWith(QStringLiteral("https://127.0.0.1:")));

        RawHttpConnection connection{QUrl(gateway->url()), ca_};
        QVERIFY2(connection.isConnected(), qPrintable(connection.errorString()));
        const auto r = connection.request("POST", "/v1/chat/completions", chatBody(QStringLiteral("over tls"), true),
                                          {{"Authorization", "Bearer " + key}});
        QCOMPARE(r.status, 200);
        QVERIFY(r.body.endsWith("data: [DONE]\n\n"));
        QCOMPARE(connection.request("GET", "/healthz").status, 200);  // keep-alive over TLS

        const QString hostPort = QStringLiteral("127.0.0.1:%1").arg(gateway->port());
        const QString caFile = pki_.filePath(QStringLiteral("ca.crt"));
        QVERIFY(opensslHandshake(hostPort, QStringLiteral("-tls1_2"), caFile));
        QVERIFY(opensslHandshake(hostPort, QStringLiteral("-tls1_3"), caFile));
        QVERIFY(!opensslHandshake(hostPort, QStringLiteral("-tls1_1"), caFile));
        QVERIFY(!opensslHandshake(hostPort, QStringLiteral("-tls1"), caFile));

        // Plain HTTP on the TLS port gets no answer, and the gateway keeps serving.
        const auto plain = httpRequest(QStringLiteral("http://%1").arg(hostPort), "GET", "/healthz", {}, {}, 3000);
        QCOMPARE(plain.status, 0);
        RawHttpConnection again{QUrl(gateway->url()), ca_};
        QCOMPARE(again.request("GET", "/healthz").status, 200);
    }

    void httpsUpstreamIsVerifiedAgainstTheConfiguredCa() {
        auto mock = startMockUpstream(kUpstreamKey, {QStringLiteral("--tls-cert"), pki_.filePath(QStringLiteral("server.crt")),
                                                     QStringLiteral("--tls-key"), pki_.filePath(QStringLiteral("server.key"))});
        QVERIFY(mock);
        QVERIFY(mock->url().startsWith(QStringLiteral("https://")));
        QTemporaryDir dir;
        auto config = basicGatewayConfig(QStringLiteral("https://localhost:%1").arg(mock->port()));
        auto connections = config.value(QStringLiteral("connections")).toObject();
        auto trusted = connections.value(QStringLiteral("mock")).toObject();
        trusted.insert(QStringLiteral("ca_file"), pki_.filePath(QStringLiteral("ca.crt")));
        connections.insert(QStringLiteral("mock"), trusted);
        // The same upstream with the system CA store, which does not know the test CA.
        auto untrusted = connections.value(QStringLiteral("mock")).toObject();
        untrusted.remove(QStringLiteral("ca_file"));
        connections.insert(QStringLiteral("systemca"), untrusted);
        config.insert(QStringLiteral("connections"), connections);
        const QByteArray key = createApiKey(dir.filePath(QStringLiteral("vigil.db")), QStringLiteral("tls"),
                                            QStringLiteral("requester")).toLatin1();
        const QList<QPair<QByteArray, QByteArray>> auth = {{"Authorization", "Bearer " + key}};
        auto gateway = startGateway(dir, config, kUpstreamKey);
        QVERIFY(gateway);

        const auto ok = httpRequest(gateway->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("x"), true), auth);
        QCOMPARE(ok.status, 200);
        QVERIFY(ok.body.endsWith("data: [DONE]\n\n"));
        const auto again = httpRequest(gateway->url(), "GET", "/v1/models", {}, auth);
        QCOMPARE(again.status, 200);

        const auto refused = httpRequest(gateway->url(), "GET", "/systemca/v1/models", {}, auth);
        QCOMPARE(refused.status, 502);
        QCOMPARE(refused.errorCode(), QStringLiteral("upstream_unreachable"));
        QVERIFY2(refused.body.contains("TLS"), refused.body.constData());
    }
};

QTEST_GUILESS_MAIN(TestTls)
#include "tst_tls.moc"

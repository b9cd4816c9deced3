// The official openai npm SDK as the client, as a user would point it at the gateway:
// only the base URL changes.

#include <QDir>
#include <QJsonDocument>
#include <QProcess>
#include <QTest>

#include "managed_process.h"
#include "raw_http.h"

using namespace vigil::test;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-upstream-sdk-test-55aa77");
QString kClientKey;  // a Vigil API key, created by initTestCase
const QString kReply = QStringLiteral("Four score and seven years ago, streamed through Vigil.");

}  // namespace

class TestOpenAiSdk : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<ManagedProcess> mock_;
    std::unique_ptr<ManagedProcess> gateway_;
    QByteArray everythingTheClientSaw_;

    QJsonObject runSdk(const QString& mode, const QStringList& extra = {},
                       const QString& path = QStringLiteral("/v1")) {
        return runOpenAiSdk(gateway_->url() + path, kClientKey, mode, extra, &everythingTheClientSaw_);
    }

    void verifyUpstreamGotItsOwnKeyOnly() {
        const auto seen = httpRequest(mock_->url(), "GET", "/_mock/last-request").json();
        const auto headers = seen.value(QStringLiteral("headers")).toObject();
        QCOMPARE(headers.value(QStringLiteral("authorization")).toString(), QStringLiteral("Bearer ") + kUpstreamKey);
        QVERIFY(!QJsonDocument(seen).toJson().contains(kClientKey.toLatin1()));
        // The SDK's own headers pass through unchanged.
        QVERIFY(headers.value(QStringLiteral("user-agent")).toString().contains(QStringLiteral("OpenAI/JS")));
    }

private slots:
    void initTestCase() {
        if (QStringLiteral(VIGIL_NODE_BIN).isEmpty() || QStringLiteral(VIGIL_NODE_BIN).endsWith(QStringLiteral("NOTFOUND"))) {
            QFAIL("node is not installed: run installers/install-deps.sh --test");
        }
        if (!QDir(QStringLiteral(VIGIL_SOURCE_DIR "/tests/integration/node/node_modules/openai")).exists()) {
            QFAIL("the openai SDK is not installed: run 'npm ci' in tests/integration/node (scripts/test.sh does)");
        }
        mock_ = startMockUpstream(kUpstreamKey, {QStringLiteral("--reply"), kReply, QStringLiteral("--token-delay-ms"),
                                                 QStringLiteral("30")});
        QVERIFY(mock_);
        auto config = basicGatewayConfig(mock_->url());
        auto connections = config.value(QStringLiteral("connections")).toObject();
        auto slow = connections.value(QStringLiteral("mock")).toObject();
        slow.insert(QStringLiteral("timeouts"), QJsonObject{{QStringLiteral("first_byte_ms"), 300}});
        connections.insert(QStringLiteral("slow"), slow);
        config.insert(QStringLiteral("connections"), connections);
        kClientKey = createApiKey(dir_.filePath(QStringLiteral("vigil.db")), QStringLiteral("sdk-test"),
                                  QStringLiteral("requester"));
        QVERIFY(kClientKey.startsWith(QStringLiteral("vgl_")));
        gateway_ = startGateway(dir_, config, kUpstreamKey);
        QVERIFY(gateway_);
    }

    void chatCompletion() {
        const auto result = runSdk(QStringLiteral("chat"), {QStringLiteral("--prompt"), QStringLiteral("hello")});
        QVERIFY2(result.value(QStringLiteral("ok")).toBool(), QJsonDocument(result).toJson().constData());
        QCOMPARE(result.value(QStringLiteral("text")).toString(), kReply);
        QCOMPARE(result.value(QStringLiteral("finish_reason")).toString(), QStringLiteral("stop"));
        QCOMPARE(result.value(QStringLiteral("request_id")).toString().size(), 32);
        verifyUpstreamGotItsOwnKeyOnly();
    }

    void streamingChatCompletion() {
        const auto result = runSdk(QStringLiteral("stream"), {QStringLiteral("--prompt"), QStringLiteral("hello")});
        QVERIFY2(result.value(QStringLiteral("ok")).toBool(), QJsonDocument(result).toJson().constData());
        QCOMPARE(result.value(QStringLiteral("text")).toString(), kReply);
        QCOMPARE(result.value(QStringLiteral("chunks")).toInt(), 9);  // one per token
        QCOMPARE(result.value(QStringLiteral("finish_reason")).toString(), QStringLiteral("stop"));
        // Tokens 30 ms apart reach the SDK as they are produced.
        QVERIFY(result.value(QStringLiteral("last_ms")).toInt() - result.value(QStringLiteral("first_ms")).toInt() >= 150);
        verifyUpstreamGotItsOwnKeyOnly();
    }

    void embeddings() {
        const auto result = runSdk(QStringLiteral("embeddings"), {QStringLiteral("--prompt"), QStringLiteral("vector me")});
        QVERIFY2(result.value(QStringLiteral("ok")).toBool(), QJsonDocument(result).toJson().constData());
        QCOMPARE(result.value(QStringLiteral("count")).toInt(), 2);
        QCOMPARE(result.value(QStringLiteral("dims")).toInt(), 16);
        QVERIFY(result.value(QStringLiteral("finite")).toBool());
    }

    void models() {
        const auto result = runSdk(QStringLiteral("models"));
        QVERIFY2(result.value(QStringLiteral("ok")).toBool(), QJsonDocument(result).toJson().constData());
        QVERIFY(result.value(QStringLiteral("ids")).toVariant().toStringList().contains(QStringLiteral("mock-gpt")));
    }

    void streamCutByTheUpstreamRaisesAnSdkError() {
        const auto result = runSdk(QStringLiteral("stream"), {QStringLiteral("--header"),
                                                             QStringLiteral("x-mock-fault=reset-mid-stream")});
        QVERIFY(!result.value(QStringLiteral("ok")).toBool());
        QCOMPARE(result.value(QStringLiteral("error_class")).toString(), QStringLiteral("APIError"));
        QCOMPARE(result.value(QStringLiteral("code")).toString(), QStringLiteral("upstream_reset"));
        QVERIFY(kReply.startsWith(result.value(QStringLiteral("text")).toString()));
        QVERIFY(!result.value(QStringLiteral("text")).toString().isEmpty());
    }

    void gatewayErrorsReachTheSdkWithTheirCode() {
        const auto unknown = runSdk(QStringLiteral("chat"), {}, QStringLiteral("/nope/v1"));
        QVERIFY(!unknown.value(QStringLiteral("ok")).toBool());
        QCOMPARE(unknown.value(QStringLiteral("error_class")).toString(), QStringLiteral("NotFoundError"));
        QCOMPARE(unknown.value(QStringLiteral("status")).toInt(), 404);
        QCOMPARE(unknown.value(QStringLiteral("code")).toString(), QStringLiteral("unknown_connection"));

        const auto slow = runSdk(QStringLiteral("chat"), {QStringLiteral("--header"), QStringLiteral("x-mock-fault=slow-first-byte"),
                                                         QStringLiteral("--header"), QStringLiteral("x-mock-first-byte-delay-ms=3000")},
                                 QStringLiteral("/slow/v1"));
        QVERIFY(!slow.value(QStringLiteral("ok")).toBool());
        QCOMPARE(slow.value(QStringLiteral("status")).toInt(), 504);
        QCOMPARE(slow.value(QStringLiteral("code")).toString(), QStringLiteral("upstream_timeout"));
    }

    void upstreamErrorsReachTheSdkWithTheKeyRedacted() {
        const auto leaked = runSdk(QStringLiteral("chat"), {QStringLiteral("--header"), QStringLiteral("x-mock-fault=leak-key")});
        QCOMPARE(leaked.value(QStringLiteral("status")).toInt(), 401);
        QCOMPARE(leaked.value(QStringLiteral("error_class")).toString(), QStringLiteral("AuthenticationError"));
        QVERIFY(leaked.value(QStringLiteral("message")).toString().contains(QStringLiteral("[REDACTED]")));
    }

    void upstreamKeyNeverReachedTheClient() {
        QVERIFY(!everythingTheClientSaw_.isEmpty());
        QVERIFY(!everythingTheClientSaw_.contains(kUpstreamKey.toLatin1()));
    }
};

QTEST_GUILESS_MAIN(TestOpenAiSdk)
#include "tst_openai_sdk.moc"

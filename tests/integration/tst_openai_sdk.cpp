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
const QString kClientKey = QStringLiteral("vigil-client-key-sdk-0099");
const QString kReply = QStringLiteral("Four score and seven years ago, streamed through Vigil.");

}  // namespace

class TestOpenAiSdk : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<ManagedProcess> mock_;
    std::unique_ptr<ManagedProcess> gateway_;
    QByteArray everythingTheClientSaw_;

    QJsonObject runSdk(const QString& mode, const QStringList& extra = {}) {
        const QString nodeDir = QStringLiteral(VIGIL_SOURCE_DIR "/tests/integration/node");
        QProcess node;
        node.setWorkingDirectory(nodeDir);
        node.start(QStringLiteral(VIGIL_NODE_BIN),
                   QStringList{QStringLiteral("sdk_client.mjs"), QStringLiteral("--base-url"),
                               gateway_->url() + QStringLiteral("/v1"), QStringLiteral("--api-key"), kClientKey,
                               QStringLiteral("--mode"), mode} + extra);
        if (!node.waitForFinished(60000)) return {};
        const QByteArray out = node.readAllStandardOutput();
        everythingTheClientSaw_ += out + node.readAllStandardError();
        return QJsonDocument::fromJson(out.trimmed().split('\n').last()).object();
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
        gateway_ = startGateway(dir_, basicGatewayConfig(mock_->url()), kUpstreamKey);
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
        QTemporaryDir dir;
        // Status and code of a gateway error as the SDK reports them.
        const auto result = runSdk(QStringLiteral("chat"), {QStringLiteral("--header"),
                                                           QStringLiteral("x-mock-fault=slow-first-byte"),
                                                           QStringLiteral("--header"),
                                                           QStringLiteral("x-mock-first-byte-delay-ms=50")});
        QVERIFY2(result.value(QStringLiteral("ok")).toBool(), QJsonDocument(result).toJson().constData());
        const auto leaked = runSdk(QStringLiteral("chat"), {QStringLiteral("--header"), QStringLiteral("x-mock-fault=leak-key")});
        QCOMPARE(leaked.value(QStringLiteral("status")).toInt(), 401);
        QVERIFY(leaked.value(QStringLiteral("message")).toString().contains(QStringLiteral("[REDACTED]")));
    }

    void upstreamKeyNeverReachedTheClient() {
        QVERIFY(!everythingTheClientSaw_.isEmpty());
        QVERIFY(!everythingTheClientSaw_.contains(kUpstreamKey.toLatin1()));
    }
};

QTEST_GUILESS_MAIN(TestOpenAiSdk)
#include "tst_openai_sdk.moc"

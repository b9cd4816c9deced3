#include <QTemporaryDir>
#include <QTest>
#include <fstream>

#include "config/gateway_config.h"

using vigil::config::ConfigError;
using vigil::config::parseConfig;

namespace {

std::string configWith(const std::string& connectionExtra, const std::string& topExtra = "") {
    return "{\n"
            "      // comments are allowed\n"
            "      \"listeners\": [{\"address\": \"127.0.0.1\", \"port\": 8080}],\n"
            "      \"connections\": {\n"
            "        \"openai\": {\"kind\": \"openai\", \"base_url\": \"https://api.example.com/openai/\",\n"
            "                   \"credential\": {\"env\": \"VIGIL_TST_KEY\"}" +
           connectionExtra + "}\n"
            "      }" + topExtra +
           "}";
}

// The message of the ConfigError thrown for `text`, or "" when it loads.
QString errorFor(const std::string& text) {
    try {
        parseConfig(text, "/etc/vigil/gateway.json");
    } catch (const ConfigError& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

}  // namespace

namespace texts {
const char* const kText0 = ", \"timeouts\": {\"idle_ms\": 1500}";
const char* const kText1 = ", \"timeouts\": {\"connect_ms\": 700}";
const char* const kText2 = ", \"timeout\": {}";
const char* const kText3 = ", \"base_url\": \"ftp://x\"";
const char* const kText4 = ", \"api_key\": \"sk-123\"";
const char* const kText5 = ", \"kind\": \"gopher\"";
const char* const kText6 = ", \"timeouts\": {\"total_ms\": -5}";
const char* const kText7 = "{\"listeners\":[{\"port\":70000}],\"connections\":{}}";
const char* const kText8 = "{\"listeners\":[{\"port\":1}],\"connections\":{}}";
const char* const kText9 = ", \"default_connection\": \"nope\"";
const char* const kText10 = ", \"credential\": {\"env\": \"VIGIL_TST_UNSET_VAR\"}";
const char* const kText11 = ", \"credential\": {\"env\": \"A\", \"file\": \"b\"}";
const char* const kText12 = "{\"listeners\":[{\"port\":1}],\"connections\":{\"v1\":{\"kind\":\"openai\",\"base_url\":\"http://x\",\"credential\":{\"env\":\"VIGIL_TST_KEY\"}}}}";
const char* const kText13 = ", \"log\": {\"level\": \"loud\"}";
const char* const kText14 = "{\"listeners\":[{\"port\":1,\"tls\":{\"cert_file\":\"/nonexistent.crt\",\"key_file\":\"/nonexistent.key\"}}],\"connections\":{}}";
const char* const kText15 = ", \"base_url\": \"nope\"";
const char* const kText16 = "{\"listeners\":[{\"port\":0}],\"connections\":{\"a\":{\"kind\":\"openai\",\n"
            "                     \"base_url\":\"http://127.0.0.1:9\",\"credential\":{\"file\":\"key.txt\"}}}}";
const char* const kText17 = "{\"listeners\":[{\"port\":1}],\"connections\":{\n"
            "            \"a\":{\"kind\":\"openai\",\"base_url\":\"http://h1\",\"credential\":{\"env\":\"VIGIL_TST_KEY\"}},\n"
            "            \"b\":{\"kind\":\"openai\",\"base_url\":\"http://h2:81\",\"credential\":{\"env\":\"VIGIL_TST_KEY\"}}}}";
const char* const kText18 = ", \"organization\": \"org 1\"";
const char* const kText19 = ", \"project\": \"\"";
}  // namespace texts
using namespace texts;

class TestGatewayConfig : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { qputenv("VIGIL_TST_KEY", "sk-test-credential-0001"); }

    void loadsAValidConfig() {
        const auto config = parseConfig(configWith(kText0,
                                                   kText1),
                                        "/etc/vigil/gateway.json");
        QCOMPARE(config.listeners.size(), std::size_t(1));
        QCOMPARE(config.listeners[0].port, 8080);
        QCOMPARE(config.connections.size(), std::size_t(1));
        const auto& c = config.connections[0];
        QCOMPARE(c.name, std::string("openai"));
        QVERIFY(c.baseUrl.https);
        QCOMPARE(c.baseUrl.host, std::string("api.example.com"));
        QCOMPARE(c.baseUrl.port, 443);
        QCOMPARE(c.baseUrl.pathPrefix, std::string("/openai"));
        QCOMPARE(c.credential, std::string("sk-test-credential-0001"));
        QCOMPARE(c.timeouts.idle.count(), 1500);
        QCOMPARE(c.timeouts.connect.count(), 700);  // from the top-level default
        QCOMPARE(config.defaultConnection, std::size_t(0));
    }

    void errorsNameTheKey_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("unknown key") << QString::fromStdString(configWith("", kText2))
                                     << "gateway.json: timeout: unknown key";
        QTest::newRow("bad url") << QString::fromStdString(configWith(kText3))
                                 << "connections.openai.base_url: must start with http:// or https://";
        QTest::newRow("inline key") << QString::fromStdString(configWith(kText4))
                                    << "connections.openai.credential: the credential is never written";
        QTest::newRow("organization with a space") << QString::fromStdString(configWith(kText18))
                                                   << "connections.openai.organization: must be a non-empty id in printable ASCII";
        QTest::newRow("empty project") << QString::fromStdString(configWith(kText19))
                                       << "connections.openai.project: must be a non-empty id in printable ASCII";
        QTest::newRow("bad kind") << QString::fromStdString(configWith(kText5))
                                  << "connections.openai.kind: must be \"openai\"";
        QTest::newRow("negative timeout")
            << QString::fromStdString(configWith(kText6))
            << "connections.openai.timeouts.total_ms: must be between";
        QTest::newRow("port range") << QString::fromUtf8(kText7)
                                    << "listeners[0].port: must be between 0 and 65535";
        QTest::newRow("no connections") << QString::fromUtf8(kText8)
                                        << "connections: must be an object with at least one connection";
        QTest::newRow("bad default")
            << QString::fromStdString(configWith("", kText9))
            << "default_connection: names no connection";
        QTest::newRow("missing env")
            << QString::fromStdString(configWith(kText10))
            << "connections.openai.credential.env: environment variable VIGIL_TST_UNSET_VAR is not set";
        QTest::newRow("both env and file")
            << QString::fromStdString(configWith(kText11))
            << "connections.openai.credential: must have exactly one of";
        QTest::newRow("json syntax") << QStringLiteral("{\n  \"listeners\": [\n  }")
                                     << "not valid JSON at line 3";
        QTest::newRow("reserved name")
            << QString::fromUtf8(kText12)
            << "connections.v1: 'v1' is a reserved path";
        QTest::newRow("log level") << QString::fromStdString(configWith("", kText13))
                                   << "log.level: must be one of debug, info, warn, error";
        QTest::newRow("policy without file") << QString::fromStdString(configWith("", ", \"policy\": {\"watch\": true}"))
                                             << "policy.file: is required";
        QTest::newRow("policy watch not bool") << QString::fromStdString(configWith("", ", \"policy\": {\"file\": \"p.json\", \"watch\": 1}"))
                                               << "policy.watch: must be true or false";
        QTest::newRow("policy poll too fast") << QString::fromStdString(configWith("", ", \"policy\": {\"file\": \"p.json\", \"poll_ms\": 1}"))
                                              << "policy.poll_ms: must be between 50 and 60000";
        QTest::newRow("policy unknown key") << QString::fromStdString(configWith("", ", \"policy\": {\"file\": \"p.json\", \"reload\": true}"))
                                            << "policy.reload: unknown key";
        QTest::newRow("missing tls file")
            << QString::fromUtf8(kText14)
            << "listeners[0].tls.cert_file: cannot read file '/nonexistent.crt'";
    }
    void errorsNameTheKey() {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        const QString error = errorFor(text.toStdString());
        QVERIFY2(error.contains(expected), qPrintable(error));
        QVERIFY2(error.startsWith(QStringLiteral("/etc/vigil/gateway.json: ")), qPrintable(error));
    }

    void errorsNeverContainTheCredential() {
        const QString error = errorFor(configWith(kText15));
        QVERIFY(!error.isEmpty());
        QVERIFY(!error.contains(QStringLiteral("sk-test-credential-0001")));
    }

    void credentialFromFileIsTrimmedAndRelativeToTheConfig() {
        QTemporaryDir dir;
        {
            std::ofstream(dir.filePath(QStringLiteral("key.txt")).toStdString()) << "sk-from-file-xyz\n";
            std::ofstream(dir.filePath(QStringLiteral("gateway.json")).toStdString())
                << kText16;
        }
        const auto config =
            vigil::config::loadConfig(dir.filePath(QStringLiteral("gateway.json")).toStdString());
        QCOMPARE(config.connections[0].credential, std::string("sk-from-file-xyz"));
    }

    void policyFileIsRelativeToTheConfig() {
        const auto config = vigil::config::parseConfig(configWith("", ", \"policy\": {\"file\": \"policies/main.json\"}"),
                                                       "/etc/vigil/gateway.json");
        QVERIFY(config.policy.has_value());
        QCOMPARE(QString::fromStdString(config.policy->file.string()), QStringLiteral("/etc/vigil/policies/main.json"));
        QVERIFY(config.policy->watch);
        QCOMPARE(config.policy->poll.count(), 500);
        QVERIFY(!vigil::config::parseConfig(configWith(""), "/etc/vigil/gateway.json").policy.has_value());
    }

    void recordingSettings() {
        const auto defaults = parseConfig(configWith(""), "/etc/vigil/gateway.json").recording;
        QVERIFY(defaults.durability == vigil::config::RecordingSettings::Durability::Strict);
        QCOMPARE(defaults.retentionDays, 0);
        QCOMPARE(defaults.commitSpin.count(), std::int64_t(1000));
        const auto set = parseConfig(configWith("", ", \"recording\": {\"durability\": \"relaxed\", "
                                                    "\"retention_days\": 90, \"checkpoint_every\": 50, \"commit_spin_us\": 0}"),
                                     "/etc/vigil/gateway.json")
                             .recording;
        QVERIFY(set.durability == vigil::config::RecordingSettings::Durability::Relaxed);
        QCOMPARE(set.retentionDays, 90);
        QCOMPARE(set.checkpointEvery, std::int64_t(50));
        QCOMPARE(set.commitSpin.count(), std::int64_t(0));
        for (const auto& [extra, expected] :
             std::vector<std::pair<std::string, QString>>{
                 {", \"recording\": {\"retention_days\": -1}", QStringLiteral("recording.retention_days")},
                 {", \"recording\": {\"checkpoint_every\": 0}", QStringLiteral("recording.checkpoint_every")},
                 {", \"recording\": {\"commit_spin_us\": -5}", QStringLiteral("recording.commit_spin_us")},
                 {", \"recording\": {\"commit_spin_us\": 200000}", QStringLiteral("recording.commit_spin_us")},
                 {", \"recording\": {\"commit_spin_us\": \"fast\"}", QStringLiteral("recording.commit_spin_us")},
                 {", \"recording\": {\"durability\": \"eventual\"}", QStringLiteral("recording.durability: must be \"strict\" or \"relaxed\"")},
                 {", \"recording\": {\"fsync\": 1}", QStringLiteral("recording.fsync")}}) {
            const auto error = errorFor(configWith("", extra));
            QVERIFY2(error.contains(expected), qPrintable(error));
        }
    }

    void anIssuerIsConfiguredOnce() {
        const std::string one = "{\"issuer\": \"https://idp.example\", \"audiences\": [\"a\"]}";
        const std::string two = "{\"issuer\": \"https://idp.example\", \"audiences\": [\"b\"]}";
        const std::string other = "{\"issuer\": \"https://other.example\", \"audiences\": [\"b\"]}";
        const auto identity = [](const std::string& issuers) {
            return ", \"identity\": {\"issuers\": [" + issuers + "]}";
        };
        QCOMPARE(errorFor(configWith("", identity(one + "," + other))), QString());
        // Tokens find their issuer by iss, so a second entry for the same one would never be
        // used: its audiences silently refused.
        const QString error = errorFor(configWith("", identity(one + "," + other + "," + two)));
        QVERIFY2(error.contains(QStringLiteral("identity.issuers[2].issuer: 'https://idp.example' is already configured at "
                                               "identity.issuers[0]; list all its audiences in one entry")),
                 qPrintable(error));
    }

    void twoConnectionsNeedADefault() {
        const std::string text = kText17;
        QVERIFY(errorFor(text).contains(QStringLiteral("default_connection: is required")));
    }

    void upstreamUrls_data() {
        QTest::addColumn<QString>("url");
        QTest::addColumn<bool>("valid");
        QTest::addColumn<QString>("host");
        QTest::addColumn<int>("port");
        QTest::newRow("http default port") << "http://example.com" << true << "example.com" << 80;
        QTest::newRow("explicit port") << "https://example.com:8443/x" << true << "example.com" << 8443;
        QTest::newRow("ipv6") << "http://[::1]:9000" << true << "::1" << 9000;
        QTest::newRow("userinfo") << "http://u:p@example.com" << false << "" << 0;
        QTest::newRow("query") << "http://example.com/?a=1" << false << "" << 0;
        QTest::newRow("bad port") << "http://example.com:99999" << false << "" << 0;
        QTest::newRow("no host") << "http://:80" << false << "" << 0;
    }
    void upstreamUrls() {
        QFETCH(QString, url);
        QFETCH(bool, valid);
        QFETCH(QString, host);
        QFETCH(int, port);
        std::string error;
        const auto parsed = vigil::config::parseUpstreamUrl(url.toStdString(), error);
        QCOMPARE(parsed.has_value(), valid);
        if (valid) {
            QCOMPARE(QString::fromStdString(parsed->host), host);
            QCOMPARE(int(parsed->port), port);
        } else {
            QVERIFY(!error.empty());
        }
    }
};

QTEST_APPLESS_MAIN(TestGatewayConfig)
#include "tst_gateway_config.moc"

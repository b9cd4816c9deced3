#include <QTest>

#include "config/gateway_config.h"
#include "route/router.h"

using vigil::route::RouteResult;

namespace texts {
const char* const kText0 = "{\"listeners\":[{\"port\":1}],\n"
            "            \"default_connection\":\"main\",\n"
            "            \"connections\":{\n"
            "              \"main\":{\"kind\":\"openai\",\"base_url\":\"http://a\",\"credential\":{\"env\":\"VIGIL_TST_KEY\"}},\n"
            "              \"azure\":{\"kind\":\"openai\",\"base_url\":\"https://b/openai/\",\"credential\":{\"env\":\"VIGIL_TST_KEY\"}}}}";
}  // namespace texts
using namespace texts;

class TestRouter : public QObject {
    Q_OBJECT
    vigil::config::GatewayConfig config_;

private slots:
    void initTestCase() {
        qputenv("VIGIL_TST_KEY", "k");
        config_ = vigil::config::parseConfig(kText0,
                                             "/x/gateway.json");
    }

    void routes_data() {
        QTest::addColumn<QString>("target");
        QTest::addColumn<int>("kind");
        QTest::addColumn<QString>("connection");
        QTest::addColumn<QString>("upstreamTarget");
        const int matched = int(RouteResult::Kind::Matched);
        QTest::newRow("default") << "/v1/chat/completions" << matched << "main" << "/v1/chat/completions";
        QTest::newRow("query kept") << "/v1/models?limit=2" << matched << "main" << "/v1/models?limit=2";
        QTest::newRow("named") << "/azure/v1/embeddings" << matched << "azure" << "/openai/v1/embeddings";
        QTest::newRow("named default") << "/main/v1/models" << matched << "main" << "/v1/models";
        QTest::newRow("bare v1") << "/v1" << matched << "main" << "/v1";
        QTest::newRow("unknown") << "/nope/v1/models" << int(RouteResult::Kind::UnknownConnection) << "" << "";
        QTest::newRow("not v1") << "/azure/v2/models" << int(RouteResult::Kind::NotRouted) << "" << "";
        QTest::newRow("v1 prefix only") << "/v1x/models" << int(RouteResult::Kind::NotRouted) << "" << "";
        QTest::newRow("root") << "/" << int(RouteResult::Kind::NotRouted) << "" << "";
        QTest::newRow("dotdot") << "/v1/../admin" << int(RouteResult::Kind::BadPath) << "" << "";
        QTest::newRow("encoded dotdot") << "/v1/%2e%2e/admin" << int(RouteResult::Kind::BadPath) << "" << "";
        QTest::newRow("absolute form") << "http://evil/v1/models" << int(RouteResult::Kind::BadPath) << "" << "";
        // Every spelling of a dot segment, in any case, also hidden behind an encoded slash.
        const int bad = int(RouteResult::Kind::BadPath);
        for (const char* dots : {"%2E%2e", "%2e%2E", "%2E%2E", ".%2E", "%2E.", "%2e", "%2E", ".", "..%2f", "..%2F",
                                 "%2e%2e%2f", "..%5c", "x%2f..", "x%5C..%5Cy"}) {
            QTest::newRow(qPrintable(QStringLiteral("climbs %1").arg(QLatin1String(dots))))
                << QStringLiteral("/v1/%1/secret").arg(QLatin1String(dots)) << bad << "" << "";
        }
        QTest::newRow("bad escape") << "/v1/chat/%zzcompletions" << bad << "" << "";
        QTest::newRow("cut escape") << "/v1/models/%4" << bad << "" << "";
        // The canonical form goes upstream: what the policy saw is what the upstream gets.
        QTest::newRow("encoded letter") << "/v1/chat/%63ompletions" << matched << "main" << "/v1/chat/completions";
        QTest::newRow("encoded unreserved") << "/v1/%7Efoo%2D%5f%2e1" << matched << "main" << "/v1/~foo-_.1";
        QTest::newRow("other encodings upper") << "/v1/files/a%3fb%3a" << matched << "main" << "/v1/files/a%3Fb%3A";
        // An encoded separator, a fragment or a backslash: an upstream could read the path as
        // an API the policy did not see (Python servers decode %2F and drop '#...').
        for (const char* target : {"/v1/chat%2Fcompletions", "/v1/chat%2fcompletions", "/v1/chat%5Ccompletions",
                                   "/v1/chat/completions#x", "/v1/models?q=1#x", "/v1\\chat/completions", "/v1/files/a%2fb"}) {
            QTest::newRow(target) << QString::fromLatin1(target) << bad << "" << "";
        }
        QTest::newRow("slashes merged") << "/v1//chat///completions" << matched << "main" << "/v1/chat/completions";
        QTest::newRow("leading slashes") << "//v1/models" << matched << "main" << "/v1/models";
        QTest::newRow("named, encoded") << "/%61zure/v1/embeddings" << matched << "azure" << "/openai/v1/embeddings";
        QTest::newRow("query untouched") << "/v1/models?q=%2e%2e/%61" << matched << "main" << "/v1/models?q=%2e%2e/%61";
        QTest::newRow("dots inside a name") << "/v1/models/gpt-4.1..x" << matched << "main" << "/v1/models/gpt-4.1..x";
    }
    void routes() {
        QFETCH(QString, target);
        QFETCH(int, kind);
        QFETCH(QString, connection);
        QFETCH(QString, upstreamTarget);
        const vigil::route::Router router(config_);
        const auto result = router.route(target.toStdString());
        QCOMPARE(int(result.kind), kind);
        if (result.kind == RouteResult::Kind::Matched) {
            QCOMPARE(QString::fromStdString(config_.connections[result.connection].name), connection);
            QCOMPARE(QString::fromStdString(result.upstreamTarget), upstreamTarget);
        }
    }
};

QTEST_APPLESS_MAIN(TestRouter)
#include "tst_router.moc"

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

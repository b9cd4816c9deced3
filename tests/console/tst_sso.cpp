// Single sign-on in the console with the real OpenID Connect provider (oidc-provider):
// "Sign in with SSO" asks the gateway which provider it trusts, runs the authorization
// code flow with PKCE through a browser (here a script playing the person: it signs in on
// the provider's login page) back to the console's loopback address, and signs in to the
// gateway with the access token: the person's groups become roles, and the live events
// connect. Access tokens live 8 s here (and the gateway allows no leeway): the console
// renews its token with the refresh token before it expires, and a dropped event stream
// reconnects with the new one. A gateway that trusts no provider says so.

#include <QComboBox>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QTest>

#include "managed_process.h"
#include "raw_http.h"
#include "views/connect_dialog.h"
#include "views/main_window.h"

using namespace vigil::test;
using vigil::console::EventStream;
using vigil::console::MainWindow;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-console-sso-upstream-6161");
const QString kIdpDir = QStringLiteral(VIGIL_SOURCE_DIR "/tests/integration/idp");
constexpr int kTokenSeconds = 8;

}  // namespace

class TestSso : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QTemporaryDir plainDir_;
    std::unique_ptr<ManagedProcess> mock_;
    std::unique_ptr<ManagedProcess> idp_;
    std::unique_ptr<ManagedProcess> gateway_;
    std::unique_ptr<ManagedProcess> plainGateway_;
    std::unique_ptr<ManagedProcess> otherIdp_;
    std::unique_ptr<ManagedProcess> twoIdpGateway_;
    QTemporaryDir twoIdpDir_;
    QList<QProcess*> browsers_;

    template <class T>
    static T* child(MainWindow& w, const char* name) {
        auto* c = w.findChild<T*>(QString::fromLatin1(name));
        if (c == nullptr) qWarning("no child %s", name);
        return c;
    }

    // The "browser": signs in as `login` on the provider's pages and follows the redirect.
    void useBrowser(MainWindow& window, const QString& login) {
        window.oidc().setBrowser([this, login](const QUrl& url) {
            auto* browser = new QProcess(this);
            browser->setWorkingDirectory(kIdpDir);
            browser->start(QStringLiteral(VIGIL_NODE_BIN),
                           {QStringLiteral("browser.mjs"), QStringLiteral("--url"), url.toString(), QStringLiteral("--login"), login});
            browsers_.append(browser);
        });
    }

private slots:
    void initTestCase() {
        mock_ = startMockUpstream(kUpstreamKey);
        QVERIFY(mock_);
        idp_ = std::make_unique<ManagedProcess>(QStringLiteral(VIGIL_NODE_BIN),
                                                QStringList{QStringLiteral("idp.mjs"), QStringLiteral("--port"), QStringLiteral("0"),
                                                            QStringLiteral("--keys"), dir_.filePath(QStringLiteral("idp-keys.json")),
                                                            QStringLiteral("--ttl"), QString::number(kTokenSeconds)});
        idp_->process().setWorkingDirectory(kIdpDir);
        QVERIFY(idp_->start());
        auto config = basicGatewayConfig(mock_->url());
        config.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), dir_.filePath(QStringLiteral("vigil.db"))}});
        config.insert(QStringLiteral("identity"),
                      QJsonObject{{QStringLiteral("issuers"),
                                   QJsonArray{QJsonObject{{QStringLiteral("issuer"), idp_->url()},
                                                          {QStringLiteral("audiences"), QJsonArray{QStringLiteral("https://vigil.example/api")}},
                                                          {QStringLiteral("leeway_s"), 0}}}},
                                  {QStringLiteral("roles"),
                                   QJsonObject{{QStringLiteral("approver"), QJsonObject{{QStringLiteral("groups"), QJsonArray{QStringLiteral("team-leads")}}}},
                                               {QStringLiteral("auditor"), QJsonObject{{QStringLiteral("groups"), QJsonArray{QStringLiteral("compliance")}}}},
                                               {QStringLiteral("requester"), QJsonObject{{QStringLiteral("groups"), QJsonArray{QStringLiteral("engineering")}}}}}}});
        gateway_ = startGateway(dir_, config, kUpstreamKey);
        QVERIFY(gateway_);
        plainGateway_ = startGateway(plainDir_, basicGatewayConfig(mock_->url()), kUpstreamKey);
        QVERIFY(plainGateway_);
        // A gateway that trusts two providers, another one listed first.
        otherIdp_ = std::make_unique<ManagedProcess>(QStringLiteral(VIGIL_NODE_BIN),
                                                     QStringList{QStringLiteral("idp.mjs"), QStringLiteral("--port"), QStringLiteral("0"),
                                                                 QStringLiteral("--keys"), twoIdpDir_.filePath(QStringLiteral("idp-keys.json"))});
        otherIdp_->process().setWorkingDirectory(kIdpDir);
        QVERIFY(otherIdp_->start());
        auto two = config;
        auto identity = two.value(QStringLiteral("identity")).toObject();
        auto issuers = identity.value(QStringLiteral("issuers")).toArray();
        issuers.prepend(QJsonObject{{QStringLiteral("issuer"), otherIdp_->url()},
                                    {QStringLiteral("audiences"), QJsonArray{QStringLiteral("https://vigil.example/api")}}});
        identity.insert(QStringLiteral("issuers"), issuers);
        two.insert(QStringLiteral("identity"), identity);
        two.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), twoIdpDir_.filePath(QStringLiteral("vigil.db"))}});
        twoIdpGateway_ = startGateway(twoIdpDir_, two, kUpstreamKey);
        QVERIFY(twoIdpGateway_);
    }

    void cleanupTestCase() {
        for (auto* b : browsers_) b->waitForFinished(5000);
        if (gateway_) QCOMPARE(gateway_->terminate(), 0);
        if (plainGateway_) QCOMPARE(plainGateway_->terminate(), 0);
        if (twoIdpGateway_) QCOMPARE(twoIdpGateway_->terminate(), 0);
    }

    void aPersonSignsInThroughTheProvider() {
        MainWindow window;
        window.show();
        useBrowser(window, QStringLiteral("lena.lead"));
        child<QLineEdit>(window, "gatewayUrlLineEdit")->setText(gateway_->url());
        QTest::mouseClick(child<QPushButton>(window, "ssoButton"), Qt::LeftButton);
        auto* signedIn = child<QLabel>(window, "signedInLabel");
        QTRY_VERIFY2_WITH_TIMEOUT(signedIn->text().contains(QStringLiteral("lena.lead")), qPrintable(signedIn->text()), 20000);
        QVERIFY(signedIn->text().contains(QStringLiteral("approver")));
        QVERIFY(signedIn->text().contains(QStringLiteral("auditor")));
        QCOMPARE(window.client().identity().method, QStringLiteral("oidc"));
        QTRY_COMPARE_WITH_TIMEOUT(window.events().state(), EventStream::State::Live, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(browsers_.last()->state(), QProcess::NotRunning, 10000);
        QVERIFY2(browsers_.last()->exitCode() == 0, browsers_.last()->readAllStandardOutput().constData());

        // Before the token expires, the console renews it; once the first one has expired
        // (the gateway refuses it), the renewed one still works, for REST and for a new
        // event-stream connection.
        QElapsedTimer sinceSignIn;
        sinceSignIn.start();
        const auto first = window.client().credential();
        QTRY_VERIFY_WITH_TIMEOUT(window.client().credential() != first, kTokenSeconds * 1000);
        const auto renewed = window.client().credential();
        QTest::qWait(static_cast<int>(std::max<qint64>(0, kTokenSeconds * 1000 + 1500 - sinceSignIn.elapsed())));
        QCOMPARE(httpRequest(gateway_->url(), "GET", "/api/me", {}, {{"Authorization", "Bearer " + first.toLatin1()}}).status, 401);
        const auto me = httpRequest(gateway_->url(), "GET", "/api/me", {}, {{"Authorization", "Bearer " + window.client().credential().toLatin1()}});
        QCOMPARE(me.status, 200);
        QCOMPARE(me.json().value(QStringLiteral("subject")).toString(), QStringLiteral("lena.lead"));
        QVERIFY(!renewed.isEmpty());
        window.events().dropConnection();
        QTRY_COMPARE_WITH_TIMEOUT(window.events().state(), EventStream::State::Reconnecting, 5000);
        QTRY_COMPARE_WITH_TIMEOUT(window.events().state(), EventStream::State::Live, 10000);
    }

    // Two providers: the first click offers the choice; the second signs in at the one chosen.
    void aPersonChoosesAmongSeveralProviders() {
        MainWindow window;
        window.show();
        window.showConnectDialog();
        useBrowser(window, QStringLiteral("lena.lead"));
        child<QLineEdit>(window, "gatewayUrlLineEdit")->setText(twoIdpGateway_->url());
        auto* chooser = child<QComboBox>(window, "identityProviderComboBox");
        QVERIFY(!chooser->isVisible());
        QTest::mouseClick(child<QPushButton>(window, "ssoButton"), Qt::LeftButton);
        QTRY_VERIFY(chooser->isVisible());
        QCOMPARE(chooser->count(), 2);
        QVERIFY(child<QLabel>(window, "signInMessageLabel")->text().contains(QStringLiteral("choose yours")));
        QCOMPARE(chooser->itemData(0).toString(), otherIdp_->url());
        chooser->setCurrentIndex(chooser->findData(idp_->url()));
        QTest::mouseClick(child<QPushButton>(window, "ssoButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(child<QLabel>(window, "signedInLabel")->text().contains(QStringLiteral("lena.lead")), 20000);
        QCOMPARE(window.client().identity().issuer, idp_->url());
        QVERIFY(!window.connectDialog().isVisible());
    }

    void aGatewayWithoutAProviderSaysSo() {
        MainWindow window;
        window.show();
        useBrowser(window, QStringLiteral("lena.lead"));
        child<QLineEdit>(window, "gatewayUrlLineEdit")->setText(plainGateway_->url());
        QTest::mouseClick(child<QPushButton>(window, "ssoButton"), Qt::LeftButton);
        QTRY_VERIFY(child<QLabel>(window, "signedInLabel")->text().contains(QStringLiteral("trusts no identity provider")));
        QVERIFY(child<QPushButton>(window, "ssoButton")->isEnabled());
    }
};

QTEST_MAIN(TestSso)
#include "tst_sso.moc"

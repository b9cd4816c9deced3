// Signing in, as a person would, in the connect dialog: a gateway behind TLS with an
// organisation's own CA is explained and then trusted with "CA file…" (REST and the live
// WebSocket both); the dialog closes once signed in; recent gateways are offered again; a
// remembered credential goes to the system keychain or nowhere, never into the settings
// file; a wrong key is refused with the gateway's reason, in the dialog; signing out closes
// the recording pages and opens the dialog again. Saves a screenshot of the dialog.

#include <QCheckBox>
#include <QJsonArray>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QTest>

#include "managed_process.h"
#include "test_pki.h"
#include "views/connect_dialog.h"
#include "views/main_window.h"

using namespace vigil::test;
using vigil::console::EventStream;
using vigil::console::MainWindow;

namespace {
const QString kUpstreamKey = QStringLiteral("sk-console-connect-upstream-5151");
}

class TestConnect : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QTemporaryDir pki_;
    QTemporaryDir settings_;
    std::unique_ptr<ManagedProcess> mock_;
    std::unique_ptr<ManagedProcess> gateway_;
    QString lead_;

    template <class T>
    static T* child(MainWindow& w, const char* name) {
        auto* c = w.findChild<T*>(QString::fromLatin1(name));
        if (c == nullptr) qWarning("no child %s", name);
        return c;
    }

private slots:
    void initTestCase() {
        // The console's settings go to a throwaway place, read back by the test.
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settings_.path());
        QCoreApplication::setOrganizationName(QStringLiteral("Vigil"));
        QCoreApplication::setApplicationName(QStringLiteral("Vigil Console"));
        QVERIFY(makeTestPki(pki_.path()));
        mock_ = startMockUpstream(kUpstreamKey);
        QVERIFY(mock_);
        auto config = basicGatewayConfig(mock_->url());
        config.insert(QStringLiteral("listeners"),
                      QJsonArray{QJsonObject{{QStringLiteral("address"), QStringLiteral("127.0.0.1")},
                                             {QStringLiteral("port"), 0},
                                             {QStringLiteral("tls"),
                                              QJsonObject{{QStringLiteral("cert_file"), pki_.filePath(QStringLiteral("server.crt"))},
                                                          {QStringLiteral("key_file"), pki_.filePath(QStringLiteral("server.key"))}}}}});
        config.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), dir_.filePath(QStringLiteral("vigil.db"))}});
        lead_ = createApiKey(dir_.filePath(QStringLiteral("vigil.db")), QStringLiteral("lead"), QStringLiteral("approver,auditor"));
        QVERIFY(!lead_.isEmpty());
        gateway_ = startGateway(dir_, config, kUpstreamKey);
        QVERIFY(gateway_);
        QVERIFY(gateway_->url().startsWith(QStringLiteral("https://")));
    }

    // The window opens where and as large as it was closed.
    void theWindowKeepsItsSize() {
        {
            MainWindow first;
            first.show();
            first.resize(930, 610);
            QTRY_COMPARE(first.size(), QSize(930, 610));
            first.close();
        }
        MainWindow second;
        QCOMPARE(second.size(), QSize(930, 610));
        QSettings settings;
        QVERIFY(!settings.value(QStringLiteral("window/geometry")).toByteArray().isEmpty());
    }

    void cleanupTestCase() {
        if (gateway_) QCOMPARE(gateway_->terminate(), 0);
    }

    void anUntrustedCertificateIsExplainedThenTrusted() {
        MainWindow window;
        window.show();
        // Not signed in: the recording pages are closed; the user opens the connect dialog.
        auto* pages = child<QTabWidget>(window, "pagesTabWidget");
        QVERIFY(!pages->isTabEnabled(1) && !pages->isTabEnabled(2));
        QTest::mouseClick(child<QPushButton>(window, "openConnectDialogButton"), Qt::LeftButton);
        auto& dialog = window.connectDialog();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        auto* url = child<QLineEdit>(window, "gatewayUrlLineEdit");
        url->setText(gateway_->url());
        QTest::keyClicks(child<QLineEdit>(window, "credentialLineEdit"), lead_);
        QTest::mouseClick(child<QPushButton>(window, "connectButton"), Qt::LeftButton);
        auto* signedIn = child<QLabel>(window, "signedInLabel");
        QTRY_VERIFY_WITH_TIMEOUT(signedIn->text().contains(QStringLiteral("not trusted")), 10000);
        QVERIFY(signedIn->text().contains(QStringLiteral("CA file")));
        QCOMPARE(window.events().state(), EventStream::State::Disconnected);
        // Explained in the dialog, which stays open.
        auto* message = child<QLabel>(window, "signInMessageLabel");
        QVERIFY2(message->text().contains(QStringLiteral("not trusted")), qPrintable(message->text()));
        QVERIFY(dialog.isVisible());
        QDir().mkpath(QStringLiteral(VIGIL_SCREENSHOT_DIR));
        QVERIFY(dialog.grab().save(QStringLiteral(VIGIL_SCREENSHOT_DIR "/connect-dialog.png")));

        // A file without certificates is refused, with the reason.
        QFile junk(pki_.filePath(QStringLiteral("junk.pem")));
        QVERIFY(junk.open(QIODevice::WriteOnly));
        junk.write("not a certificate\n");
        junk.close();
        window.setNextCaFile(junk.fileName());
        QTest::mouseClick(child<QPushButton>(window, "caFileButton"), Qt::LeftButton);
        QVERIFY(child<QLabel>(window, "caFileLabel")->text().contains(QStringLiteral("no PEM certificate")));

        window.setNextCaFile(pki_.filePath(QStringLiteral("ca.crt")));
        QTest::mouseClick(child<QPushButton>(window, "caFileButton"), Qt::LeftButton);
        QVERIFY(child<QLabel>(window, "caFileLabel")->text().contains(QStringLiteral("Trusting CA")));
        QTest::mouseClick(child<QPushButton>(window, "connectButton"), Qt::LeftButton);
        QTRY_VERIFY2_WITH_TIMEOUT(signedIn->text().contains(QStringLiteral("apikey:lead")), qPrintable(signedIn->text()), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(window.events().state(), EventStream::State::Live, 10000);  // wss:// with the CA
        QTRY_VERIFY(child<QLabel>(window, "gatewayStatusLabel")->text().contains(QStringLiteral("ready")));
        // Signed in: the dialog closed, the typed credential is not kept in it, the pages opened.
        QVERIFY(!dialog.isVisible());
        QVERIFY(child<QLineEdit>(window, "credentialLineEdit")->text().isEmpty());
        QVERIFY(pages->isTabEnabled(1) && pages->isTabEnabled(2));
        QCOMPARE(child<QLabel>(window, "gatewayLabel")->text(), gateway_->url());
        // Signing out: the live stream stops, the recording pages close, the dialog comes back.
        pages->setCurrentIndex(1);
        QTest::mouseClick(child<QPushButton>(window, "signOutButton"), Qt::LeftButton);
        QCOMPARE(window.events().state(), EventStream::State::Disconnected);
        QCOMPARE(signedIn->text(), QStringLiteral("Not signed in"));
        QVERIFY(!pages->isTabEnabled(1) && !pages->isTabEnabled(2));
        QCOMPARE(pages->currentIndex(), 0);
        QVERIFY(dialog.isVisible());
        QVERIFY(!child<QPushButton>(window, "signOutButton")->isEnabled());
    }

    // The gateway comes back next time, with its CA; the credential never lands in settings.
    void recentGatewaysAndRememberedCredentials() {
        {
            MainWindow window;
            window.show();
            window.showConnectDialog();
            QCOMPARE(child<QLineEdit>(window, "gatewayUrlLineEdit")->text(), gateway_->url());  // the recent one
            child<QCheckBox>(window, "rememberCheckBox")->setChecked(true);
            QTest::keyClicks(child<QLineEdit>(window, "credentialLineEdit"), lead_);
            QTest::mouseClick(child<QPushButton>(window, "connectButton"), Qt::LeftButton);
            QTRY_VERIFY_WITH_TIMEOUT(child<QLabel>(window, "signedInLabel")->text().contains(QStringLiteral("apikey:lead")), 10000);
            // Either the system keychain took it, or the console says it did not.
            QTRY_VERIFY_WITH_TIMEOUT(window.statusBar()->currentMessage().contains(QStringLiteral("keychain")), 10000);
        }
        QSettings settings;
        settings.sync();
        QVERIFY(settings.value(QStringLiteral("recent/gateways")).toStringList().contains(gateway_->url()));
        QFile file(settings.fileName());
        QVERIFY(file.open(QIODevice::ReadOnly));
        const auto stored = file.readAll();
        QVERIFY(stored.contains("ca.crt"));
        QVERIFY2(!stored.contains(lead_.toLatin1()), "the credential must never be written to the settings file");
    }

    void aWrongKeyIsRefusedWithTheGatewaysReason() {
        MainWindow window;
        window.show();
        window.connectTo(QUrl(gateway_->url()), QStringLiteral("vgl_wrongwrongwrongwrong_000000000000000000000"));
        QTRY_VERIFY_WITH_TIMEOUT(child<QLabel>(window, "signedInLabel")->text().contains(QStringLiteral("Sign-in refused")), 10000);
        QCOMPARE(window.events().state(), EventStream::State::Disconnected);
        // The refusal opens the connect dialog with the reason, to try again.
        QVERIFY(window.connectDialog().isVisible());
        QVERIFY(child<QLabel>(window, "signInMessageLabel")->text().contains(QStringLiteral("Sign-in refused")));
    }
};

QTEST_MAIN(TestConnect)
#include "tst_connect.moc"

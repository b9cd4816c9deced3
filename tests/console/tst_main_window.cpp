// The console's main window, driven as a person would: type the gateway URL, press Check.

#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTest>

#include "managed_process.h"
#include "views/main_window.h"

using namespace vigil::test;
using vigil::console::GatewayProbe;
using vigil::console::MainWindow;

class TestMainWindow : public QObject {
    Q_OBJECT

    static void checkGateway(MainWindow& window, const QString& url) {
        window.showConnectDialog();
        auto* edit = window.findChild<QLineEdit*>(QStringLiteral("gatewayUrlLineEdit"));
        auto* button = window.findChild<QPushButton*>(QStringLiteral("checkGatewayButton"));
        QVERIFY(edit && button);
        edit->clear();
        QTest::keyClicks(edit, url);
        QTest::mouseClick(button, Qt::LeftButton);
    }

private slots:
    void showsAReadyGateway() {
        const QString key = QStringLiteral("sk-console-test-upstream-1");
        auto mock = startMockUpstream(key);
        QVERIFY(mock);
        QTemporaryDir dir;
        auto gateway = startGateway(dir, basicGatewayConfig(mock->url()), key);
        QVERIFY(gateway);

        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        auto* status = window.findChild<QLabel*>(QStringLiteral("gatewayStatusLabel"));
        QVERIFY(status);
        checkGateway(window, gateway->url());
        QTRY_COMPARE(window.probe().state(), GatewayProbe::State::Ready);
        QCOMPARE(status->text(), QStringLiteral("Gateway ready"));
    }

    void explainsAnUnreachableGateway() {
        QTcpServer server;
        QVERIFY(server.listen(QHostAddress::LocalHost, 0));
        const quint16 port = server.serverPort();
        server.close();
        MainWindow window;
        window.show();
        checkGateway(window, QStringLiteral("http://127.0.0.1:%1").arg(port));
        QTRY_COMPARE(window.probe().state(), GatewayProbe::State::Unreachable);
        auto* status = window.findChild<QLabel*>(QStringLiteral("gatewayStatusLabel"));
        QVERIFY2(status->text().contains(QStringLiteral("refused"), Qt::CaseInsensitive), qPrintable(status->text()));
    }
};

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"

#include <QApplication>
#include <QCommandLineParser>
#include <QProcessEnvironment>

#include "views/connect_dialog.h"
#include "views/main_window.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("Vigil"));
    QApplication::setApplicationName(QStringLiteral("Vigil Console"));
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Vigil Console: approve held requests, replay recorded sessions, watch the gateway.\n"
        "With --gateway and the environment variable VIGIL_CONSOLE_CREDENTIAL (an API key or access\n"
        "token; never on the command line, where other users can read it) it signs in at start."));
    parser.addHelpOption();
    QCommandLineOption gateway(QStringLiteral("gateway"), QStringLiteral("The gateway's URL."), QStringLiteral("url"));
    parser.addOption(gateway);
    parser.process(app);
    vigil::console::MainWindow window;
    window.show();
    const auto credential = QProcessEnvironment::systemEnvironment().value(QStringLiteral("VIGIL_CONSOLE_CREDENTIAL"));
    if (parser.isSet(gateway) && !credential.isEmpty()) {
        window.connectTo(QUrl::fromUserInput(parser.value(gateway)), credential);
    } else {
        // Not signed in yet: the connect dialog, with the gateway given or the most recent one.
        if (parser.isSet(gateway)) window.connectDialog().gatewayUrl()->setText(parser.value(gateway));
        window.showConnectDialog();
    }
    return QApplication::exec();
}

#include <QApplication>

#include "views/main_window.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("Vigil"));
    QApplication::setApplicationName(QStringLiteral("Vigil Console"));
    vigil::console::MainWindow window;
    window.show();
    return QApplication::exec();
}

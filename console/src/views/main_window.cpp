#include "views/main_window.h"

#include <QFormLayout>
#include <QHBoxLayout>
#include <QStatusBar>
#include <QVBoxLayout>

namespace vigil::console {

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent),
      gatewayUrlLineEdit_(new QLineEdit(QStringLiteral("http://127.0.0.1:8080"))),
      checkGatewayButton_(new QPushButton(tr("&Check"))),
      gatewayStatusLabel_(new QLabel(tr("Not checked"))) {
    setWindowTitle(tr("Vigil Console"));
    gatewayUrlLineEdit_->setObjectName(QStringLiteral("gatewayUrlLineEdit"));
    checkGatewayButton_->setObjectName(QStringLiteral("checkGatewayButton"));
    gatewayStatusLabel_->setObjectName(QStringLiteral("gatewayStatusLabel"));

    auto* central = new QWidget;
    auto* layout = new QVBoxLayout(central);
    auto* row = new QHBoxLayout;
    row->addWidget(gatewayUrlLineEdit_, 1);
    row->addWidget(checkGatewayButton_);
    auto* form = new QFormLayout;
    form->addRow(tr("Gateway:"), row);
    form->addRow(tr("Status:"), gatewayStatusLabel_);
    layout->addLayout(form);
    layout->addStretch(1);
    setCentralWidget(central);
    statusBar()->showMessage(tr("Not connected"));
    resize(720, 420);

    connect(checkGatewayButton_, &QPushButton::clicked, this,
            [this] { probe_.check(QUrl::fromUserInput(gatewayUrlLineEdit_->text())); });
    connect(gatewayUrlLineEdit_, &QLineEdit::returnPressed, checkGatewayButton_, &QPushButton::click);
    connect(&probe_, &GatewayProbe::stateChanged, this, &MainWindow::onProbeStateChanged);
}

void MainWindow::onProbeStateChanged(GatewayProbe::State state, const QString& detail) {
    gatewayStatusLabel_->setText(detail);
    statusBar()->showMessage(state == GatewayProbe::State::Ready ? tr("Gateway ready") : detail);
}

}  // namespace vigil::console

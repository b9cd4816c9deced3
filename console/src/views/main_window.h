#pragma once

#include <QLabel>
#include <QLineEdit>
#include <QMainWindow>
#include <QPushButton>

#include "net/gateway_probe.h"

namespace vigil::console {

// The console's main window. For now: the gateway to talk to and whether it is ready;
// the review queue, sessions browser and replay views come with their issues.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

    GatewayProbe& probe() { return probe_; }

private:
    void onProbeStateChanged(GatewayProbe::State state, const QString& detail);

    GatewayProbe probe_;
    QLineEdit* gatewayUrlLineEdit_;
    QPushButton* checkGatewayButton_;
    QLabel* gatewayStatusLabel_;
};

}  // namespace vigil::console

#pragma once

#include <QLabel>
#include <QPushButton>
#include <QTimer>
#include <QWidget>

#include "models/dashboard_data.h"
#include "net/gateway_client.h"

class QChartView;

namespace vigil::console {

// Charts for auditors: requests over the last 24 hours by decision, the rules that fired
// most, and reviews by outcome with their median time to a decision.
class DashboardPage : public QWidget {
    Q_OBJECT
public:
    DashboardPage(GatewayClient& client, QWidget* parent = nullptr);

    void refresh();
    // Requests went through the gateway (its live events): the figures are brought up to
    // date every 10 s at most while the page is shown, and when it is shown again.
    void noteActivity();
    const DashboardData& data() const { return data_; }
    bool loaded() const { return pending_ == 0 && loadedOnce_; }
    // "850 ms", "42.0 s", "3.3 min": how a median time to decision is shown.
    static QString formatMedian(double seconds);

signals:
    void statusMessage(const QString& text);

protected:
    void showEvent(QShowEvent* event) override;

private:
    void render();

    GatewayClient& client_;
    DashboardData data_;
    QChartView* requestsChart_;
    QChartView* rulesChart_;
    QChartView* reviewsChart_;
    QLabel* summary_;
    QPushButton* refresh_;
    QTimer live_;
    int pending_ = 0;
    bool loadedOnce_ = false;
    bool stale_ = false;
};

}  // namespace vigil::console

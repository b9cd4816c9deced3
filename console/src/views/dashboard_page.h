#pragma once

#include <QLabel>
#include <QPushButton>
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
    const DashboardData& data() const { return data_; }
    bool loaded() const { return pending_ == 0 && loadedOnce_; }

signals:
    void statusMessage(const QString& text);

private:
    void render();
    static QString formatMedian(double seconds);

    GatewayClient& client_;
    DashboardData data_;
    QChartView* requestsChart_;
    QChartView* rulesChart_;
    QChartView* reviewsChart_;
    QLabel* summary_;
    QPushButton* refresh_;
    int pending_ = 0;
    bool loadedOnce_ = false;
};

}  // namespace vigil::console

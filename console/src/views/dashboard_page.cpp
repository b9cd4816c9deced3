#include "views/dashboard_page.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHorizontalBarSeries>
#include <QStackedBarSeries>
#include <QValueAxis>
#include <QVBoxLayout>

namespace vigil::console {
namespace {

QColor decisionColor(const QString& d) {
    if (d == QStringLiteral("allow")) return QColor(0x2e, 0x8b, 0x57);
    if (d == QStringLiteral("review")) return QColor(0xe0, 0x9b, 0x12);
    if (d == QStringLiteral("deny")) return QColor(0xc0, 0x39, 0x2b);
    return QColor(0x90, 0x90, 0x90);
}

QChartView* makeView(const QString& objectName) {
    auto* view = new QChartView;
    view->setObjectName(objectName);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumHeight(220);
    return view;
}

// Whole numbers only on a count axis: with a small maximum, one tick per unit.
void countTicks(QValueAxis* axis, qint64 maximum) {
    axis->setRange(0, static_cast<double>(std::max<qint64>(maximum, 1)));
    if (maximum < 5) {
        axis->setTickCount(static_cast<int>(std::max<qint64>(maximum, 1)) + 1);
    } else {
        axis->applyNiceNumbers();
    }
}

void setChart(QChartView* view, QChart* chart) {
    auto* old = view->chart();
    view->setChart(chart);
    delete old;
}

}  // namespace

DashboardPage::DashboardPage(GatewayClient& client, QWidget* parent)
    : QWidget(parent),
      client_(client),
      requestsChart_(makeView(QStringLiteral("requestsChartView"))),
      rulesChart_(makeView(QStringLiteral("rulesChartView"))),
      reviewsChart_(makeView(QStringLiteral("reviewsChartView"))),
      summary_(new QLabel(tr("Not loaded"))),
      refresh_(new QPushButton(tr("Refres&h"))) {
    summary_->setObjectName(QStringLiteral("dashboardSummaryLabel"));
    refresh_->setObjectName(QStringLiteral("refreshDashboardButton"));
    auto* top = new QHBoxLayout;
    top->addWidget(summary_, 1);
    top->addWidget(refresh_);
    auto* grid = new QGridLayout;
    grid->addWidget(requestsChart_, 0, 0, 1, 2);
    grid->addWidget(rulesChart_, 1, 0);
    grid->addWidget(reviewsChart_, 1, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addLayout(grid, 1);
    connect(refresh_, &QPushButton::clicked, this, &DashboardPage::refresh);
    live_.setSingleShot(true);
    connect(&live_, &QTimer::timeout, this, [this] {
        if (stale_ && isVisible()) refresh();
    });
    render();
}

void DashboardPage::noteActivity() {
    stale_ = true;
    if (isVisible() && loadedOnce_ && !live_.isActive()) live_.start(10'000);
}

void DashboardPage::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (stale_ && loadedOnce_) refresh();
}

void DashboardPage::refresh() {
    if (pending_ > 0) return;
    pending_ = 1;
    stale_ = false;
    const auto from = QDateTime::currentDateTimeUtc().addSecs(-24 * 3600).toString(Qt::ISODate);
    const auto done = [this] {
        if (--pending_ == 0) {
            loadedOnce_ = true;
            render();
        }
    };
    client_.get(QStringLiteral("/api/stats?from=") + from, [this, done](const ApiResult& r) {
        if (r.ok()) {
            data_.setStats(r.body);
        } else {
            emit statusMessage(tr("Cannot load the statistics: %1").arg(r.errorMessage));
        }
        done();
    });
}

void DashboardPage::render() {
    QStringList parts;
    for (const auto& d : DashboardData::decisions()) {
        if (data_.byDecision.value(d) > 0) parts << tr("%1 %2").arg(data_.byDecision.value(d)).arg(d);
    }
    summary_->setText(loadedOnce_ ? tr("Last 24 hours: %1 requests%2").arg(data_.requests).arg(parts.isEmpty() ? QString() : QStringLiteral(" (") + parts.join(QStringLiteral(", ")) + QLatin1Char(')'))
                                  : tr("Not loaded"));

    // Requests per hour, stacked by decision.
    auto* requests = new QChart;
    requests->setTitle(tr("Requests per hour by decision"));
    auto* stacked = new QStackedBarSeries;
    QStringList hours;
    for (const auto& h : data_.hours) hours << h.start.toLocalTime().toString(QStringLiteral("HH"));
    for (const auto& d : DashboardData::decisions()) {
        auto* set = new QBarSet(d);
        set->setColor(decisionColor(d));
        for (const auto& h : data_.hours) *set << static_cast<double>(h.byDecision.value(d));
        stacked->append(set);
    }
    requests->addSeries(stacked);
    auto* hourAxis = new QBarCategoryAxis;
    hourAxis->append(hours.isEmpty() ? QStringList{tr("no requests")} : hours);
    requests->addAxis(hourAxis, Qt::AlignBottom);
    stacked->attachAxis(hourAxis);
    qint64 peak = 1;
    for (const auto& h : data_.hours) {
        qint64 sum = 0;
        for (const auto n : h.byDecision) sum += n;
        peak = std::max(peak, sum);
    }
    auto* countAxis = new QValueAxis;
    countAxis->setLabelFormat(QStringLiteral("%d"));
    countTicks(countAxis, peak);
    requests->addAxis(countAxis, Qt::AlignLeft);
    stacked->attachAxis(countAxis);
    requests->legend()->setAlignment(Qt::AlignRight);
    setChart(requestsChart_, requests);

    // The rules that fired most.
    auto* rules = new QChart;
    rules->setTitle(tr("Top rules (requests they decided)"));
    auto* ruleSeries = new QHorizontalBarSeries;
    auto* ruleSet = new QBarSet(tr("requests"));
    QStringList ruleNames;
    for (auto it = data_.topRules.rbegin(); it != data_.topRules.rend(); ++it) {
        ruleNames << it->first;
        *ruleSet << static_cast<double>(it->second);
    }
    ruleSet->setColor(QColor(0x3b, 0x6e, 0xa5));
    ruleSeries->append(ruleSet);
    rules->addSeries(ruleSeries);
    auto* ruleAxis = new QBarCategoryAxis;
    ruleAxis->append(ruleNames.isEmpty() ? QStringList{tr("none")} : ruleNames);
    rules->addAxis(ruleAxis, Qt::AlignLeft);
    ruleSeries->attachAxis(ruleAxis);
    auto* ruleCount = new QValueAxis;
    ruleCount->setLabelFormat(QStringLiteral("%d"));
    countTicks(ruleCount, data_.topRules.isEmpty() ? 1 : data_.topRules.first().second);
    rules->addAxis(ruleCount, Qt::AlignBottom);
    ruleSeries->attachAxis(ruleCount);
    rules->legend()->hide();
    setChart(rulesChart_, rules);

    // Reviews by outcome, with the median time each outcome took.
    auto* reviews = new QChart;
    reviews->setTitle(tr("Reviews by outcome (median time to decision)"));
    auto* reviewSeries = new QBarSeries;
    auto* reviewSet = new QBarSet(tr("reviews"));
    reviewSet->setColor(QColor(0x6c, 0x4f, 0xa3));
    QStringList outcomes;
    for (const auto& o : {QStringLiteral("approved"), QStringLiteral("denied"), QStringLiteral("expired"), QStringLiteral("cancelled"),
                          QStringLiteral("pending")}) {
        const auto n = data_.reviewsByOutcome.value(o);
        QString label = o;
        if (data_.medianSecondsToDecision.contains(o)) {
            label += QStringLiteral("<br>%1").arg(formatMedian(data_.medianSecondsToDecision.value(o)));
        }
        outcomes << label;
        *reviewSet << static_cast<double>(n);
    }
    reviewSeries->append(reviewSet);
    reviews->addSeries(reviewSeries);
    auto* outcomeAxis = new QBarCategoryAxis;
    outcomeAxis->append(outcomes);
    outcomeAxis->setTruncateLabels(false);
    reviews->addAxis(outcomeAxis, Qt::AlignBottom);
    reviewSeries->attachAxis(outcomeAxis);
    qint64 most = 1;
    for (const auto n : data_.reviewsByOutcome) most = std::max(most, n);
    auto* reviewCount = new QValueAxis;
    reviewCount->setLabelFormat(QStringLiteral("%d"));
    countTicks(reviewCount, most);
    reviews->addAxis(reviewCount, Qt::AlignLeft);
    reviewSeries->attachAxis(reviewCount);
    reviews->legend()->hide();
    setChart(reviewsChart_, reviews);
}

QString DashboardPage::formatMedian(double seconds) {
    if (seconds < 1) return tr("%1 ms").arg(seconds * 1000.0, 0, 'f', 0);
    if (seconds < 120) return tr("%1 s").arg(seconds, 0, 'f', 1);
    return tr("%1 min").arg(seconds / 60.0, 0, 'f', 1);
}

}  // namespace vigil::console

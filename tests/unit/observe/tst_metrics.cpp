#include <QTest>

#include "observe/metrics.h"

namespace texts {

}  // namespace texts
using namespace texts;

class TestMetrics : public QObject {
    Q_OBJECT
private slots:
    void rendersCountersHistogramAndGauge() {
        vigil::observe::Metrics metrics({"demo"});
        metrics.requestStarted();
        metrics.requestFinished(0, 200, 0.0007);
        metrics.requestStarted();
        metrics.requestFinished(0, 502, 0.02);
        metrics.upstreamError(0, vigil::DetailsCode::UpstreamUnreachable);
        metrics.requestStarted();
        metrics.requestFinished(std::nullopt, 404, 0.0001);
        metrics.requestStarted();  // still in flight
        const QString text = QString::fromStdString(metrics.render());
        QVERIFY(text.contains(QStringLiteral("vigil_requests_total{connection=\"demo\",status=\"200\"} 1\n")));
        QVERIFY(text.contains(QStringLiteral("vigil_requests_total{connection=\"demo\",status=\"502\"} 1\n")));
        QVERIFY(text.contains(QStringLiteral("vigil_requests_total{connection=\"none\",status=\"404\"} 1\n")));
        QVERIFY(text.contains(QStringLiteral("vigil_request_duration_seconds_bucket{connection=\"demo\",le=\"0.0005\"} 0\n")));
        QVERIFY(text.contains(QStringLiteral("vigil_request_duration_seconds_bucket{connection=\"demo\",le=\"0.001\"} 1\n")));
        QVERIFY(text.contains(QStringLiteral("vigil_request_duration_seconds_bucket{connection=\"demo\",le=\"0.025\"} 2\n")));
        QVERIFY(text.contains(QStringLiteral("vigil_request_duration_seconds_bucket{connection=\"demo\",le=\"+Inf\"} 2\n")));
        QVERIFY(text.contains(QStringLiteral("vigil_request_duration_seconds_count{connection=\"demo\"} 2\n")));
        QVERIFY(text.contains(QStringLiteral("vigil_requests_in_flight 1\n")));
        QVERIFY(text.contains(QStringLiteral("vigil_upstream_errors_total{connection=\"demo\",code=\"upstream_unreachable\"} 1\n")));
        // Every sample line is "name{labels} value" or "name value".
        for (const auto& line : text.split(QLatin1Char('\n'), Qt::SkipEmptyParts)) {
            if (line.startsWith(QLatin1Char('#'))) continue;
            QVERIFY2(line.count(QLatin1Char(' ')) == 1, qPrintable(line));
        }
    }
};

QTEST_APPLESS_MAIN(TestMetrics)
#include "tst_metrics.moc"

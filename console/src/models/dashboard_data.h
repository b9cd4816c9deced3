#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QPair>
#include <QStringList>

namespace vigil::console {

// What the dashboard shows, computed from GET /api/stats.
struct DashboardData {
    struct Hour {
        QDateTime start;
        QMap<QString, qint64> byDecision;  // allow, review, deny, none
    };
    qint64 requests = 0;
    QMap<QString, qint64> byDecision;
    QList<Hour> hours;                       // oldest first
    QList<QPair<QString, qint64>> topRules;  // most fired first, at most 10
    QMap<QString, qint64> reviewsByOutcome;  // approved, denied, expired, cancelled, pending
    QMap<QString, double> medianSecondsToDecision;  // by outcome (decided reviews only)

    static QStringList decisions() {
        return {QStringLiteral("allow"), QStringLiteral("review"), QStringLiteral("deny"), QStringLiteral("none")};
    }
    void setStats(const QJsonObject& stats);
};

}  // namespace vigil::console

#include "models/dashboard_data.h"

#include <QJsonArray>

#include <algorithm>

namespace vigil::console {

void DashboardData::setStats(const QJsonObject& stats) {
    requests = static_cast<qint64>(stats.value(QStringLiteral("requests")).toDouble());
    byDecision.clear();
    const auto decisionsObj = stats.value(QStringLiteral("by_decision")).toObject();
    for (auto it = decisionsObj.begin(); it != decisionsObj.end(); ++it) byDecision[it.key()] = static_cast<qint64>(it.value().toDouble());
    hours.clear();
    for (const auto& v : stats.value(QStringLiteral("by_hour")).toArray()) {
        const auto o = v.toObject();
        Hour h;
        h.start = QDateTime::fromString(o.value(QStringLiteral("hour")).toString(), Qt::ISODateWithMs);
        const auto d = o.value(QStringLiteral("by_decision")).toObject();
        for (auto it = d.begin(); it != d.end(); ++it) h.byDecision[it.key()] = static_cast<qint64>(it.value().toDouble());
        hours.append(h);
    }
    std::sort(hours.begin(), hours.end(), [](const Hour& a, const Hour& b) { return a.start < b.start; });
    // Every hour of the range, quiet ones too, so that the axis is time.
    const auto to = QDateTime::fromString(stats.value(QStringLiteral("to")).toString(), Qt::ISODateWithMs);
    const auto from = QDateTime::fromString(stats.value(QStringLiteral("from")).toString(), Qt::ISODateWithMs);
    if (to.isValid() && from.isValid() && from.secsTo(to) <= 31 * 24 * 3600) {
        // Whole hours from the first one after `from` (the partial oldest hour joins it), so
        // that every bar is one hour and every label is unique.
        const auto first = QDateTime::fromSecsSinceEpoch((from.toSecsSinceEpoch() + 3599) / 3600 * 3600, Qt::UTC);
        QList<Hour> all;
        for (auto at = first; at < to; at = at.addSecs(3600)) all.append({at, {}});
        if (all.isEmpty()) all.append({first, {}});
        for (const auto& h : hours) {
            const auto index = std::clamp<qint64>(first.secsTo(h.start) / 3600, 0, all.size() - 1);
            for (auto it = h.byDecision.begin(); it != h.byDecision.end(); ++it) all[index].byDecision[it.key()] += it.value();
        }
        hours = std::move(all);
    }
    topRules.clear();
    const auto rules = stats.value(QStringLiteral("by_rule")).toObject();
    for (auto it = rules.begin(); it != rules.end(); ++it) topRules.append({it.key(), static_cast<qint64>(it.value().toDouble())});
    std::sort(topRules.begin(), topRules.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (topRules.size() > 10) topRules.resize(10);
    // Reviews created in the range, from the store (those decided before a restart too).
    reviewsByOutcome.clear();
    const auto reviews = stats.value(QStringLiteral("reviews_by_state")).toObject();
    for (auto it = reviews.begin(); it != reviews.end(); ++it) reviewsByOutcome.insert(it.key(), it.value().toInteger());
    medianSecondsToDecision.clear();
    const auto medians = stats.value(QStringLiteral("review_median_seconds")).toObject();
    for (auto it = medians.begin(); it != medians.end(); ++it) medianSecondsToDecision.insert(it.key(), it.value().toDouble());
}

}  // namespace vigil::console

#include "models/review_item.h"

#include <QJsonArray>

namespace vigil::console {
namespace {

QDateTime fromMicros(const QJsonValue& v) {
    return QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(v.toDouble() / 1000.0), Qt::UTC);
}

QStringList strings(const QJsonValue& v) {
    QStringList out;
    for (const auto& x : v.toArray()) out << x.toString();
    return out;
}

}  // namespace

ReviewItem ReviewItem::fromJson(const QJsonObject& j) {
    ReviewItem r;
    r.id = j.value(QStringLiteral("id")).toString();
    r.kind = j.value(QStringLiteral("kind")).toString();
    r.mode = j.value(QStringLiteral("mode")).toString();
    r.state = j.value(QStringLiteral("state")).toString();
    const auto requester = j.value(QStringLiteral("requester")).toObject();
    r.requester = requester.value(QStringLiteral("subject")).toString();
    r.requesterRoles = strings(requester.value(QStringLiteral("roles")));
    r.connection = j.value(QStringLiteral("connection")).toString();
    r.model = j.value(QStringLiteral("model")).toString();
    r.path = j.value(QStringLiteral("path")).toString();
    r.rule = j.value(QStringLiteral("rule")).toString();
    r.ruleMessage = j.value(QStringLiteral("rule_message")).toString();
    r.ruleDescription = j.value(QStringLiteral("rule_description")).toString();
    r.approverRoles = strings(j.value(QStringLiteral("approver_roles")));
    r.quorum = j.value(QStringLiteral("quorum")).toInt(1);
    for (const auto& a : j.value(QStringLiteral("approvals")).toArray()) {
        r.approvers << a.toObject().value(QStringLiteral("subject")).toString();
    }
    for (const auto& m : j.value(QStringLiteral("messages")).toArray()) {
        const auto o = m.toObject();
        r.messages.append({o.value(QStringLiteral("role")).toString(), o.value(QStringLiteral("text")).toString(),
                           o.value(QStringLiteral("truncated")).toBool() ? o.value(QStringLiteral("text_bytes")).toInteger(-1) : -1});
    }
    for (const auto& p : j.value(QStringLiteral("other_parts")).toArray()) {
        const auto o = p.toObject();
        r.otherParts.append({o.value(QStringLiteral("where")).toString(), o.value(QStringLiteral("kind")).toString(),
                             o.value(QStringLiteral("detail")).toString()});
    }
    r.otherPartsOmitted = j.value(QStringLiteral("other_parts_omitted")).toInteger();
    for (const auto& m : j.value(QStringLiteral("matches")).toArray()) {
        const auto o = m.toObject();
        r.matches.append({o.value(QStringLiteral("rule")).toString(), o.value(QStringLiteral("kind")).toString(),
                          o.value(QStringLiteral("condition")).toString(), o.value(QStringLiteral("expression")).toString(),
                          o.value(QStringLiteral("case_insensitive")).toBool(), o.value(QStringLiteral("message")).toInt()});
    }
    r.tools = strings(j.value(QStringLiteral("tools")));
    r.estimatedTokens = static_cast<qint64>(j.value(QStringLiteral("estimated_tokens")).toDouble());
    r.estimatedCost = j.value(QStringLiteral("estimated_cost")).toDouble();
    r.output = j.value(QStringLiteral("output")).toString();
    r.partial = j.value(QStringLiteral("payload_truncated")).toBool();
    r.messagesTotal = j.value(QStringLiteral("messages_total")).toInteger(-1);
    r.outputBytes = j.value(QStringLiteral("output_truncated")).toBool() ? j.value(QStringLiteral("output_bytes")).toInteger(-1) : -1;
    r.created = fromMicros(j.value(QStringLiteral("created_us")));
    r.deadline = fromMicros(j.value(QStringLiteral("deadline_us")));
    return r;
}

}  // namespace vigil::console

#include "models/replay.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>

namespace vigil::console {
namespace {

QString contentText(const QJsonValue& content) {
    if (content.isString()) return content.toString();
    QString text;
    for (const auto& part : content.toArray()) {
        const auto o = part.toObject();
        const auto t = o.value(QStringLiteral("text")).toString();
        if (!t.isEmpty()) text += (text.isEmpty() ? QString() : QStringLiteral("\n")) + t;
    }
    return text;
}

QString markerText(const QString& type, const QJsonObject& p) {
    if (type == QStringLiteral("decision")) {
        QStringList rules;
        for (const auto& r : p.value(QStringLiteral("rules")).toArray()) rules << r.toString();
        return QObject::tr("Decision: %1%2").arg(p.value(QStringLiteral("action")).toString(),
                                                 rules.isEmpty() ? QObject::tr(" (by default)") : QStringLiteral(" (") + rules.join(QStringLiteral(", ")) + QLatin1Char(')'));
    }
    if (type == QStringLiteral("identity")) {
        return QObject::tr("Caller: %1 (%2)").arg(p.value(QStringLiteral("subject")).toString(), p.value(QStringLiteral("method")).toString());
    }
    if (type.startsWith(QStringLiteral("review."))) {
        const auto change = p.value(QStringLiteral("change")).toObject();
        QString who = change.value(QStringLiteral("by")).toString();
        QString reason = change.value(QStringLiteral("reason")).toString();
        QString text = QObject::tr("Review %1: %2").arg(p.value(QStringLiteral("id")).toString(), type.mid(7));
        if (!who.isEmpty()) text += QObject::tr(" by %1").arg(who);
        if (!reason.isEmpty()) text += QStringLiteral(" — ") + reason;
        return text;
    }
    if (type == QStringLiteral("masking.applied")) {
        QStringList parts;
        for (const auto& e : p.value(QStringLiteral("entities")).toArray()) {
            const auto o = e.toObject();
            parts << QStringLiteral("%1 × %2").arg(o.value(QStringLiteral("entity")).toString()).arg(o.value(QStringLiteral("count")).toInt());
        }
        return QObject::tr("Masked (%1): %2").arg(p.value(QStringLiteral("direction")).toString(), parts.join(QStringLiteral(", ")));
    }
    if (type == QStringLiteral("upstream.started")) return QObject::tr("Forwarded to %1").arg(p.value(QStringLiteral("connection")).toString());
    if (type == QStringLiteral("request.completed") || type == QStringLiteral("request.failed")) {
        const auto code = p.value(QStringLiteral("code")).toString();
        return QObject::tr("%1: status %2%3, %4 ms")
            .arg(type == QStringLiteral("request.completed") ? QObject::tr("Completed") : QObject::tr("Failed"))
            .arg(p.value(QStringLiteral("status")).toInt())
            .arg(code.isEmpty() ? QString() : QStringLiteral(" ") + code)
            .arg(p.value(QStringLiteral("duration_us")).toDouble() / 1000.0, 0, 'f', 1);
    }
    return {};
}

}  // namespace

QString replyTextOf(const QString& data, bool streaming) {
    if (!streaming) {
        const auto doc = QJsonDocument::fromJson(data.toUtf8());
        if (!doc.isObject()) return data;
        const auto o = doc.object();
        const auto choices = o.value(QStringLiteral("choices")).toArray();
        if (!choices.isEmpty()) {
            const auto c = choices.at(0).toObject();
            if (c.contains(QStringLiteral("message"))) return contentText(c.value(QStringLiteral("message")).toObject().value(QStringLiteral("content")));
            return c.value(QStringLiteral("text")).toString();
        }
        if (o.contains(QStringLiteral("error"))) return o.value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString();
        if (o.contains(QStringLiteral("output_text"))) return o.value(QStringLiteral("output_text")).toString();
        return data;
    }
    QString text;
    for (const auto& line : data.split(QLatin1Char('\n'))) {
        if (!line.startsWith(QStringLiteral("data: "))) continue;
        const auto payload = line.mid(6);
        if (payload == QStringLiteral("[DONE]")) continue;
        const auto o = QJsonDocument::fromJson(payload.toUtf8()).object();
        const auto choices = o.value(QStringLiteral("choices")).toArray();
        if (!choices.isEmpty()) {
            const auto c = choices.at(0).toObject();
            text += c.value(QStringLiteral("delta")).toObject().value(QStringLiteral("content")).toString();
            text += c.value(QStringLiteral("text")).toString();
        } else if (o.value(QStringLiteral("type")).toString() == QStringLiteral("response.output_text.delta")) {
            text += o.value(QStringLiteral("delta")).toString();
        } else if (o.contains(QStringLiteral("error"))) {
            text += QStringLiteral("\n[error] ") + o.value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString();
        }
    }
    return text;
}

QString highlightMasked(const QString& escapedHtml) {
    static const QRegularExpression masked(QStringLiteral(R"(\[([A-Z][A-Z0-9_]*)(?::[0-9a-f]{8,})?\]|\*{4}[0-9A-Za-z]{1,16})"));
    QString out;
    qsizetype at = 0;
    auto it = masked.globalMatch(escapedHtml);
    while (it.hasNext()) {
        const auto m = it.next();
        out += escapedHtml.mid(at, m.capturedStart() - at);
        const auto entity = m.captured(1).isEmpty() ? QStringLiteral("masked value (last characters kept)") : m.captured(1);
        out += QStringLiteral("<a href=\"masked:%1\" style=\"background:#ffe58f;color:#5c3c00;text-decoration:none\">%2</a>")
                   .arg(entity, m.captured(0));
        at = m.capturedEnd();
    }
    out += escapedHtml.mid(at);
    return out;
}

Replay Replay::fromSession(const QJsonObject& session) {
    Replay r;
    r.sessionId_ = session.value(QStringLiteral("session")).toObject().value(QStringLiteral("id")).toString();
    const auto events = session.value(QStringLiteral("events")).toArray();
    qint64 first = -1;
    bool streaming = false;
    for (const auto& v : events) {
        const auto e = v.toObject();
        const auto type = e.value(QStringLiteral("type")).toString();
        const auto at = static_cast<qint64>(e.value(QStringLiteral("time_us")).toDouble());
        if (first < 0) first = at;
        const auto rel = at - first;
        const auto p = e.value(QStringLiteral("payload")).toObject();
        r.durationUs_ = std::max(r.durationUs_, rel);
        if (type == QStringLiteral("request.received")) {
            const auto body = QJsonDocument::fromJson(p.value(QStringLiteral("body")).toString().toUtf8()).object();
            for (const auto& m : body.value(QStringLiteral("messages")).toArray()) {
                const auto o = m.toObject();
                r.steps_.append({Step::Kind::Prompt, rel, o.value(QStringLiteral("role")).toString(), contentText(o.value(QStringLiteral("content"))), type});
            }
            if (body.value(QStringLiteral("input")).isString()) {
                r.steps_.append({Step::Kind::Prompt, rel, QStringLiteral("user"), body.value(QStringLiteral("input")).toString(), type});
            }
            continue;
        }
        if (type == QStringLiteral("response.started")) {
            streaming = p.value(QStringLiteral("streaming")).toBool();
            continue;
        }
        if (type == QStringLiteral("response.chunk")) {
            const auto text = replyTextOf(p.value(QStringLiteral("data")).toString(), streaming);
            if (!text.isEmpty()) r.steps_.append({Step::Kind::Reply, rel, QStringLiteral("assistant"), text, type});
            continue;
        }
        const auto marker = markerText(type, p);
        if (!marker.isEmpty()) r.steps_.append({Step::Kind::Marker, rel, {}, marker, type});
    }
    return r;
}

QString Replay::replyText() const {
    QString text;
    for (const auto& s : steps_) {
        if (s.kind == Step::Kind::Reply) text += s.text;
    }
    return text;
}

QString Replay::html(qint64 positionUs) const {
    QString html;
    bool inReply = false;
    const auto closeReply = [&] {
        if (inReply) html += QStringLiteral("</pre>");
        inReply = false;
    };
    for (const auto& s : steps_) {
        if (s.atUs > positionUs) break;
        switch (s.kind) {
        case Step::Kind::Prompt:
            closeReply();
            html += QStringLiteral("<p style='margin:8px 0 2px 0'><b>%1</b></p><pre style='white-space:pre-wrap;margin:0'>%2</pre>")
                        .arg(s.role.toHtmlEscaped(), highlightMasked(s.text.toHtmlEscaped()));
            break;
        case Step::Kind::Reply:
            if (!inReply) {
                html += QStringLiteral("<p style='margin:8px 0 2px 0'><b>assistant</b></p><pre style='white-space:pre-wrap;margin:0'>");
                inReply = true;
            }
            html += highlightMasked(s.text.toHtmlEscaped());
            break;
        case Step::Kind::Marker:
            closeReply();
            html += QStringLiteral("<p style='color:#666;margin:2px 0'>▸ %1 <span style='color:#999'>+%2 ms</span></p>")
                        .arg(s.text.toHtmlEscaped())
                        .arg(static_cast<double>(s.atUs) / 1000.0, 0, 'f', 1);
            break;
        }
    }
    closeReply();
    return html;
}

ReplayPlayer::ReplayPlayer(QObject* parent) : QObject(parent) {
    timer_.setInterval(30);
    connect(&timer_, &QTimer::timeout, this, &ReplayPlayer::tick);
}

void ReplayPlayer::load(Replay replay) {
    pause();
    replay_ = std::move(replay);
    positionUs_ = 0;
    emit positionChanged(positionUs_);
}

void ReplayPlayer::setSpeed(int factor) {
    const bool wasPlaying = playing();
    if (wasPlaying) pause();
    speed_ = std::max(0, factor);
    if (wasPlaying) play();
}

void ReplayPlayer::play() {
    if (speed_ == 0) {
        seek(replay_.durationUs());
        return;
    }
    if (positionUs_ >= replay_.durationUs()) positionUs_ = 0;
    startPositionUs_ = positionUs_;
    clock_.start();
    timer_.start();
    emit playingChanged(true);
    emit positionChanged(positionUs_);
}

void ReplayPlayer::pause() {
    if (!timer_.isActive()) return;
    timer_.stop();
    emit playingChanged(false);
}

void ReplayPlayer::seek(qint64 positionUs) {
    positionUs_ = std::clamp<qint64>(positionUs, 0, replay_.durationUs());
    startPositionUs_ = positionUs_;
    if (clock_.isValid()) clock_.restart();
    emit positionChanged(positionUs_);
}

void ReplayPlayer::tick() {
    positionUs_ = std::min(replay_.durationUs(), startPositionUs_ + clock_.nsecsElapsed() / 1000 * speed_);
    emit positionChanged(positionUs_);
    if (positionUs_ >= replay_.durationUs()) pause();
}

}  // namespace vigil::console

#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

namespace vigil::console {

// One review as the gateway reports it (docs/reviews.md), as a plain value.
struct ReviewItem {
    struct Message {
        QString role;
        QString text;
    };
    struct Match {
        QString rule;
        QString kind;        // "regex", "keywords"
        QString condition;   // as written in the policy
        QString expression;  // PCRE, to find it in the message
        bool caseless = false;
        int message = 0;
    };
    QString id;
    QString kind;   // "request", "output"
    QString mode;   // "hold", "ticket"
    QString state;  // "pending", ...
    QString requester;
    QStringList requesterRoles;
    QString connection;
    QString model;
    QString path;
    QString rule;
    QString ruleMessage;
    QString ruleDescription;
    QStringList approverRoles;
    int quorum = 1;
    QStringList approvers;  // subjects who approved so far
    QList<Message> messages;
    QList<Match> matches;
    QStringList tools;
    qint64 estimatedTokens = 0;
    double estimatedCost = 0.0;
    QString output;  // output review: the answer held
    QDateTime created;
    QDateTime deadline;

    static ReviewItem fromJson(const QJsonObject& json);
};

}  // namespace vigil::console

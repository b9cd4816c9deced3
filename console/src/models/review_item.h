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
        qint64 fullBytes = -1;  // when the text is a preview: the whole text's size (UTF-8 bytes)
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
    // The request's parts outside the messages (files, images, tool calls, tool
    // definitions): where, kind, and the part as JSON with long strings cut.
    struct Part {
        QString where, kind, detail;
    };
    QList<Part> otherParts;
    qint64 otherPartsOmitted = 0;
    QList<Match> matches;
    QStringList tools;
    qint64 estimatedTokens = 0;
    double estimatedCost = 0.0;
    QString output;  // output review: the answer held
    // Pushed events and lists carry a preview of the prompt and the answer (payload_truncated):
    // the whole review is read by id before anyone decides.
    bool partial = false;
    qint64 messagesTotal = -1;  // a preview with fewer messages than the request has: how many
    qint64 outputBytes = -1;    // a preview of the answer: its whole size
    QDateTime created;
    QDateTime deadline;

    static ReviewItem fromJson(const QJsonObject& json);
};

}  // namespace vigil::console

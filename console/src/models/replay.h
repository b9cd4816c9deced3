#pragma once

#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QString>
#include <QTimer>
#include <QElapsedTimer>

namespace vigil::console {

// A recorded session made playable: the prompts, the replies as they were streamed (at
// their recorded offsets), and the markers between (decision, reviews, masking, end), from
// GET /api/sessions/{id}.
class Replay {
public:
    struct Step {
        enum class Kind { Prompt, Reply, Marker };
        Kind kind = Kind::Marker;
        qint64 atUs = 0;    // from the session's first event
        QString role;       // Prompt: the message's role
        QString text;       // Prompt/Reply: text; Marker: what happened
        QString eventType;  // the recorded event it comes from
    };

    static Replay fromSession(const QJsonObject& session);

    const QList<Step>& steps() const { return steps_; }
    qint64 durationUs() const { return durationUs_; }
    QString sessionId() const { return sessionId_; }
    // Every reply's text, whole (what the client received, as text).
    QString replyText() const;
    // The conversation as HTML up to `positionUs`: prompts, replies so far, markers; masked
    // values highlighted (links "masked:ENTITY" that the view turns into tooltips).
    QString html(qint64 positionUs) const;

private:
    QString sessionId_;
    QList<Step> steps_;
    qint64 durationUs_ = 0;
};

// The text a response piece carries: the content deltas of OpenAI chat / Responses API
// Server-Sent Events, or the message of a whole JSON body; the raw text otherwise.
QString replyTextOf(const QString& data, bool streaming);

// Masked values ([EMAIL], [EMAIL:5f0c...], ****1111) as highlighted links.
QString highlightMasked(const QString& escapedHtml);

// Plays a Replay: position, speed (1x, 2x, 10x or instant), play/pause/seek.
class ReplayPlayer : public QObject {
    Q_OBJECT
public:
    explicit ReplayPlayer(QObject* parent = nullptr);

    void load(Replay replay);
    const Replay& replay() const { return replay_; }
    qint64 positionUs() const { return positionUs_; }
    bool playing() const { return timer_.isActive(); }
    // 0: instant (everything at once).
    void setSpeed(int factor);
    int speed() const { return speed_; }
    void play();
    void pause();
    void seek(qint64 positionUs);

signals:
    void positionChanged(qint64 positionUs);
    void playingChanged(bool playing);

private:
    void tick();

    Replay replay_;
    QTimer timer_;
    QElapsedTimer clock_;
    qint64 positionUs_ = 0;
    qint64 startPositionUs_ = 0;
    int speed_ = 1;
};

}  // namespace vigil::console

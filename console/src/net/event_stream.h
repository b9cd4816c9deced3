#pragma once

#include <QJsonObject>
#include <QObject>
#include <QSslConfiguration>
#include <QTimer>
#include <QUrl>
#include <QWebSocket>

namespace vigil::console {

// The gateway's live events (WebSocket /api/events): connects with the console's
// credential, reconnects by itself (1 s, then up to 30 s apart) and resumes from the last
// sequence number it received, so no event is lost across a dropped connection.
class EventStream : public QObject {
    Q_OBJECT
public:
    enum class State { Disconnected, Connecting, Live, Reconnecting };
    Q_ENUM(State)

    explicit EventStream(QObject* parent = nullptr);
    ~EventStream() override;

    // `summaries`: also every request's session.started / session.ended (the recording
    // pages follow them); without, reviews only (less traffic on a busy gateway).
    void start(const QUrl& gatewayUrl, const QString& credential,
               const QSslConfiguration& ssl = QSslConfiguration::defaultConfiguration(), bool summaries = true);
    void stop();
    // A renewed access token for the next (re)connection; the open one stays as it is (the
    // gateway checks the credential at the upgrade).
    void renewCredential(const QString& credential) { credential_ = credential; }
    State state() const { return state_; }
    qint64 lastSeq() const { return lastSeq_; }
    bool summaries() const { return summaries_; }
    QString lastError() const { return lastError_; }
    // Drops the connection as a network failure would (it then reconnects and resumes).
    void dropConnection() { socket_.abort(); }

signals:
    void stateChanged(vigil::console::EventStream::State state);
    // One pushed event: its type ("review.pending"...) and data.
    void received(const QString& type, const QJsonObject& data, qint64 seq);
    // The gateway no longer has every event since lastSeq (or this is a fresh start):
    // reload the current state over REST.
    void resyncNeeded();

private:
    void open();
    void setState(State state);
    void onText(const QString& text);
    void scheduleReconnect();

    QWebSocket socket_;
    QTimer retry_;
    QUrl url_;
    QString credential_;
    qint64 lastSeq_ = -1;
    bool summaries_ = true;
    int failures_ = 0;
    bool running_ = false;
    State state_ = State::Disconnected;
    QString lastError_;
};

}  // namespace vigil::console

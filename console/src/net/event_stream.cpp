#include "net/event_stream.h"

#include <QUrlQuery>
#include <QJsonDocument>
#include <QNetworkRequest>

namespace vigil::console {

EventStream::EventStream(QObject* parent) : QObject(parent) {
    retry_.setSingleShot(true);
    connect(&retry_, &QTimer::timeout, this, &EventStream::open);
    connect(&socket_, &QWebSocket::connected, this, [this] {
        failures_ = 0;
        setState(State::Live);
    });
    connect(&socket_, &QWebSocket::disconnected, this, [this] {
        if (!running_) return;
        lastError_ = socket_.closeReason().isEmpty() ? socket_.errorString() : socket_.closeReason();
        scheduleReconnect();
    });
    connect(&socket_, &QWebSocket::textMessageReceived, this, &EventStream::onText);
}

EventStream::~EventStream() {
    running_ = false;
    socket_.abort();
}

void EventStream::start(const QUrl& gatewayUrl, const QString& credential, const QSslConfiguration& ssl, bool summaries) {
    stop();
    summaries_ = summaries;
    socket_.setSslConfiguration(ssl);
    url_ = gatewayUrl;
    url_.setScheme(gatewayUrl.scheme() == QStringLiteral("https") ? QStringLiteral("wss") : QStringLiteral("ws"));
    url_.setPath(gatewayUrl.path() + QStringLiteral("/api/events"));
    credential_ = credential;
    lastSeq_ = -1;
    running_ = true;
    open();
}

void EventStream::stop() {
    running_ = false;
    retry_.stop();
    socket_.abort();
    setState(State::Disconnected);
}

void EventStream::open() {
    if (!running_) return;
    QUrl url = url_;
    QUrlQuery query;
    if (lastSeq_ >= 0) query.addQueryItem(QStringLiteral("after"), QString::number(lastSeq_));
    if (!summaries_) query.addQueryItem(QStringLiteral("summaries"), QStringLiteral("false"));
    url.setQuery(query);
    QNetworkRequest request(url);
    request.setRawHeader("Authorization", "Bearer " + credential_.toUtf8());
    setState(failures_ == 0 && lastSeq_ < 0 ? State::Connecting : State::Reconnecting);
    socket_.open(request);
}

void EventStream::scheduleReconnect() {
    ++failures_;
    setState(State::Reconnecting);
    const int delayMs = std::min(30000, 1000 * (1 << std::min(failures_ - 1, 5)));
    retry_.start(delayMs);
}

void EventStream::setState(State state) {
    if (state == state_) return;
    state_ = state;
    emit stateChanged(state);
}

void EventStream::onText(const QString& text) {
    const auto message = QJsonDocument::fromJson(text.toUtf8()).object();
    const auto type = message.value(QStringLiteral("type")).toString();
    const auto data = message.value(QStringLiteral("data")).toObject();
    if (type == QStringLiteral("hello")) {
        // A fresh start (nothing to resume from) means the state must be loaded now.
        if (data.value(QStringLiteral("resumed_after")).isNull()) {
            lastSeq_ = static_cast<qint64>(data.value(QStringLiteral("last_seq")).toDouble());
            emit resyncNeeded();
        }
        return;
    }
    if (type == QStringLiteral("stream.gap")) {
        lastSeq_ = static_cast<qint64>(data.value(QStringLiteral("last")).toDouble());
        emit resyncNeeded();
        return;
    }
    const auto seqValue = message.value(QStringLiteral("seq"));
    if (!seqValue.isDouble()) return;  // pong, subscribed, error: not part of the stream
    const auto seq = static_cast<qint64>(seqValue.toDouble());
    if (seq <= lastSeq_) return;  // already seen
    lastSeq_ = seq;
    emit received(type, data, seq);
}

}  // namespace vigil::console

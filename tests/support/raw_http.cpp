#include "raw_http.h"

#include <QDeadlineTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSslConfiguration>

namespace vigil::test {

QByteArray HttpResponse::header(const QByteArray& name) const {
    for (const auto& h : headers) {
        if (h.first.compare(name, Qt::CaseInsensitive) == 0) return h.second;
    }
    return {};
}

QJsonObject HttpResponse::json() const { return QJsonDocument::fromJson(body).object(); }

QString HttpResponse::errorCode() const {
    return json().value(QStringLiteral("error")).toObject().value(QStringLiteral("code")).toString();
}

RawHttpConnection::RawHttpConnection(const QUrl& base, const QList<QSslCertificate>& caCertificates) {
    const bool tls = base.scheme() == QLatin1String("https");
    const quint16 port = static_cast<quint16>(base.port(tls ? 443 : 80));
    hostHeader_ = base.host().toUtf8() + ':' + QByteArray::number(port);
    if (tls) {
        auto ssl = std::make_unique<QSslSocket>();
        auto config = ssl->sslConfiguration();
        config.setCaCertificates(caCertificates);
        ssl->setSslConfiguration(config);
        ssl->connectToHostEncrypted(base.host(), port);
        ssl->waitForEncrypted(10000);
        socket_ = std::move(ssl);
    } else {
        socket_ = std::make_unique<QTcpSocket>();
        socket_->connectToHost(base.host(), port);
        socket_->waitForConnected(10000);
    }
}

bool RawHttpConnection::isConnected() const {
    if (socket_->state() != QAbstractSocket::ConnectedState) return false;
    if (auto* ssl = dynamic_cast<QSslSocket*>(socket_.get())) return ssl->isEncrypted();
    return true;
}

bool RawHttpConnection::sendRaw(const QByteArray& bytes) {
    sentAt_.start();
    if (socket_->write(bytes) != bytes.size()) return false;
    return socket_->waitForBytesWritten(10000) || socket_->bytesToWrite() == 0;
}

bool RawHttpConnection::fill(int timeoutMs) {
    if (socket_->bytesAvailable() == 0 && !socket_->waitForReadyRead(timeoutMs)) return false;
    buffer_ += socket_->readAll();
    return true;
}

bool RawHttpConnection::waitForClose(int timeoutMs) {
    QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        if (socket_->state() == QAbstractSocket::UnconnectedState) return true;
        if (!socket_->waitForReadyRead(static_cast<int>(qMax<qint64>(1, deadline.remainingTime())))) {
            return socket_->state() == QAbstractSocket::UnconnectedState ||
                   socket_->error() == QAbstractSocket::RemoteHostClosedError;
        }
        buffer_ += socket_->readAll();
    }
    return false;
}

HttpResponse RawHttpConnection::request(const QByteArray& method, const QByteArray& path,
                                        const QByteArray& body,
                                        const QList<QPair<QByteArray, QByteArray>>& headers,
                                        int timeoutMs) {
    QByteArray raw = method + ' ' + path + " HTTP/1.1\r\nHost: " + hostHeader_ + "\r\n";
    bool hasContentType = false;
    for (const auto& h : headers) {
        raw += h.first + ": " + h.second + "\r\n";
        if (h.first.compare("content-type", Qt::CaseInsensitive) == 0) hasContentType = true;
    }
    if (!body.isEmpty() || method == "POST") {
        if (!hasContentType) raw += "Content-Type: application/json\r\n";
        raw += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    }
    raw += "\r\n" + body;
    if (!sendRaw(raw)) return {};
    return readResponse(timeoutMs);
}

HttpResponse RawHttpConnection::readResponse(int timeoutMs) {
    HttpResponse r;
    QDeadlineTimer deadline(timeoutMs);
    auto remaining = [&] { return static_cast<int>(qMax<qint64>(1, deadline.remainingTime())); };
    qsizetype headEnd;
    while ((headEnd = buffer_.indexOf("\r\n\r\n")) < 0) {
        if (deadline.hasExpired() || !fill(remaining())) return r;
    }
    const QList<QByteArray> lines = buffer_.left(headEnd).split('\n');
    buffer_.remove(0, headEnd + 4);
    const QList<QByteArray> statusParts = lines.value(0).trimmed().split(' ');
    r.status = statusParts.value(1).toInt();
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const auto colon = lines[i].indexOf(':');
        if (colon > 0) r.headers.append({lines[i].left(colon).trimmed(), lines[i].mid(colon + 1).trimmed()});
    }
    if (r.status == 100) return readResponse(remaining());
    r.chunked = r.header("transfer-encoding").toLower().contains("chunked");
    if (r.chunked) {
        for (;;) {
            qsizetype lineEnd;
            while ((lineEnd = buffer_.indexOf("\r\n")) < 0) {
                if (deadline.hasExpired() || !fill(remaining())) return r;
            }
            bool ok = false;
            const qsizetype size = buffer_.left(lineEnd).split(';').value(0).trimmed().toLongLong(&ok, 16);
            if (!ok) return r;
            while (buffer_.size() < lineEnd + 2 + size + 2) {
                if (deadline.hasExpired() || !fill(remaining())) return r;
            }
            const QByteArray chunk = buffer_.mid(lineEnd + 2, size);
            buffer_.remove(0, lineEnd + 2 + size + 2);
            if (size == 0) break;
            r.chunks.append(chunk);
            r.chunkArrivalMs.append(sentAt_.elapsed());
            r.body += chunk;
        }
        r.complete = true;
        return r;
    }
    const QByteArray lengthHeader = r.header("content-length");
    if (!lengthHeader.isEmpty()) {
        const qsizetype length = lengthHeader.toLongLong();
        while (buffer_.size() < length) {
            if (deadline.hasExpired() || !fill(remaining())) return r;
        }
        r.body = buffer_.left(length);
        buffer_.remove(0, length);
        r.complete = true;
        return r;
    }
    while (!deadline.hasExpired() && fill(remaining())) {
    }
    r.body = buffer_;
    buffer_.clear();
    r.complete = socket_->state() == QAbstractSocket::UnconnectedState;
    return r;
}

HttpResponse httpRequest(const QString& baseUrl, const QByteArray& method, const QByteArray& path,
                         const QByteArray& body,
                         const QList<QPair<QByteArray, QByteArray>>& headers, int timeoutMs) {
    RawHttpConnection connection{QUrl(baseUrl)};
    if (!connection.isConnected()) return {};
    return connection.request(method, path, body, headers, timeoutMs);
}

QByteArray chatBody(const QString& prompt, bool stream) {
    QJsonObject body{
        {QStringLiteral("model"), QStringLiteral("mock-gpt")},
        {QStringLiteral("messages"),
         QJsonArray{QJsonObject{{QStringLiteral("role"), QStringLiteral("user")},
                                {QStringLiteral("content"), prompt}}}}};
    if (stream) body.insert(QStringLiteral("stream"), true);
    return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

}  // namespace vigil::test

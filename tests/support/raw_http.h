#pragma once

#include <QByteArray>
#include <QElapsedTimer>
#include <QJsonObject>
#include <QList>
#include <QPair>
#include <QSslCertificate>
#include <QSslSocket>
#include <QTcpSocket>
#include <QUrl>
#include <memory>

namespace vigil::test {

struct HttpResponse {
    int status = 0;  // 0: no response
    QList<QPair<QByteArray, QByteArray>> headers;
    QByteArray body;               // de-chunked
    QList<QByteArray> chunks;      // each chunk as it arrived (chunked responses)
    QList<qint64> chunkArrivalMs;  // since the request was sent
    bool complete = false;         // the whole message was read
    bool chunked = false;

    QByteArray header(const QByteArray& name) const;
    QJsonObject json() const;
    QString errorCode() const;  // error.code of an OpenAI-shaped error body
};

// A deliberately small HTTP/1.1 client over one real socket, so tests control every byte
// (keep-alive, malformed requests, chunked uploads) and see when each chunk arrives.
class RawHttpConnection {
public:
    // http:// or https:// (then `caCertificates` are trusted for the handshake).
    explicit RawHttpConnection(const QUrl& base, const QList<QSslCertificate>& caCertificates = {});

    bool isConnected() const;
    QString errorString() const { return socket_->errorString(); }

    bool sendRaw(const QByteArray& bytes);
    HttpResponse request(const QByteArray& method, const QByteArray& path,
                         const QByteArray& body = {},
                         const QList<QPair<QByteArray, QByteArray>>& headers = {},
                         int timeoutMs = 15000);
    HttpResponse readResponse(int timeoutMs = 15000);
    // True when the server closed the connection within `timeoutMs`.
    bool waitForClose(int timeoutMs);

private:
    bool fill(int timeoutMs);  // reads more into buffer_; false on timeout or close

    std::unique_ptr<QTcpSocket> socket_;
    QByteArray hostHeader_;
    QByteArray buffer_;
    QElapsedTimer sentAt_;
};

// One request on a fresh connection.
HttpResponse httpRequest(const QString& baseUrl, const QByteArray& method, const QByteArray& path,
                         const QByteArray& body = {},
                         const QList<QPair<QByteArray, QByteArray>>& headers = {},
                         int timeoutMs = 15000);

QByteArray chatBody(const QString& prompt, bool stream = false);

}  // namespace vigil::test

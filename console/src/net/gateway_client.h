#pragma once

#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkRequest>
#include <QObject>
#include <QSslConfiguration>
#include <QStringList>
#include <QUrl>

#include <functional>

namespace vigil::console {

// Who is signed in, as the gateway sees it (GET /api/me).
struct Identity {
    QString subject;
    QString issuer;
    QString method;
    QStringList roles;
    QStringList groups;
    QStringList approverRoles;  // every approver role the gateway's policy names

    bool hasAnyRole(const QStringList& wanted) const;
};

// Why a TLS connection failed, for people: what is wrong and what they can do.
QString explainTlsFailure(const QString& detail);

// An answer of the gateway's API: the JSON body, or the error it named.
struct ApiResult {
    int status = 0;          // 0: no HTTP answer (unreachable, TLS failure)
    QJsonObject body;
    QString errorCode;       // error.code of an error body, or "network_error"
    QString errorMessage;    // for people
    bool ok() const { return status >= 200 && status < 300; }
};

// The console's REST client: one gateway, one credential (a bearer token or a Vigil API
// key), sent on every request and never stored by this class anywhere else.
class GatewayClient : public QObject {
    QNetworkRequest requestFor(const QString& pathAndQuery) const;

    Q_OBJECT
public:
    explicit GatewayClient(QObject* parent = nullptr);

    void setGateway(const QUrl& baseUrl, const QString& credential);
    // The same person's renewed access token (single sign-on): the identity stays.
    void renewCredential(const QString& credential) { credential_ = credential; }
    // Trusts the CA certificates of a PEM file besides the system's (an organisation's own
    // CA); empty: the system's only. False, with `error` set, when the file has none.
    bool setCaFile(const QString& path, QString* error = nullptr);
    QString caFile() const { return caFile_; }
    const QSslConfiguration& sslConfiguration() const { return ssl_; }
    QUrl baseUrl() const { return baseUrl_; }
    QString credential() const { return credential_; }

    using Callback = std::function<void(const ApiResult&)>;
    void get(const QString& pathAndQuery, Callback done);
    void post(const QString& path, const QJsonObject& body, Callback done);
    // A GET whose reply the caller handles (progress, abort, a binary body).
    QNetworkReply* download(const QString& pathAndQuery);

    // GET /api/me, kept as identity().
    void signIn(std::function<void(const ApiResult&, const Identity&)> done);
    const Identity& identity() const { return identity_; }

private:
    void send(const QByteArray& method, const QString& pathAndQuery, const QByteArray& body, Callback done);

    QNetworkAccessManager network_;
    QUrl baseUrl_;
    QString credential_;
    QString caFile_;
    QSslConfiguration ssl_ = QSslConfiguration::defaultConfiguration();
    Identity identity_;
};

}  // namespace vigil::console

#include "net/gateway_client.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QSslCertificate>

namespace vigil::console {
namespace {

QStringList stringList(const QJsonValue& v) {
    QStringList out;
    for (const auto& x : v.toArray()) out << x.toString();
    return out;
}

}  // namespace

bool Identity::hasAnyRole(const QStringList& wanted) const {
    for (const auto& r : wanted) {
        if (roles.contains(r)) return true;
    }
    return false;
}

QString explainTlsFailure(const QString& detail) {
    return QObject::tr("The gateway's TLS certificate is not trusted (%1). If your organisation runs its own "
                       "certificate authority, trust its certificate with \"Trust a CA file…\" in the connect dialog; otherwise check the URL.")
        .arg(detail);
}

GatewayClient::GatewayClient(QObject* parent) : QObject(parent) {}

bool GatewayClient::setCaFile(const QString& path, QString* error) {
    // Connections made (or refused) under the old trust are not reused.
    network_.clearConnectionCache();
    ssl_ = QSslConfiguration::defaultConfiguration();
    caFile_.clear();
    if (path.isEmpty()) return true;
    const auto certificates = QSslCertificate::fromPath(path, QSsl::Pem);
    if (certificates.isEmpty()) {
        if (error != nullptr) *error = tr("%1 holds no PEM certificate").arg(path);
        return false;
    }
    ssl_.addCaCertificates(certificates);
    caFile_ = path;
    return true;
}

void GatewayClient::setGateway(const QUrl& baseUrl, const QString& credential) {
    baseUrl_ = baseUrl;
    credential_ = credential;
    identity_ = {};
}

void GatewayClient::get(const QString& pathAndQuery, Callback done) { send("GET", pathAndQuery, {}, std::move(done)); }

void GatewayClient::post(const QString& path, const QJsonObject& body, Callback done) {
    send("POST", path, QJsonDocument(body).toJson(QJsonDocument::Compact), std::move(done));
}

QNetworkRequest GatewayClient::requestFor(const QString& pathAndQuery) const {
    QUrl url = baseUrl_;
    const auto q = pathAndQuery.indexOf(QLatin1Char('?'));
    url.setPath(baseUrl_.path() + (q < 0 ? pathAndQuery : pathAndQuery.left(q)));
    if (q >= 0) url.setQuery(pathAndQuery.mid(q + 1));
    QNetworkRequest request(url);
    request.setRawHeader("Authorization", "Bearer " + credential_.toUtf8());
    if (url.scheme() == QStringLiteral("https")) request.setSslConfiguration(ssl_);
    return request;
}

QNetworkReply* GatewayClient::download(const QString& pathAndQuery) {
    auto request = requestFor(pathAndQuery);
    request.setTransferTimeout(120000);
    return network_.get(request);
}

void GatewayClient::send(const QByteArray& method, const QString& pathAndQuery, const QByteArray& body, Callback done) {
    QNetworkRequest request = requestFor(pathAndQuery);
    request.setRawHeader("Accept", "application/json");
    if (!body.isEmpty()) request.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
    request.setTransferTimeout(30000);
    QNetworkReply* reply = network_.sendCustomRequest(request, method, body);
    auto tlsErrors = std::make_shared<QStringList>();
    connect(reply, &QNetworkReply::sslErrors, this, [tlsErrors](const QList<QSslError>& errors) {
        for (const auto& e : errors) *tlsErrors << e.errorString();
    });
    connect(reply, &QNetworkReply::finished, this, [reply, tlsErrors, done = std::move(done)] {
        reply->deleteLater();
        ApiResult r;
        r.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const auto data = reply->readAll();
        r.body = QJsonDocument::fromJson(data).object();
        if (r.status == 0 && (!tlsErrors->isEmpty() || reply->error() == QNetworkReply::SslHandshakeFailedError)) {
            r.errorCode = QStringLiteral("tls_error");
            r.errorMessage = explainTlsFailure(tlsErrors->isEmpty() ? reply->errorString() : tlsErrors->join(QStringLiteral("; ")));
        } else if (r.status == 0) {
            r.errorCode = QStringLiteral("network_error");
            r.errorMessage = reply->errorString();
        } else if (!r.ok()) {
            const auto error = r.body.value(QStringLiteral("error")).toObject();
            r.errorCode = error.value(QStringLiteral("code")).toString();
            r.errorMessage = error.value(QStringLiteral("message")).toString();
            if (r.errorMessage.isEmpty()) r.errorMessage = QStringLiteral("HTTP %1").arg(r.status);
        }
        done(r);
    });
}

void GatewayClient::signIn(std::function<void(const ApiResult&, const Identity&)> done) {
    get(QStringLiteral("/api/me"), [this, done = std::move(done)](const ApiResult& r) {
        Identity who;
        if (r.ok()) {
            who.subject = r.body.value(QStringLiteral("subject")).toString();
            who.issuer = r.body.value(QStringLiteral("issuer")).toString();
            who.method = r.body.value(QStringLiteral("method")).toString();
            who.roles = stringList(r.body.value(QStringLiteral("roles")));
            who.groups = stringList(r.body.value(QStringLiteral("groups")));
            who.approverRoles = stringList(r.body.value(QStringLiteral("approver_roles")));
            identity_ = who;
        }
        done(r, who);
    });
}

}  // namespace vigil::console

#include "net/gateway_probe.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>

namespace vigil::console {

GatewayProbe::GatewayProbe(QObject* parent) : QObject(parent) {}

void GatewayProbe::setState(State state, const QString& detail) {
    state_ = state;
    detail_ = detail;
    emit stateChanged(state, detail);
}

void GatewayProbe::check(const QUrl& gatewayUrl) {
    if (!gatewayUrl.isValid() ||
        (gatewayUrl.scheme() != QLatin1String("http") && gatewayUrl.scheme() != QLatin1String("https"))) {
        setState(State::Unreachable, tr("Not an http or https URL"));
        return;
    }
    QUrl url = gatewayUrl;
    url.setPath(QStringLiteral("/readyz"));
    QNetworkRequest request(url);
    request.setTransferTimeout(5000);
    if (url.scheme() == QLatin1String("https")) request.setSslConfiguration(ssl_);
    setState(State::Checking, tr("Checking %1").arg(gatewayUrl.toString()));
    QNetworkReply* reply = network_.get(request);
    connect(reply, &QNetworkReply::finished, this, [this, reply] {
        reply->deleteLater();
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const auto body = QJsonDocument::fromJson(reply->readAll()).object();
        if (status == 200) {
            setState(State::Ready, tr("Gateway ready"));
        } else if (status != 0) {
            setState(State::NotReady, tr("Gateway not ready (%1: %2)")
                                          .arg(status)
                                          .arg(body.value(QStringLiteral("status")).toString()));
        } else if (reply->error() == QNetworkReply::SslHandshakeFailedError) {
            setState(State::Unreachable, tr("TLS certificate not trusted: %1").arg(reply->errorString()));
        } else {
            setState(State::Unreachable, reply->errorString());
        }
    });
}

}  // namespace vigil::console

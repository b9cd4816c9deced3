#include "net/oidc_sign_in.h"

#include <QCryptographicHash>
#include <QDesktopServices>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>
#include <QOAuth2AuthorizationCodeFlow>
#include <QOAuthHttpServerReplyHandler>
#include <QRandomGenerator>

#include <algorithm>

namespace vigil::console {

OidcSignIn::OidcSignIn(QObject* parent) : QObject(parent) {
    browser_ = [](const QUrl& url) { QDesktopServices::openUrl(url); };
    timeout_.setSingleShot(true);
    connect(&timeout_, &QTimer::timeout, this, [this] { fail(tr("nobody signed in within 5 minutes")); });
    refreshTimer_.setSingleShot(true);
    connect(&refreshTimer_, &QTimer::timeout, this, &OidcSignIn::refresh);
}

OidcSignIn::~OidcSignIn() = default;

void OidcSignIn::start(const Settings& settings) {
    cancel();
    settings_ = settings;
    done_ = false;
    timeout_.start(5 * 60 * 1000);
    QUrl discovery = settings.issuer;
    discovery.setPath(settings.issuer.path() + QStringLiteral("/.well-known/openid-configuration"));
    auto* reply = network_.get(QNetworkRequest(discovery));
    connect(reply, &QNetworkReply::finished, this, [this, reply, discovery] {
        reply->deleteLater();
        if (done_) return;
        const auto doc = QJsonDocument::fromJson(reply->readAll()).object();
        const QUrl authorization(doc.value(QStringLiteral("authorization_endpoint")).toString());
        const QUrl token(doc.value(QStringLiteral("token_endpoint")).toString());
        if (reply->error() != QNetworkReply::NoError || !authorization.isValid() || !token.isValid()) {
            fail(tr("cannot read the identity provider's configuration at %1: %2")
                     .arg(discovery.toString(), reply->error() != QNetworkReply::NoError ? reply->errorString() : tr("no endpoints")));
            return;
        }
        // Asked for when the provider offers it, so that the sign-in outlives one access token.
        const bool offline = doc.value(QStringLiteral("scopes_supported")).toArray().contains(QStringLiteral("offline_access"));
        begin(authorization, token, offline);
    });
}

void OidcSignIn::begin(const QUrl& authorizationEndpoint, const QUrl& tokenEndpoint, bool offlineAccess) {
    // PKCE: a fresh secret verifier, and its SHA-256 as the challenge.
    QByteArray random(32, Qt::Uninitialized);
    for (auto& b : random) b = static_cast<char>(QRandomGenerator::system()->bounded(256));
    verifier_ = random.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
    const auto challenge = QCryptographicHash::hash(verifier_, QCryptographicHash::Sha256)
                               .toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);

    flow_ = new QOAuth2AuthorizationCodeFlow(&network_, this);
    flow_->setAuthorizationUrl(authorizationEndpoint);
    flow_->setAccessTokenUrl(tokenEndpoint);
    flow_->setClientIdentifier(settings_.clientId);
    flow_->setScope(offlineAccess && !settings_.scope.contains(QStringLiteral("offline_access"))
                        ? settings_.scope + QStringLiteral(" offline_access")
                        : settings_.scope);
    auto* handler = new QOAuthHttpServerReplyHandler(0, flow_);  // a free loopback port
    handler->setCallbackPath(QStringLiteral("/callback"));
    handler->setCallbackText(tr("Signed in. You can close this page and return to Vigil Console."));
    flow_->setReplyHandler(handler);
    const auto resource = settings_.resource;
    const auto verifier = verifier_;
    const auto clientId = settings_.clientId;
    flow_->setModifyParametersFunction([resource, verifier, challenge, clientId](QAbstractOAuth::Stage stage, QMultiMap<QString, QVariant>* p) {
        if (stage == QAbstractOAuth::Stage::RequestingAuthorization) {
            p->insert(QStringLiteral("code_challenge"), QString::fromLatin1(challenge));
            p->insert(QStringLiteral("code_challenge_method"), QStringLiteral("S256"));
            if (!resource.isEmpty()) p->insert(QStringLiteral("resource"), resource);
        } else if (stage == QAbstractOAuth::Stage::RequestingAccessToken) {
            // The code arrives percent-encoded in the redirect; the token endpoint wants it as issued.
            const auto code = p->value(QStringLiteral("code")).toString();
            p->replace(QStringLiteral("code"), QUrl::fromPercentEncoding(code.toUtf8()));
            p->insert(QStringLiteral("code_verifier"), QString::fromLatin1(verifier));
            if (!resource.isEmpty()) p->insert(QStringLiteral("resource"), resource);
        } else if (stage == QAbstractOAuth::Stage::RefreshingAccessToken) {
            // A public client names itself; the new token is for the same audience.
            if (!p->contains(QStringLiteral("client_id"))) p->insert(QStringLiteral("client_id"), clientId);
            if (!resource.isEmpty() && !p->contains(QStringLiteral("resource"))) p->insert(QStringLiteral("resource"), resource);
        }
    });
    connect(flow_, &QAbstractOAuth::authorizeWithBrowser, this, [this](const QUrl& url) { browser_(url); });
    connect(flow_, &QAbstractOAuth::granted, this, [this] {
        if (refreshPending_) {
            refreshPending_ = false;
            scheduleRefresh();
            emit tokenRefreshed(flow_->token());
            return;
        }
        if (done_) return;
        done_ = true;
        timeout_.stop();
        scheduleRefresh();
        emit finished(true, flow_->token());
    });
    connect(flow_, &QAbstractOAuth2::error, this, [this](const QString& error, const QString& description, const QUrl&) {
        const auto why = description.isEmpty() ? error : QStringLiteral("%1: %2").arg(error, description);
        if (refreshPending_) {
            refreshPending_ = false;
            emit refreshFailed(tr("the identity provider did not renew the sign-in: %1").arg(why));
            return;
        }
        fail(why);
    });
    connect(flow_, &QAbstractOAuth::requestFailed, this, [this](QAbstractOAuth::Error error) {
        if (refreshPending_) {
            refreshPending_ = false;
            emit refreshFailed(tr("the identity provider did not renew the sign-in (error %1)").arg(static_cast<int>(error)));
            return;
        }
        fail(tr("the identity provider refused the sign-in (error %1)").arg(static_cast<int>(error)));
    });
    if (!handler->isListening()) {
        fail(tr("cannot listen on a loopback port for the sign-in's answer"));
        return;
    }
    flow_->grant();
}

void OidcSignIn::fail(const QString& why) {
    if (done_) return;
    done_ = true;
    timeout_.stop();
    emit finished(false, why);
}

// Renews the token before it expires: at 80% of its lifetime, and at least 5 s before the end.
void OidcSignIn::scheduleRefresh() {
    refreshTimer_.stop();
    if (flow_ == nullptr || flow_->refreshToken().isEmpty() || !flow_->expirationAt().isValid()) return;
    const auto now = QDateTime::currentDateTimeUtc();
    const qint64 left = now.msecsTo(flow_->expirationAt());
    const qint64 at = std::max<qint64>(1000, std::min(left * 8 / 10, left - 5000));
    refreshTimer_.start(static_cast<int>(std::min<qint64>(at, 24LL * 3600 * 1000)));
}

void OidcSignIn::refresh() {
    if (flow_ == nullptr || flow_->refreshToken().isEmpty()) return;
    refreshPending_ = true;
    flow_->refreshAccessToken();
}

void OidcSignIn::cancel() {
    done_ = true;
    refreshPending_ = false;
    refreshTimer_.stop();
    timeout_.stop();
    if (flow_ != nullptr) {
        flow_->disconnect(this);  // a late answer of the old flow must not reach a new sign-in
        flow_->deleteLater();
        flow_ = nullptr;
    }
}

}  // namespace vigil::console

#pragma once

#include <QNetworkAccessManager>
#include <QObject>
#include <QTimer>
#include <QUrl>

#include <functional>

class QOAuth2AuthorizationCodeFlow;

namespace vigil::console {

// Signs a person in through the organisation's OpenID Connect provider: the authorization
// code flow with PKCE (RFC 7636) in the system browser, back to a loopback address of this
// machine (RFC 8252), for an access token with the gateway's audience (RFC 8707 resource).
// The flow is QtNetworkAuth's; PKCE and the resource are added to its requests.
class OidcSignIn : public QObject {
    Q_OBJECT
public:
    struct Settings {
        QUrl issuer;
        QString clientId = QStringLiteral("vigil-console");
        QString scope = QStringLiteral("openid api");
        QString resource;  // the gateway's audience
    };

    explicit OidcSignIn(QObject* parent = nullptr);
    ~OidcSignIn() override;

    void start(const Settings& settings);
    // Ends the sign-in, and stops refreshing its token. (When the provider issued a refresh
    // token, the access token is renewed before it expires: tokenRefreshed.)
    void cancel();
    // How the authorization URL is opened (default: the system browser). A test seam.
    void setBrowser(std::function<void(const QUrl&)> open) { browser_ = std::move(open); }

signals:
    // ok: `result` is the access token; otherwise why it failed, for people.
    void finished(bool ok, const QString& result);
    // A new access token, obtained with the refresh token before the last one expired.
    void tokenRefreshed(const QString& token);
    // The token could not be renewed (the provider ended the session): sign in again.
    void refreshFailed(const QString& why);

private:
    void begin(const QUrl& authorizationEndpoint, const QUrl& tokenEndpoint, bool offlineAccess);
    void fail(const QString& why);
    void scheduleRefresh();
    void refresh();

    QNetworkAccessManager network_;
    QOAuth2AuthorizationCodeFlow* flow_ = nullptr;
    std::function<void(const QUrl&)> browser_;
    Settings settings_;
    QByteArray verifier_;
    QTimer timeout_;
    QTimer refreshTimer_;
    bool done_ = true;
    bool refreshPending_ = false;
};

}  // namespace vigil::console

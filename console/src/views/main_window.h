#pragma once

#include <QCheckBox>
#include <QLabel>
#include <QLineEdit>
#include <QMainWindow>
#include <QPushButton>
#include <QSystemTrayIcon>
#include <QTabWidget>

#include "models/pending_reviews_model.h"
#include "net/event_stream.h"
#include "net/gateway_client.h"
#include "net/gateway_probe.h"
#include "net/oidc_sign_in.h"

namespace vigil::console {

class ConnectDialog;
class ReviewsPage;
class SessionsPage;
class DashboardPage;

// The console's main window: who is signed in to which gateway and whether the live
// connection is up, the pages (pending reviews, sessions, dashboard), and the connect
// dialog (the gateway and the credential to sign in with).
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

    GatewayProbe& probe() { return probe_; }
    GatewayClient& client() { return client_; }
    EventStream& events() { return events_; }
    PendingReviewsModel& pendingReviews() { return pending_; }
    ReviewsPage& reviewsPage() { return *reviewsPage_; }
    SessionsPage& sessionsPage() { return *sessionsPage_; }
    DashboardPage& dashboardPage() { return *dashboardPage_; }

    // Signs in to `url` with a bearer token or Vigil API key (what the Connect button does).
    // An empty credential is looked up in the system keychain (remembered before).
    void connectTo(const QUrl& url, const QString& credential);
    // Signs in through the gateway's identity provider (what "Sign in with SSO" does).
    void signInWithSso(const QUrl& url);
    OidcSignIn& oidc() { return oidc_; }
    ConnectDialog& connectDialog() { return *connectDialog_; }
    // Opens the connect dialog (Gateway > Connect…; at start when not signed in).
    void showConnectDialog();
    // Forgets the session's credential (not the keychain's) and opens the connect dialog.
    void signOut();
    // Test seam for the "CA file…" dialog: the next file it "chooses".
    void setNextCaFile(const QString& path) { nextCaFile_ = path; }

protected:
    // Remembers the window's size and place for the next start.
    void closeEvent(QCloseEvent* event) override;

private:
    void onProbeStateChanged(GatewayProbe::State state, const QString& detail);
    void onEvent(const QString& type, const QJsonObject& payload);
    void reloadPending();
    void showConnection(EventStream::State state);

    GatewayProbe probe_;
    GatewayClient client_;
    EventStream events_;
    PendingReviewsModel pending_;
    OidcSignIn oidc_;
    ConnectDialog* connectDialog_;
    QLineEdit* gatewayUrlLineEdit_;
    QLineEdit* credentialLineEdit_;
    QPushButton* checkGatewayButton_;
    QPushButton* connectButton_;
    QLabel* gatewayStatusLabel_;
    QLabel* signedInLabel_;
    QLabel* gatewayLabel_;
    QPushButton* openConnectButton_;
    QPushButton* signOutButton_;
    QAction* signOutAction_ = nullptr;
    QLabel* connectionIndicatorLabel_;
    QTabWidget* pages_;
    ReviewsPage* reviewsPage_;
    SessionsPage* sessionsPage_;
    DashboardPage* dashboardPage_;
    QSystemTrayIcon* tray_ = nullptr;
    QPushButton* caFileButton_;
    QPushButton* ssoButton_;
    QCheckBox* rememberCheckBox_;
    QLabel* caFileLabel_;
    QString nextCaFile_;
    void chooseCaFile();
    void loadCaFor(const QUrl& url);
    void rememberGateway(const QUrl& url, const QString& credential);
    void signIn(const QUrl& url, const QString& credential);
    // A sign-in problem: in the window's header and, explained, in the connect dialog.
    void showSignInProblem(const QString& text);
    // The sessions and dashboard pages: open to auditors and admins only.
    void setRecordingPagesOpen(bool open);
    void setSignedIn(bool signedIn);
};

}  // namespace vigil::console

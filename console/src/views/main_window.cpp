#include "views/main_window.h"

#include <algorithm>

#include <QApplication>
#include <QCompleter>
#include <QFileDialog>
#include <QCloseEvent>
#include <QGuiApplication>
#include <QScreen>
#include <QSettings>
#include <QStringListModel>

#include <qt6keychain/keychain.h>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QJsonArray>
#include <QMenuBar>
#include <QStatusBar>
#include <QStyle>
#include <QVBoxLayout>

#include "models/visible_text.h"
#include "views/connect_dialog.h"
#include "views/reviews_page.h"
#include "views/dashboard_page.h"
#include "views/sessions_page.h"

namespace vigil::console {

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent),
      connectDialog_(new ConnectDialog(this)),
      gatewayUrlLineEdit_(connectDialog_->gatewayUrl()),
      credentialLineEdit_(connectDialog_->credential()),
      checkGatewayButton_(connectDialog_->checkButton()),
      connectButton_(connectDialog_->connectButton()),
      gatewayStatusLabel_(connectDialog_->gatewayStatus()),
      signedInLabel_(new QLabel(tr("Not signed in"))),
      gatewayLabel_(new QLabel),
      openConnectButton_(new QPushButton(tr("Connect…"))),
      signOutButton_(new QPushButton(tr("Sign out"))),
      connectionIndicatorLabel_(new QLabel),
      pages_(new QTabWidget),
      reviewsPage_(new ReviewsPage(client_, pending_)),
      sessionsPage_(new SessionsPage(client_)),
      dashboardPage_(new DashboardPage(client_)),
      caFileButton_(connectDialog_->caFileButton()),
      ssoButton_(connectDialog_->ssoButton()),
      rememberCheckBox_(connectDialog_->remember()),
      caFileLabel_(connectDialog_->caFileStatus()) {
    setWindowTitle(tr("Vigil Console"));
    signedInLabel_->setObjectName(QStringLiteral("signedInLabel"));
    gatewayLabel_->setObjectName(QStringLiteral("gatewayLabel"));
    openConnectButton_->setObjectName(QStringLiteral("openConnectDialogButton"));
    signOutButton_->setObjectName(QStringLiteral("signOutButton"));
    connectionIndicatorLabel_->setObjectName(QStringLiteral("connectionIndicatorLabel"));
    pages_->setObjectName(QStringLiteral("pagesTabWidget"));
    openConnectButton_->setToolTip(tr("Connect to a gateway, or sign in as someone else (Ctrl+L)"));
    signOutButton_->setEnabled(false);
    gatewayLabel_->setStyleSheet(QStringLiteral("color:#555555"));
    {
        // Recent gateways, newest first, offered as the URL is typed.
        QSettings settings;
        const auto recent = settings.value(QStringLiteral("recent/gateways")).toStringList();
        auto* completer = new QCompleter(new QStringListModel(recent, this), this);
        completer->setCaseSensitivity(Qt::CaseInsensitive);
        gatewayUrlLineEdit_->setCompleter(completer);
        if (!recent.isEmpty()) gatewayUrlLineEdit_->setText(recent.first());
    }

    auto* gatewayMenu = menuBar()->addMenu(tr("&Gateway"));
    auto* connectAction = gatewayMenu->addAction(tr("&Connect…"), this, &MainWindow::showConnectDialog);
    connectAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    signOutAction_ = gatewayMenu->addAction(tr("Sign &out"), this, &MainWindow::signOut);
    gatewayMenu->addSeparator();
    // Through close(): the window's place and its splitters are saved on the way out.
    auto* quitAction = gatewayMenu->addAction(tr("&Quit"), this, [this] {
        close();
        QApplication::quit();
    });
    quitAction->setShortcut(QKeySequence::Quit);
    signOutAction_->setEnabled(false);

    auto* central = new QWidget;
    auto* layout = new QVBoxLayout(central);
    auto* header = new QHBoxLayout;
    header->addWidget(signedInLabel_, 1);
    header->addWidget(gatewayLabel_);
    header->addSpacing(12);
    header->addWidget(connectionIndicatorLabel_);
    header->addSpacing(12);
    header->addWidget(openConnectButton_);
    header->addWidget(signOutButton_);
    layout->addLayout(header);
    pages_->addTab(reviewsPage_, tr("Pending reviews"));
    pages_->addTab(sessionsPage_, tr("Sessions"));
    pages_->addTab(dashboardPage_, tr("Dashboard"));
    layout->addWidget(pages_, 1);
    setCentralWidget(central);
    statusBar()->showMessage(tr("Not connected"));
    setRecordingPagesOpen(false);
    // Room for the Sessions table's columns beside the replay, on screens that have it.
    QSize size(1280, 800);
    if (const auto* screen = QGuiApplication::primaryScreen()) {
        size = size.boundedTo(screen->availableGeometry().size() * 0.9);
    }
    resize(size);
    if (const auto geometry = QSettings().value(QStringLiteral("window/geometry")).toByteArray(); !geometry.isEmpty()) {
        restoreGeometry(geometry);
    }
    showConnection(EventStream::State::Disconnected);

    if (QSystemTrayIcon::isSystemTrayAvailable()) {
        tray_ = new QSystemTrayIcon(style()->standardIcon(QStyle::SP_MessageBoxInformation), this);
        tray_->setToolTip(tr("Vigil Console"));
        tray_->show();
        connect(tray_, &QSystemTrayIcon::messageClicked, this, [this] {
            showNormal();
            raise();
            activateWindow();
        });
    }

    connect(checkGatewayButton_, &QPushButton::clicked, this, [this] {
        const auto text = gatewayUrlLineEdit_->text().trimmed();
        if (!text.isEmpty()) probe_.check(QUrl::fromUserInput(text));
    });
    connect(connectButton_, &QPushButton::clicked, this,
            [this] { connectTo(QUrl::fromUserInput(gatewayUrlLineEdit_->text()), credentialLineEdit_->text().trimmed()); });
    connect(caFileButton_, &QPushButton::clicked, this, &MainWindow::chooseCaFile);
    connect(ssoButton_, &QPushButton::clicked, this, [this] { signInWithSso(QUrl::fromUserInput(gatewayUrlLineEdit_->text())); });
    connect(openConnectButton_, &QPushButton::clicked, this, &MainWindow::showConnectDialog);
    // Another gateway: the providers offered for the previous one no longer apply.
    connect(gatewayUrlLineEdit_, &QLineEdit::textEdited, this, [this] {
        connectDialog_->provider()->clear();
        connectDialog_->provider()->hide();
    });
    connect(signOutButton_, &QPushButton::clicked, this, &MainWindow::signOut);
    connect(&oidc_, &OidcSignIn::finished, this, [this](bool ok, const QString& result) {
        connectDialog_->setBusy(false);
        if (!ok) {
            showSignInProblem(tr("Single sign-on failed: %1").arg(result.toHtmlEscaped()));
            return;
        }
        signIn(QUrl::fromUserInput(gatewayUrlLineEdit_->text()), result);
    });
    // A single sign-on's token is renewed before it expires: REST and the next event-stream
    // connection use the new one. When it cannot be renewed, the person signs in again.
    connect(&oidc_, &OidcSignIn::tokenRefreshed, this, [this](const QString& token) {
        client_.renewCredential(token);
        events_.renewCredential(token);
        statusBar()->showMessage(tr("Single sign-on renewed"), 5000);
        // A list refused with the old token (it expired first) follows the gateway again.
        if (sessionsPage_->model().halted()) sessionsPage_->refresh();
    });
    connect(&oidc_, &OidcSignIn::refreshFailed, this, [this](const QString& why) {
        statusBar()->showMessage(tr("Single sign-on could not be renewed (%1): sign in again before it expires").arg(why));
    });
    connect(&probe_, &GatewayProbe::stateChanged, this, &MainWindow::onProbeStateChanged);
    connect(&events_, &EventStream::stateChanged, this, &MainWindow::showConnection);
    connect(&events_, &EventStream::resyncNeeded, this, &MainWindow::reloadPending);
    connect(&events_, &EventStream::received, this, [this](const QString& type, const QJsonObject& payload, qint64) { onEvent(type, payload); });
    connect(reviewsPage_, &ReviewsPage::statusMessage, this, [this](const QString& text) { statusBar()->showMessage(text, 10000); });
    connect(sessionsPage_, &SessionsPage::statusMessage, this, [this](const QString& text) { statusBar()->showMessage(text, 10000); });
    connect(dashboardPage_, &DashboardPage::statusMessage, this, [this](const QString& text) { statusBar()->showMessage(text, 10000); });
}

void MainWindow::connectTo(const QUrl& url, const QString& credential) {
    oidc_.cancel();  // a key or token now: a previous single sign-on is no longer renewed
    loadCaFor(url);  // the CA file trusted for this gateway before, if any
    if (!credential.isEmpty()) {
        signIn(url, credential);
        return;
    }
    // Nothing typed: the credential remembered in the keychain, if there is one.
    auto* job = new QKeychain::ReadPasswordJob(QStringLiteral("Vigil Console"), this);
    job->setKey(url.toString());
    job->setAutoDelete(true);
    connect(job, &QKeychain::Job::finished, this, [this, url, job] {
        if (job->error() != QKeychain::NoError || job->textData().isEmpty()) {
            showSignInProblem(tr("Enter an API key or access token to sign in (none is remembered for this gateway: %1).")
                                  .arg(job->error() == QKeychain::EntryNotFound ? tr("not stored") : job->errorString()));
            return;
        }
        signIn(url, job->textData());
    });
    job->start();
}

void MainWindow::signInWithSso(const QUrl& url) {
    gatewayUrlLineEdit_->setText(url.toString());
    loadCaFor(url);
    events_.stop();
    pending_.reset({});
    setRecordingPagesOpen(false);
    setSignedIn(false);
    client_.setGateway(url, {});
    signedInLabel_->setText(tr("Asking the gateway how to sign in…"));
    connectDialog_->setMessage(signedInLabel_->text(), false);
    connectDialog_->setBusy(true);
    client_.get(QStringLiteral("/api/auth/config"), [this](const ApiResult& r) {
        const auto issuers = r.body.value(QStringLiteral("issuers")).toArray();
        if (!r.ok() || issuers.isEmpty()) {
            connectDialog_->provider()->clear();
            connectDialog_->provider()->hide();
            connectDialog_->setBusy(false);
            showSignInProblem(!r.ok() ? tr("Cannot ask the gateway how to sign in: %1").arg(r.errorMessage)
                                      : tr("This gateway trusts no identity provider: sign in with an API key."));
            return;
        }
        // Several providers: the person chooses one (the list is offered the first time).
        auto* chooser = connectDialog_->provider();
        QStringList offered;
        for (const auto& v : issuers) offered << v.toObject().value(QStringLiteral("issuer")).toString();
        QStringList listed;
        for (int i = 0; i < chooser->count(); ++i) listed << chooser->itemData(i).toString();
        if (issuers.size() > 1 && listed != offered) {
            chooser->clear();
            for (const auto& issuer : offered) chooser->addItem(QUrl(issuer).toDisplayString(QUrl::RemoveUserInfo), issuer);
            chooser->show();
            connectDialog_->setBusy(false);
            signedInLabel_->setText(tr("This gateway trusts %1 identity providers: choose yours, then Sign in with SSO again.").arg(issuers.size()));
            connectDialog_->setMessage(signedInLabel_->text(), false);
            return;
        }
        if (issuers.size() <= 1) {
            chooser->clear();
            chooser->hide();
        }
        const auto wanted = issuers.size() > 1 ? chooser->currentData().toString() : offered.first();
        const auto chosen = issuers.at(std::max<qsizetype>(0, offered.indexOf(wanted))).toObject();
        OidcSignIn::Settings settings;
        settings.issuer = QUrl(chosen.value(QStringLiteral("issuer")).toString());
        settings.clientId = chosen.value(QStringLiteral("console_client_id")).toString();
        settings.scope = chosen.value(QStringLiteral("scope")).toString();
        settings.resource = chosen.value(QStringLiteral("audience")).toString();
        signedInLabel_->setText(tr("Continue in the browser: signing in at %1…").arg(settings.issuer.toString().toHtmlEscaped()));
        connectDialog_->setMessage(signedInLabel_->text(), false);
        oidc_.start(settings);
    });
}

void MainWindow::closeEvent(QCloseEvent* event) {
    QSettings().setValue(QStringLiteral("window/geometry"), saveGeometry());
    reviewsPage_->saveLayout();
    sessionsPage_->saveLayout();
    QMainWindow::closeEvent(event);
}

void MainWindow::loadCaFor(const QUrl& url) {
    QSettings settings;
    const auto key = QStringLiteral("gateways/%1/ca_file").arg(QString::fromLatin1(url.toString().toUtf8().toBase64(QByteArray::Base64UrlEncoding)));
    const auto ca = settings.value(key).toString();
    if (ca != client_.caFile()) {
        QString error;
        if (!client_.setCaFile(ca, &error)) caFileLabel_->setText(tr("CA file: %1").arg(error));
    }
    caFileLabel_->setText(client_.caFile().isEmpty() ? QString() : tr("Trusting CA %1").arg(client_.caFile()));
}

void MainWindow::chooseCaFile() {
    QString path = nextCaFile_;
    nextCaFile_.clear();
    if (path.isEmpty()) {
        path = QFileDialog::getOpenFileName(this, tr("Trust a certificate authority"), {}, tr("PEM certificates (*.pem *.crt);;All files (*)"));
    }
    if (path.isEmpty()) return;
    QString error;
    if (!client_.setCaFile(path, &error)) {
        caFileLabel_->setText(tr("CA file refused: %1").arg(error));
        return;
    }
    const auto url = QUrl::fromUserInput(gatewayUrlLineEdit_->text());
    QSettings settings;
    settings.setValue(QStringLiteral("gateways/%1/ca_file").arg(QString::fromLatin1(url.toString().toUtf8().toBase64(QByteArray::Base64UrlEncoding))), path);
    caFileLabel_->setText(tr("Trusting CA %1").arg(path));
}

void MainWindow::rememberGateway(const QUrl& url, const QString& credential) {
    QSettings settings;
    auto recent = settings.value(QStringLiteral("recent/gateways")).toStringList();
    recent.removeAll(url.toString());
    recent.prepend(url.toString());
    while (recent.size() > 10) recent.removeLast();
    settings.setValue(QStringLiteral("recent/gateways"), recent);
    if (auto* model = qobject_cast<QStringListModel*>(gatewayUrlLineEdit_->completer()->model())) model->setStringList(recent);
    if (!rememberCheckBox_->isChecked()) return;
    auto* job = new QKeychain::WritePasswordJob(QStringLiteral("Vigil Console"), this);
    job->setKey(url.toString());
    job->setTextData(credential);
    job->setAutoDelete(true);
    connect(job, &QKeychain::Job::finished, this, [this, job] {
        if (job->error() != QKeychain::NoError) {
            statusBar()->showMessage(tr("The credential is not remembered: the system keychain refused (%1). "
                                        "It is never written to plain settings.").arg(job->errorString()));
        } else {
            statusBar()->showMessage(tr("The credential is remembered in the system keychain."), 10000);
        }
    });
    job->start();
}

void MainWindow::signIn(const QUrl& url, const QString& credential) {
    events_.stop();
    pending_.reset({});
    setRecordingPagesOpen(false);  // nothing of the previous sign-in stays readable meanwhile
    gatewayUrlLineEdit_->setText(url.toString());
    client_.setGateway(url, credential);
    signedInLabel_->setText(tr("Signing in…"));
    gatewayLabel_->setText(url.toString());
    setSignedIn(false);
    connectDialog_->setMessage(tr("Signing in…"), false);
    connectDialog_->setBusy(true);
    probe_.setSslConfiguration(client_.sslConfiguration());
    probe_.check(url);
    client_.signIn([this, url, credential](const ApiResult& result, const Identity& who) {
        connectDialog_->setBusy(false);
        if (!result.ok()) {
            showSignInProblem(result.errorCode == QStringLiteral("tls_error") ? result.errorMessage
                              : result.status == 0 ? tr("Cannot reach the gateway: %1").arg(result.errorMessage)
                                                 : tr("Sign-in refused: %1").arg(result.errorMessage));
            reviewsPage_->identityChanged();
            return;
        }
        rememberGateway(url, credential);
        credentialLineEdit_->clear();  // it lives in the client (and the keychain if remembered), not in a widget
        connectDialog_->setMessage({}, false);
        connectDialog_->accept();
        setSignedIn(true);
        signedInLabel_->setText(tr("Signed in as <b>%1</b> (%2)")
                                    .arg(who.subject.toHtmlEscaped(),
                                         who.roles.isEmpty() ? tr("no roles") : who.roles.join(QStringLiteral(", ")).toHtmlEscaped()));
        reviewsPage_->identityChanged();
        // The recording is for auditors and admins: the sessions and dashboard pages load for
        // them, and are closed to everyone else (nothing of a previous sign-in stays readable).
        static const QStringList kRecordingRoles = {QStringLiteral("auditor"), QStringLiteral("admin")};
        const bool recordingReader = who.hasAnyRole(kRecordingRoles);
        // The live events are for approvers, auditors and admins (and the policy's approver
        // roles); every request's summaries only for those whose pages follow them.
        QStringList eventRoles = {QStringLiteral("auditor"), QStringLiteral("approver"), QStringLiteral("admin")};
        eventRoles += who.approverRoles;
        if (who.hasAnyRole(eventRoles)) {
            events_.start(client_.baseUrl(), client_.credential(), client_.sslConfiguration(), recordingReader);
        } else {
            connectionIndicatorLabel_->setText(tr("● No live events for your roles"));
            connectionIndicatorLabel_->setStyleSheet(QStringLiteral("color:#777777"));
        }
        setRecordingPagesOpen(recordingReader);
        if (recordingReader) {
            sessionsPage_->refresh();
            dashboardPage_->refresh();
        }
    });
}

void MainWindow::showSignInProblem(const QString& text) {
    signedInLabel_->setWordWrap(true);
    signedInLabel_->setText(text);
    connectDialog_->setMessage(text, true);
    if (!connectDialog_->isVisible() && isVisible()) showConnectDialog();
}

void MainWindow::setSignedIn(bool signedIn) {
    signOutButton_->setEnabled(signedIn);
    signOutAction_->setEnabled(signedIn);
}

void MainWindow::setRecordingPagesOpen(bool open) {
    for (auto* page : {static_cast<QWidget*>(sessionsPage_), static_cast<QWidget*>(dashboardPage_)}) {
        const int index = pages_->indexOf(page);
        if (!open && pages_->currentIndex() == index) pages_->setCurrentWidget(reviewsPage_);
        pages_->setTabEnabled(index, open);
        pages_->setTabToolTip(index, open ? QString() : tr("For auditors and admins"));
    }
}

void MainWindow::showConnectDialog() {
    connectDialog_->show();
    connectDialog_->raise();
    connectDialog_->activateWindow();
    (credentialLineEdit_->text().isEmpty() && !gatewayUrlLineEdit_->text().isEmpty() ? credentialLineEdit_ : gatewayUrlLineEdit_)
        ->setFocus();
}

void MainWindow::signOut() {
    oidc_.cancel();
    events_.stop();
    client_.setGateway(client_.baseUrl(), {});
    pending_.reset({});
    reviewsPage_->identityChanged();
    setSignedIn(false);
    setRecordingPagesOpen(false);
    signedInLabel_->setText(tr("Not signed in"));
    connectionIndicatorLabel_->setToolTip({});
    showConnection(EventStream::State::Disconnected);
    statusBar()->showMessage(tr("Signed out"), 10000);
    showConnectDialog();
}

void MainWindow::reloadPending() {
    client_.get(QStringLiteral("/api/reviews?state=pending&limit=1000"), [this](const ApiResult& result) {
        if (!result.ok()) {
            statusBar()->showMessage(tr("Cannot list the pending reviews: %1").arg(result.errorMessage));
            return;
        }
        QList<ReviewItem> items;
        for (const auto& v : result.body.value(QStringLiteral("reviews")).toArray()) items.append(ReviewItem::fromJson(v.toObject()));
        const auto selected = reviewsPage_->selectedReviewId();
        pending_.reset(std::move(items));
        if (!selected.isEmpty()) reviewsPage_->selectReview(selected);
        reviewsPage_->identityChanged();
    });
}

void MainWindow::onEvent(const QString& type, const QJsonObject& payload) {
    if (type.startsWith(QStringLiteral("session."))) {
        // The recording pages follow the traffic (for the roles that may read them).
        if (pages_->isTabEnabled(pages_->indexOf(sessionsPage_))) {
            sessionsPage_->sessionSummary(type, payload);
            dashboardPage_->noteActivity();
        }
        return;
    }
    if (!type.startsWith(QStringLiteral("review."))) return;
    const auto review = ReviewItem::fromJson(payload);
    const bool added = type == QStringLiteral("review.pending") && pending_.rowOf(review.id) < 0;
    pending_.apply(type, review);
    reviewsPage_->identityChanged();
    if (added && tray_ != nullptr && !isActiveWindow() && review.requester != client_.identity().subject) {
        tray_->showMessage(tr("Review waiting"),
                           tr("%1 asks %2 (rule %3)")
                               .arg(visibleText(review.requester), review.model.isEmpty() ? review.connection : visibleText(review.model), review.rule),
                           QSystemTrayIcon::Information, 10000);
    }
}

void MainWindow::showConnection(EventStream::State state) {
    QString text, color;
    switch (state) {
    case EventStream::State::Live: text = tr("● Live"); color = QStringLiteral("#1a7f37"); break;
    case EventStream::State::Connecting: text = tr("● Connecting…"); color = QStringLiteral("#8a5a00"); break;
    case EventStream::State::Reconnecting: text = tr("● Reconnecting…"); color = QStringLiteral("#b35900"); break;
    case EventStream::State::Disconnected: text = tr("● Offline"); color = QStringLiteral("#777777"); break;
    }
    connectionIndicatorLabel_->setText(text);
    connectionIndicatorLabel_->setStyleSheet(QStringLiteral("color:%1;font-weight:bold").arg(color));
    if (state == EventStream::State::Reconnecting && !events_.lastError().isEmpty()) {
        connectionIndicatorLabel_->setToolTip(events_.lastError());
    }
}

void MainWindow::onProbeStateChanged(GatewayProbe::State state, const QString& detail) {
    gatewayStatusLabel_->setText(detail);
    statusBar()->showMessage(state == GatewayProbe::State::Ready ? tr("Gateway ready") : detail);
}

}  // namespace vigil::console

#include "views/main_window.h"

#include <QApplication>
#include <QCompleter>
#include <QFileDialog>
#include <QSettings>
#include <QStringListModel>

#include <qt6keychain/keychain.h>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QJsonArray>
#include <QStatusBar>
#include <QStyle>
#include <QVBoxLayout>

#include "views/reviews_page.h"
#include "views/dashboard_page.h"
#include "views/sessions_page.h"

namespace vigil::console {

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent),
      gatewayUrlLineEdit_(new QLineEdit(QStringLiteral("http://127.0.0.1:8080"))),
      credentialLineEdit_(new QLineEdit),
      checkGatewayButton_(new QPushButton(tr("&Check"))),
      connectButton_(new QPushButton(tr("C&onnect"))),
      gatewayStatusLabel_(new QLabel(tr("Not checked"))),
      signedInLabel_(new QLabel(tr("Not signed in"))),
      connectionIndicatorLabel_(new QLabel),
      pages_(new QTabWidget),
      reviewsPage_(new ReviewsPage(client_, pending_)),
      sessionsPage_(new SessionsPage(client_)),
      dashboardPage_(new DashboardPage(client_)),
      caFileButton_(new QPushButton(tr("CA &file…"))),
      ssoButton_(new QPushButton(tr("Sign in with &SSO"))),
      rememberCheckBox_(new QCheckBox(tr("&Remember"))),
      caFileLabel_(new QLabel) {
    setWindowTitle(tr("Vigil Console"));
    gatewayUrlLineEdit_->setObjectName(QStringLiteral("gatewayUrlLineEdit"));
    credentialLineEdit_->setObjectName(QStringLiteral("credentialLineEdit"));
    checkGatewayButton_->setObjectName(QStringLiteral("checkGatewayButton"));
    connectButton_->setObjectName(QStringLiteral("connectButton"));
    gatewayStatusLabel_->setObjectName(QStringLiteral("gatewayStatusLabel"));
    signedInLabel_->setObjectName(QStringLiteral("signedInLabel"));
    connectionIndicatorLabel_->setObjectName(QStringLiteral("connectionIndicatorLabel"));
    pages_->setObjectName(QStringLiteral("pagesTabWidget"));
    credentialLineEdit_->setEchoMode(QLineEdit::Password);
    credentialLineEdit_->setPlaceholderText(tr("API key (vgl_...) or access token"));
    caFileButton_->setObjectName(QStringLiteral("caFileButton"));
    ssoButton_->setObjectName(QStringLiteral("ssoButton"));
    ssoButton_->setToolTip(tr("Sign in through your organisation's identity provider, in the browser"));
    rememberCheckBox_->setObjectName(QStringLiteral("rememberCheckBox"));
    caFileLabel_->setObjectName(QStringLiteral("caFileLabel"));
    caFileButton_->setToolTip(tr("Trust your organisation's certificate authority (a PEM file) for this gateway"));
    rememberCheckBox_->setToolTip(tr("Keep the credential in the system keychain (never in plain settings)"));
    {
        // Recent gateways, newest first, offered as the URL is typed.
        QSettings settings;
        const auto recent = settings.value(QStringLiteral("recent/gateways")).toStringList();
        auto* completer = new QCompleter(new QStringListModel(recent, this), this);
        completer->setCaseSensitivity(Qt::CaseInsensitive);
        gatewayUrlLineEdit_->setCompleter(completer);
        if (!recent.isEmpty()) gatewayUrlLineEdit_->setText(recent.first());
    }

    auto* central = new QWidget;
    auto* layout = new QVBoxLayout(central);
    auto* row = new QHBoxLayout;
    row->addWidget(gatewayUrlLineEdit_, 2);
    row->addWidget(credentialLineEdit_, 2);
    row->addWidget(rememberCheckBox_);
    row->addWidget(caFileButton_);
    row->addWidget(checkGatewayButton_);
    row->addWidget(connectButton_);
    row->addWidget(ssoButton_);
    auto* form = new QFormLayout;
    form->addRow(tr("Gateway:"), row);
    auto* status = new QHBoxLayout;
    status->addWidget(gatewayStatusLabel_);
    status->addSpacing(16);
    status->addWidget(caFileLabel_);
    status->addStretch(1);
    status->addWidget(signedInLabel_);
    status->addSpacing(16);
    status->addWidget(connectionIndicatorLabel_);
    form->addRow(tr("Status:"), status);
    layout->addLayout(form);
    pages_->addTab(reviewsPage_, tr("Pending reviews"));
    pages_->addTab(sessionsPage_, tr("Sessions"));
    pages_->addTab(dashboardPage_, tr("Dashboard"));
    layout->addWidget(pages_, 1);
    setCentralWidget(central);
    statusBar()->showMessage(tr("Not connected"));
    resize(1100, 680);
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

    connect(checkGatewayButton_, &QPushButton::clicked, this,
            [this] { probe_.check(QUrl::fromUserInput(gatewayUrlLineEdit_->text())); });
    connect(gatewayUrlLineEdit_, &QLineEdit::returnPressed, checkGatewayButton_, &QPushButton::click);
    connect(connectButton_, &QPushButton::clicked, this,
            [this] { connectTo(QUrl::fromUserInput(gatewayUrlLineEdit_->text()), credentialLineEdit_->text().trimmed()); });
    connect(credentialLineEdit_, &QLineEdit::returnPressed, connectButton_, &QPushButton::click);
    connect(caFileButton_, &QPushButton::clicked, this, &MainWindow::chooseCaFile);
    connect(ssoButton_, &QPushButton::clicked, this, [this] { signInWithSso(QUrl::fromUserInput(gatewayUrlLineEdit_->text())); });
    connect(&oidc_, &OidcSignIn::finished, this, [this](bool ok, const QString& result) {
        ssoButton_->setEnabled(true);
        if (!ok) {
            signedInLabel_->setText(tr("Single sign-on failed: %1").arg(result.toHtmlEscaped()));
            return;
        }
        signIn(QUrl::fromUserInput(gatewayUrlLineEdit_->text()), result);
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
            signedInLabel_->setText(tr("Enter an API key or access token to sign in (none is remembered for this gateway: %1).")
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
    client_.setGateway(url, {});
    signedInLabel_->setText(tr("Asking the gateway how to sign in…"));
    ssoButton_->setEnabled(false);
    client_.get(QStringLiteral("/api/auth/config"), [this](const ApiResult& r) {
        const auto issuers = r.body.value(QStringLiteral("issuers")).toArray();
        if (!r.ok() || issuers.isEmpty()) {
            ssoButton_->setEnabled(true);
            signedInLabel_->setText(!r.ok() ? tr("Cannot ask the gateway how to sign in: %1").arg(r.errorMessage)
                                            : tr("This gateway trusts no identity provider: sign in with an API key."));
            return;
        }
        const auto first = issuers.first().toObject();
        OidcSignIn::Settings settings;
        settings.issuer = QUrl(first.value(QStringLiteral("issuer")).toString());
        settings.clientId = first.value(QStringLiteral("console_client_id")).toString();
        settings.scope = first.value(QStringLiteral("scope")).toString();
        settings.resource = first.value(QStringLiteral("audience")).toString();
        signedInLabel_->setText(tr("Continue in the browser: signing in at %1…").arg(settings.issuer.toString().toHtmlEscaped()));
        oidc_.start(settings);
    });
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
    gatewayUrlLineEdit_->setText(url.toString());
    client_.setGateway(url, credential);
    signedInLabel_->setText(tr("Signing in…"));
    probe_.setSslConfiguration(client_.sslConfiguration());
    probe_.check(url);
    client_.signIn([this, url, credential](const ApiResult& result, const Identity& who) {
        if (!result.ok()) {
            signedInLabel_->setWordWrap(true);
            signedInLabel_->setText(result.errorCode == QStringLiteral("tls_error") ? result.errorMessage
                                    : result.status == 0 ? tr("Cannot reach the gateway: %1").arg(result.errorMessage)
                                                       : tr("Sign-in refused: %1").arg(result.errorMessage));
            reviewsPage_->identityChanged();
            return;
        }
        rememberGateway(url, credential);
        signedInLabel_->setText(tr("Signed in as <b>%1</b> (%2)")
                                    .arg(who.subject.toHtmlEscaped(),
                                         who.roles.isEmpty() ? tr("no roles") : who.roles.join(QStringLiteral(", ")).toHtmlEscaped()));
        reviewsPage_->identityChanged();
        // The live events are for approvers, auditors and admins (and the policy's approver roles).
        QStringList eventRoles = {QStringLiteral("auditor"), QStringLiteral("approver"), QStringLiteral("admin")};
        eventRoles += who.approverRoles;
        if (who.hasAnyRole(eventRoles)) {
            events_.start(client_.baseUrl(), client_.credential(), client_.sslConfiguration());
        } else {
            connectionIndicatorLabel_->setText(tr("● No live events for your roles"));
            connectionIndicatorLabel_->setStyleSheet(QStringLiteral("color:#777777"));
        }
        // The recording is for auditors and admins: the sessions page loads for them.
        static const QStringList kRecordingRoles = {QStringLiteral("auditor"), QStringLiteral("admin")};
        if (who.hasAnyRole(kRecordingRoles)) {
            sessionsPage_->refresh();
            dashboardPage_->refresh();
        }
    });
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
    if (!type.startsWith(QStringLiteral("review."))) return;
    const auto review = ReviewItem::fromJson(payload);
    const bool added = type == QStringLiteral("review.pending") && pending_.rowOf(review.id) < 0;
    pending_.apply(type, review);
    reviewsPage_->identityChanged();
    if (added && tray_ != nullptr && !isActiveWindow() && review.requester != client_.identity().subject) {
        tray_->showMessage(tr("Review waiting"),
                           tr("%1 asks %2 (rule %3)").arg(review.requester, review.model.isEmpty() ? review.connection : review.model, review.rule),
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

#include "views/connect_dialog.h"

#include <QFormLayout>
#include <QFrame>
#include <QHBoxLayout>
#include <QVBoxLayout>

namespace vigil::console {

ConnectDialog::ConnectDialog(QWidget* parent)
    : QDialog(parent),
      gatewayUrl_(new QLineEdit(QStringLiteral("http://127.0.0.1:8080"))),
      check_(new QPushButton(tr("&Check"))),
      gatewayStatus_(new QLabel(tr("Not checked yet"))),
      caFile_(new QPushButton(tr("Trust a CA &file…"))),
      caFileStatus_(new QLabel),
      credential_(new QLineEdit),
      remember_(new QCheckBox(tr("&Remember in the system keychain"))),
      sso_(new QPushButton(tr("Sign in with &SSO…"))),
      provider_(new QComboBox),
      connect_(new QPushButton(tr("C&onnect"))),
      cancel_(new QPushButton(tr("Cancel"))),
      message_(new QLabel) {
    setObjectName(QStringLiteral("connectDialog"));
    setWindowTitle(tr("Connect to a Vigil gateway"));
    gatewayUrl_->setObjectName(QStringLiteral("gatewayUrlLineEdit"));
    check_->setObjectName(QStringLiteral("checkGatewayButton"));
    gatewayStatus_->setObjectName(QStringLiteral("gatewayStatusLabel"));
    caFile_->setObjectName(QStringLiteral("caFileButton"));
    caFileStatus_->setObjectName(QStringLiteral("caFileLabel"));
    credential_->setObjectName(QStringLiteral("credentialLineEdit"));
    remember_->setObjectName(QStringLiteral("rememberCheckBox"));
    sso_->setObjectName(QStringLiteral("ssoButton"));
    provider_->setObjectName(QStringLiteral("identityProviderComboBox"));
    provider_->setToolTip(tr("This gateway trusts several identity providers: the one your account is with"));
    provider_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    provider_->hide();
    connect_->setObjectName(QStringLiteral("connectButton"));
    cancel_->setObjectName(QStringLiteral("cancelConnectButton"));
    message_->setObjectName(QStringLiteral("signInMessageLabel"));

    gatewayUrl_->setPlaceholderText(QStringLiteral("https://vigil.example.com"));
    gatewayUrl_->setToolTip(tr("The gateway's address; gateways you signed in to before are offered as you type"));
    gatewayStatus_->setWordWrap(true);
    caFile_->setToolTip(tr("Trust your organisation's certificate authority (a PEM file) for this gateway"));
    caFileStatus_->setWordWrap(true);
    credential_->setEchoMode(QLineEdit::Password);
    credential_->setPlaceholderText(tr("API key (vgl_...) or access token"));
    credential_->setMinimumWidth(360);
    remember_->setToolTip(tr("Keep the credential in the system keychain (never in plain settings)"));
    sso_->setToolTip(tr("Sign in through your organisation's identity provider, in the browser"));
    connect_->setToolTip(tr("Sign in with the API key or token above (or the one remembered for this gateway)"));
    connect_->setDefault(true);
    message_->setWordWrap(true);
    message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    message_->setMinimumHeight(message_->fontMetrics().height() * 3);
    message_->setAlignment(Qt::AlignLeft | Qt::AlignTop);

    auto* layout = new QVBoxLayout(this);
    auto* gatewayForm = new QFormLayout;
    auto* urlRow = new QHBoxLayout;
    urlRow->addWidget(gatewayUrl_, 1);
    urlRow->addWidget(check_);
    auto* urlLabel = new QLabel(tr("&Gateway:"));
    urlLabel->setBuddy(gatewayUrl_);
    gatewayForm->addRow(urlLabel, urlRow);
    gatewayForm->addRow(QString(), gatewayStatus_);
    auto* caRow = new QHBoxLayout;
    caRow->addWidget(caFile_);
    caRow->addWidget(caFileStatus_, 1);
    gatewayForm->addRow(tr("TLS:"), caRow);
    layout->addLayout(gatewayForm);

    auto* line = new QFrame;
    line->setFrameShape(QFrame::HLine);
    line->setFrameShadow(QFrame::Sunken);
    layout->addWidget(line);

    auto* ssoHint = new QLabel(tr("Sign in with your organisation's account (opens the browser):"));
    layout->addWidget(ssoHint);
    auto* ssoRow = new QHBoxLayout;
    ssoRow->addWidget(sso_);
    ssoRow->addWidget(provider_, 1);
    ssoRow->addStretch(1);
    layout->addLayout(ssoRow);
    layout->addSpacing(6);
    auto* keyHint = new QLabel(tr("Or paste a Vigil API key or an access token:"));
    layout->addWidget(keyHint);
    auto* keyForm = new QFormLayout;
    keyForm->addRow(tr("Cr&edential:"), credential_);
    keyForm->addRow(QString(), remember_);
    layout->addLayout(keyForm);
    layout->addWidget(message_);
    layout->addStretch(1);

    auto* buttons = new QHBoxLayout;
    buttons->addStretch(1);
    buttons->addWidget(cancel_);
    buttons->addWidget(connect_);
    layout->addLayout(buttons);

    connect(cancel_, &QPushButton::clicked, this, &QDialog::reject);
    connect(gatewayUrl_, &QLineEdit::editingFinished, check_, &QPushButton::click);
    resize(620, sizeHint().height());
}

void ConnectDialog::setMessage(const QString& text, bool error) {
    message_->setText(text);
    message_->setStyleSheet(error ? QStringLiteral("color:#b3261e") : QString());
}

void ConnectDialog::setBusy(bool busy) {
    connect_->setEnabled(!busy);
    sso_->setEnabled(!busy);
    provider_->setEnabled(!busy);
}

}  // namespace vigil::console

#pragma once

#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>

namespace vigil::console {

// Connect to a gateway: its URL (recent gateways offered), whether it is reachable, the CA
// to trust for it, then sign in with the organisation's identity provider or a pasted API
// key or token. A view only: the main window does the work and closes it once signed in.
class ConnectDialog : public QDialog {
    Q_OBJECT
public:
    explicit ConnectDialog(QWidget* parent = nullptr);

    QLineEdit* gatewayUrl() const { return gatewayUrl_; }
    QLineEdit* credential() const { return credential_; }
    QCheckBox* remember() const { return remember_; }
    QPushButton* checkButton() const { return check_; }
    QPushButton* caFileButton() const { return caFile_; }
    QPushButton* ssoButton() const { return sso_; }
    // The identity provider to sign in with, when the gateway trusts several (else hidden).
    QComboBox* provider() const { return provider_; }
    QPushButton* connectButton() const { return connect_; }
    QLabel* gatewayStatus() const { return gatewayStatus_; }
    QLabel* caFileStatus() const { return caFileStatus_; }

    // What the last sign-in attempt said (errors are explained here, in the dialog).
    void setMessage(const QString& text, bool error);
    // Keeps the dialog usable while a sign-in runs (buttons off, a busy cursor-free hint).
    void setBusy(bool busy);

private:
    QLineEdit* gatewayUrl_;
    QPushButton* check_;
    QLabel* gatewayStatus_;
    QPushButton* caFile_;
    QLabel* caFileStatus_;
    QLineEdit* credential_;
    QCheckBox* remember_;
    QPushButton* sso_;
    QComboBox* provider_;
    QPushButton* connect_;
    QPushButton* cancel_;
    QLabel* message_;
};

}  // namespace vigil::console

#pragma once

#include <QNetworkAccessManager>
#include <QObject>
#include <QSslConfiguration>
#include <QUrl>

namespace vigil::console {

// Asks a gateway whether it is ready (GET /readyz) and reports the answer.
class GatewayProbe : public QObject {
    Q_OBJECT
public:
    enum class State { Unknown, Checking, Ready, NotReady, Unreachable };
    Q_ENUM(State)

    explicit GatewayProbe(QObject* parent = nullptr);

    void check(const QUrl& gatewayUrl);
    void setSslConfiguration(const QSslConfiguration& ssl) {
        ssl_ = ssl;
        network_.clearConnectionCache();
    }
    State state() const { return state_; }
    QString detail() const { return detail_; }

signals:
    void stateChanged(vigil::console::GatewayProbe::State state, const QString& detail);

private:
    void setState(State state, const QString& detail);

    QNetworkAccessManager network_;
    QSslConfiguration ssl_ = QSslConfiguration::defaultConfiguration();
    State state_ = State::Unknown;
    QString detail_;
};

}  // namespace vigil::console

#pragma once

#include <QComboBox>
#include <QElapsedTimer>
#include <QJsonObject>
#include <QTimer>

#include <memory>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSlider>
#include <QSplitter>
#include <QTableView>
#include <QTextBrowser>
#include <QWidget>

#include "models/replay.h"
#include "models/sessions_model.h"
#include "net/gateway_client.h"

namespace vigil::console {

// A text view whose masked values (links "masked:ENTITY") show their entity in a tooltip.
class ReplayTextBrowser : public QTextBrowser {
    Q_OBJECT
public:
    using QTextBrowser::QTextBrowser;

protected:
    bool event(QEvent* e) override;
};

// For auditors: the recorded sessions with filters, fetched as the table scrolls, and the
// replay of the selected one (play, pause, seek, speed), its timeline and the chain status.
class SessionsPage : public QWidget {
    Q_OBJECT
public:
    SessionsPage(GatewayClient& client, QWidget* parent = nullptr);

    SessionsModel& model() { return model_; }
    ReplayPlayer& player() { return player_; }
    // (Re)loads the sessions with the filters shown, and the chain status.
    void refresh();
    void openSession(const QString& id);
    // A session.started / session.ended summary from the live events: the session on the
    // table is updated at once, new sessions appear within a second while the page is shown
    // (newest first: on top, the rows in view staying where they are), and the chain status
    // follows at most every 10 s. Hidden, the page catches up when it is shown again.
    void sessionSummary(const QString& type, const QJsonObject& summary);
    // Opens the Export evidence dialog (non-modal to the event loop: open(), not exec()).
    void openExportDialog();
    // Keeps where the user put the splitters, for the next start.
    void saveLayout() const;

signals:
    void statusMessage(const QString& text);
    void sessionOpened(const QString& id);

protected:
    void showEvent(QShowEvent* event) override;

private:
    void catchUp();
    // Columns as wide as their contents; the table as wide as its columns (pane_layout.h).
    void fitColumnsAndList();
    void scheduleChainCheck();
    void newestChecked(int added, bool overflow);
    void showPosition(qint64 positionUs);
    void loadChainStatus();
    void fetchRest(const QString& id, const QString& path, std::shared_ptr<QJsonObject> session, qint64 after);
    void showSession(const QString& id, const QJsonObject& session);

    GatewayClient& client_;
    SessionsModel model_;
    ReplayPlayer player_;
    QComboBox* range_;
    QLineEdit* subject_;
    QLineEdit* connection_;
    QLineEdit* modelFilter_;
    QComboBox* decision_;
    QLineEdit* status_;
    QPushButton* apply_;
    QPushButton* exportEvidence_;
    QTableView* table_;
    QSplitter* split_;        // the table | the replay
    QSplitter* replaySplit_;  // the replayed text above its timeline
    QPushButton* play_;
    QComboBox* speed_;
    QSlider* position_;
    QLabel* clock_;
    QListWidget* timeline_;
    ReplayTextBrowser* text_;
    QLabel* chain_;
    QLabel* newer_;  // more sessions arrived than the live update puts on top
    QTimer live_;       // the newest sessions: a look a second at most
    QTimer liveChain_;  // the chain status: every 10 s at most
    QElapsedTimer chainChecked_;
    QString topVisibleId_;  // the first row in view when new rows are put above it
    bool sessionsStale_ = false;
    bool behindNewest_ = false;  // newer_ is shown: until the list starts over
    bool chainStale_ = false;
    bool seeking_ = false;
};

}  // namespace vigil::console

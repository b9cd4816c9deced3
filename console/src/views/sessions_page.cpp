#include "views/sessions_page.h"

#include <QSignalBlocker>

#include <algorithm>

#include "views/export_dialog.h"
#include "views/pane_layout.h"

#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QScrollBar>
#include <QHelpEvent>
#include <QItemSelectionModel>
#include <QJsonArray>
#include <QSplitter>
#include <QToolTip>
#include <QVBoxLayout>

namespace vigil::console {

namespace {
// A subject, model or status wider than this is elided (its whole value is in the replay).
constexpr int kMaxColumnWidth = 220;
// The table widens to show its columns up to this share of the width; the replay keeps the rest.
constexpr int kMaxListPercent = 75;
}  // namespace

bool ReplayTextBrowser::event(QEvent* e) {
    if (e->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(e);
        const auto anchor = anchorAt(viewport()->mapFromGlobal(help->globalPos()));
        if (anchor.startsWith(QStringLiteral("masked:"))) {
            QToolTip::showText(help->globalPos(), tr("Masked by the gateway: %1").arg(anchor.mid(7)), this);
        } else {
            QToolTip::hideText();
        }
        return true;
    }
    return QTextBrowser::event(e);
}

SessionsPage::SessionsPage(GatewayClient& client, QWidget* parent)
    : QWidget(parent),
      client_(client),
      model_(client),
      range_(new QComboBox),
      subject_(new QLineEdit),
      connection_(new QLineEdit),
      modelFilter_(new QLineEdit),
      decision_(new QComboBox),
      status_(new QLineEdit),
      apply_(new QPushButton(tr("S&earch"))),
      exportEvidence_(new QPushButton(tr("E&xport evidence…"))),
      table_(new QTableView),
      play_(new QPushButton(tr("&Play"))),
      speed_(new QComboBox),
      position_(new QSlider(Qt::Horizontal)),
      clock_(new QLabel(QStringLiteral("0.0 s"))),
      timeline_(new QListWidget),
      text_(new ReplayTextBrowser),
      chain_(new QLabel(tr("Chain: not checked"))),
      newer_(new QLabel) {
    range_->setObjectName(QStringLiteral("timeRangeComboBox"));
    subject_->setObjectName(QStringLiteral("subjectFilterLineEdit"));
    connection_->setObjectName(QStringLiteral("connectionFilterLineEdit"));
    modelFilter_->setObjectName(QStringLiteral("modelFilterLineEdit"));
    decision_->setObjectName(QStringLiteral("decisionFilterComboBox"));
    status_->setObjectName(QStringLiteral("statusFilterLineEdit"));
    apply_->setObjectName(QStringLiteral("searchSessionsButton"));
    exportEvidence_->setObjectName(QStringLiteral("exportEvidenceButton"));
    exportEvidence_->setToolTip(tr("Save a signed evidence bundle of a period, with a PDF report, for auditors"));
    table_->setObjectName(QStringLiteral("sessionsTableView"));
    play_->setObjectName(QStringLiteral("playButton"));
    speed_->setObjectName(QStringLiteral("speedComboBox"));
    position_->setObjectName(QStringLiteral("replayPositionSlider"));
    timeline_->setObjectName(QStringLiteral("timelineListWidget"));
    text_->setObjectName(QStringLiteral("replayTextBrowser"));
    chain_->setObjectName(QStringLiteral("chainStatusLabel"));
    chain_->setWordWrap(true);  // a narrow replay pane wraps it rather than being held wide
    newer_->setObjectName(QStringLiteral("newerSessionsLabel"));
    newer_->setWordWrap(true);
    newer_->setStyleSheet(QStringLiteral("color:#8a5a00"));
    newer_->hide();

    range_->addItem(tr("Any time"), 0);
    range_->addItem(tr("Last hour"), 3600);
    range_->addItem(tr("Last 24 hours"), 86400);
    range_->addItem(tr("Last 7 days"), 7 * 86400);
    decision_->addItem(tr("Any decision"), QString());
    decision_->addItem(tr("allow"), QStringLiteral("allow"));
    decision_->addItem(tr("review"), QStringLiteral("review"));
    decision_->addItem(tr("deny"), QStringLiteral("deny"));
    subject_->setPlaceholderText(tr("subject"));
    connection_->setPlaceholderText(tr("connection"));
    modelFilter_->setPlaceholderText(tr("model"));
    status_->setPlaceholderText(tr("status: 200, 4xx"));
    speed_->addItem(QStringLiteral("1x"), 1);
    speed_->addItem(QStringLiteral("2x"), 2);
    speed_->addItem(QStringLiteral("10x"), 10);
    speed_->addItem(tr("instant"), 0);
    position_->setRange(0, 0);
    text_->setOpenLinks(false);
    text_->setPlaceholderText(tr("Select a session to replay it."));

    table_->setModel(&model_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->hide();
    table_->setWordWrap(false);
    table_->setTextElideMode(Qt::ElideMiddle);  // long subjects keep their distinctive ends
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setAlternatingRowColors(true);
    // Sorted by start time, newest first; a click on "Started" turns the order round (the
    // gateway pages in that order). Other columns sort the sessions loaded, once every
    // matching one is (the filters narrow them); otherwise the indicator goes back.
    table_->horizontalHeader()->setSortIndicatorShown(true);
    table_->horizontalHeader()->setSortIndicator(SessionsModel::Started, Qt::DescendingOrder);
    table_->horizontalHeader()->setSectionsClickable(true);
    connect(table_->horizontalHeader(), &QHeaderView::sortIndicatorChanged, this, [this](int column, Qt::SortOrder order) {
        if (column != SessionsModel::Started && !model_.allLoaded()) {
            const auto [was, wasOrder] = model_.sortedBy();
            const QSignalBlocker block(table_->horizontalHeader());
            table_->horizontalHeader()->setSortIndicator(was, wasOrder);
            emit statusMessage(tr("Sorting by %1 needs every matching session loaded: narrow the filters (more than %2 match)")
                                   .arg(model_.headerData(column, Qt::Horizontal).toString().toLower())
                                   .arg(model_.rowCount()));
            return;
        }
        model_.sort(column, order);
    });
    // A new search starts in start-time order again.
    connect(&model_, &QAbstractItemModel::modelReset, this, [this] {
        // The list starts over from the newest (or the oldest): nothing to catch up with.
        newer_->hide();
        behindNewest_ = false;
        topVisibleId_.clear();
        const auto [column, order] = model_.sortedBy();
        const QSignalBlocker block(table_->horizontalHeader());
        table_->horizontalHeader()->setSortIndicator(column, order);
    });

    auto* filters = new QHBoxLayout;
    filters->addWidget(range_);
    filters->addWidget(subject_, 2);
    filters->addWidget(connection_, 1);
    filters->addWidget(modelFilter_, 1);
    filters->addWidget(decision_);
    filters->addWidget(status_, 1);
    filters->addWidget(apply_);
    filters->addWidget(exportEvidence_);

    auto* controls = new QHBoxLayout;
    controls->addWidget(play_);
    controls->addWidget(speed_);
    controls->addWidget(position_, 1);
    controls->addWidget(clock_);
    auto* replay = new QWidget;
    auto* replayLayout = new QVBoxLayout(replay);
    replayLayout->setContentsMargins(0, 0, 0, 0);
    replayLayout->addLayout(controls);
    replaySplit_ = new QSplitter(Qt::Vertical);
    replaySplit_->setObjectName(QStringLiteral("replaySplitter"));
    replaySplit_->addWidget(text_);
    replaySplit_->addWidget(timeline_);
    arrangeSplitter(replaySplit_, QStringLiteral("sessions/replay_splitter_v1"), 75);
    replayLayout->addWidget(replaySplit_, 1);
    replayLayout->addWidget(chain_);

    auto* list = new QWidget;
    auto* listLayout = new QVBoxLayout(list);
    listLayout->setContentsMargins(0, 0, 0, 0);
    listLayout->addWidget(table_, 1);
    listLayout->addWidget(newer_);
    // The table gets most of the width, so that its columns show without scrolling.
    split_ = new QSplitter(Qt::Horizontal);
    split_->setObjectName(QStringLiteral("sessionsSplitter"));
    split_->addWidget(list);
    split_->addWidget(replay);
    arrangeSplitter(split_, QStringLiteral("sessions/splitter_v1"), 60);
    widenOnShowAndResize(split_, table_, kMaxListPercent);  // rows loaded while hidden, a resized window
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(filters);
    layout->addWidget(split_, 1);

    connect(apply_, &QPushButton::clicked, this, &SessionsPage::refresh);
    connect(exportEvidence_, &QPushButton::clicked, this, &SessionsPage::openExportDialog);
    for (auto* edit : {subject_, connection_, modelFilter_, status_}) {
        connect(edit, &QLineEdit::returnPressed, apply_, &QPushButton::click);
    }
    connect(&model_, &SessionsModel::failed, this, [this](const QString& m) {
        emit statusMessage(tr("Cannot list sessions: %1").arg(m));
        // Stopped until Search (or a new sign-in): said under the table for as long.
        if (model_.halted()) {
            newer_->setText(tr("Cannot list sessions: %1").arg(m));
            newer_->show();
        }
    });
    connect(&model_, &SessionsModel::pageLoaded, this, [this] { fitColumnsAndList(); });
    // Live: at most one look at the newest sessions a second, while the page is shown.
    live_.setSingleShot(true);
    connect(&live_, &QTimer::timeout, this, &SessionsPage::catchUp);
    liveChain_.setSingleShot(true);
    connect(&liveChain_, &QTimer::timeout, this, [this] {
        if (!isVisible() || !chainStale_) return;  // shown again, it catches up then
        chainStale_ = false;
        loadChainStatus();
    });
    connect(&model_, &SessionsModel::newestChecked, this, &SessionsPage::newestChecked);
    // Rows put above the ones in view (not pages appended at the end) must not move them.
    connect(&model_, &QAbstractItemModel::rowsAboutToBeInserted, this, [this](const QModelIndex&, int first) {
        if (!topVisibleId_.isEmpty() || first >= model_.rowCount() || table_->verticalScrollBar()->value() == 0) return;
        topVisibleId_ = table_->indexAt(QPoint(1, 1)).data(SessionsModel::IdRole).toString();
    });
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this](const QModelIndex& current) {
        if (current.isValid()) openSession(current.data(SessionsModel::IdRole).toString());
    });
    connect(play_, &QPushButton::clicked, this, [this] {
        if (player_.playing()) {
            player_.pause();
        } else {
            player_.play();
        }
    });
    connect(speed_, &QComboBox::currentIndexChanged, this, [this] { player_.setSpeed(speed_->currentData().toInt()); });
    connect(&player_, &ReplayPlayer::playingChanged, this, [this](bool playing) { play_->setText(playing ? tr("&Pause") : tr("&Play")); });
    connect(&player_, &ReplayPlayer::positionChanged, this, &SessionsPage::showPosition);
    connect(position_, &QSlider::valueChanged, this, [this](int ms) {
        if (!seeking_) player_.seek(static_cast<qint64>(ms) * 1000);
    });
    connect(timeline_, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) { player_.seek(item->data(Qt::UserRole).toLongLong()); });
}

void SessionsPage::openExportDialog() {
    auto* dialog = findChild<ExportDialog*>();
    if (dialog == nullptr) dialog = new ExportDialog(client_, this);
    dialog->open();
}

void SessionsPage::sessionSummary(const QString& type, const QJsonObject& summary) {
    if (type != QStringLiteral("session.started") && type != QStringLiteral("session.ended")) return;
    if (model_.applySummary(type, summary)) sessionsStale_ = true;
    chainStale_ = true;  // the request's events are on their way into the chain
    if (!isVisible()) return;
    if (sessionsStale_ && !live_.isActive()) live_.start(1000);
    scheduleChainCheck();
}

void SessionsPage::fitColumnsAndList() {
    fitColumns(table_, kMaxColumnWidth);
    widenToFit(split_, table_, kMaxListPercent);
}

void SessionsPage::saveLayout() const {
    saveSplitter(split_);
    saveSplitter(replaySplit_);
}

void SessionsPage::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (sessionsStale_ && !live_.isActive()) live_.start(0);
    scheduleChainCheck();
}

void SessionsPage::catchUp() {
    // Hidden: it catches up when shown. Told to Search: looking at the newest cannot help,
    // but the sessions on the table still follow their new requests.
    if (!isVisible() || !sessionsStale_) return;
    if (behindNewest_) {
        model_.refreshTouched();
        sessionsStale_ = false;
        return;
    }
    if (model_.refreshNewest()) {
        sessionsStale_ = false;
    } else {
        live_.start(1000);  // a page or a look on its way: again in a second
    }
}

// Checking the chain verifies the new events on the gateway: not at every request.
void SessionsPage::scheduleChainCheck() {
    if (!chainStale_ || liveChain_.isActive()) return;
    const qint64 since = chainChecked_.isValid() ? chainChecked_.elapsed() : 10'000;
    liveChain_.start(static_cast<int>(std::max<qint64>(0, 10'000 - since)));
}

void SessionsPage::newestChecked(int added, bool overflow) {
    if (overflow) {
        // More new sessions than a page. Someone watching the newest (at the top, nothing
        // open) gets them; someone reading older ones is told instead of losing their place.
        const bool watchingNewest = table_->verticalScrollBar()->value() == 0 && !table_->selectionModel()->hasSelection();
        if (watchingNewest) {
            model_.setFilters(model_.filters());
        } else {
            newer_->setText(tr("More sessions have started since this list was loaded than it can add here: Search shows the newest."));
            newer_->show();
            behindNewest_ = true;
        }
        return;
    }
    if (added > 0 && !topVisibleId_.isEmpty()) {
        // The rows in view stay where they were; the new ones are above them. The view lays
        // its rows out first, so that the scroll range already counts the new rows near the
        // end (Qt 6.4 does so at once; the layout may be deferred elsewhere).
        const int row = model_.rowOf(topVisibleId_);
        table_->doItemsLayout();
        if (row >= 0) table_->scrollTo(model_.index(row, 0), QAbstractItemView::PositionAtTop);
    }
    topVisibleId_.clear();
    if (added > 0) fitColumnsAndList();
}

void SessionsPage::refresh() {
    SessionsModel::Filters f;
    const int seconds = range_->currentData().toInt();
    if (seconds > 0) f.from = QDateTime::currentDateTimeUtc().addSecs(-seconds);
    f.subject = subject_->text();
    f.connection = connection_->text();
    f.model = modelFilter_->text();
    f.decision = decision_->currentData().toString();
    f.status = status_->text();
    f.oldestFirst = model_.filters().oldestFirst;
    model_.setFilters(f);
    loadChainStatus();
}

void SessionsPage::loadChainStatus() {
    chainChecked_.start();
    client_.get(QStringLiteral("/api/chain/status"), [this](const ApiResult& r) {
        if (!r.ok()) {
            chain_->setText(tr("Chain: cannot check (%1)").arg(r.errorMessage));
            return;
        }
        const auto& b = r.body;
        if (b.value(QStringLiteral("ok")).toBool()) {
            chain_->setText(tr("Chain: verified through event %1 of %2, signed through %3")
                                .arg(static_cast<qint64>(b.value(QStringLiteral("verified_through")).toDouble()))
                                .arg(static_cast<qint64>(b.value(QStringLiteral("head_seq")).toDouble()))
                                .arg(static_cast<qint64>(b.value(QStringLiteral("signed_through")).toDouble())));
            chain_->setStyleSheet(QStringLiteral("color:#1a7f37"));
        } else {
            chain_->setText(tr("Chain: BROKEN at event %1: %2")
                                .arg(static_cast<qint64>(b.value(QStringLiteral("broken_at")).toDouble()))
                                .arg(b.value(QStringLiteral("problem")).toString()));
            chain_->setStyleSheet(QStringLiteral("color:#b00020;font-weight:bold"));
        }
    });
}

void SessionsPage::openSession(const QString& id) {
    const auto path = QStringLiteral("/api/sessions/") + QString::fromLatin1(QUrl::toPercentEncoding(id));
    client_.get(path, [this, id, path](const ApiResult& r) {
        if (!r.ok()) {
            emit statusMessage(tr("Cannot open session %1: %2").arg(id, r.errorMessage));
            return;
        }
        auto session = std::make_shared<QJsonObject>(r.body);
        const auto next = r.body.value(QStringLiteral("next_after"));
        if (next.isDouble()) {
            fetchRest(id, path, session, static_cast<qint64>(next.toDouble()));
        } else {
            showSession(id, *session);
        }
    });
}

// A long session comes in pages of events: all of them before it is played.
void SessionsPage::fetchRest(const QString& id, const QString& path, std::shared_ptr<QJsonObject> session, qint64 after) {
    client_.get(path + QStringLiteral("/events?limit=5000&after=%1").arg(after), [this, id, path, session](const ApiResult& r) {
        if (!r.ok()) {
            emit statusMessage(tr("Cannot read all events of session %1: %2").arg(id, r.errorMessage));
            showSession(id, *session);
            return;
        }
        auto events = session->value(QStringLiteral("events")).toArray();
        for (const auto& e : r.body.value(QStringLiteral("events")).toArray()) events.append(e);
        session->insert(QStringLiteral("events"), events);
        const auto next = r.body.value(QStringLiteral("next_after"));
        if (next.isDouble()) {
            fetchRest(id, path, session, static_cast<qint64>(next.toDouble()));
        } else {
            showSession(id, *session);
        }
    });
}

void SessionsPage::showSession(const QString& id, const QJsonObject& session) {
    auto replay = Replay::fromSession(session);
    timeline_->clear();
    for (const auto& s : replay.steps()) {
        if (s.kind != Replay::Step::Kind::Marker) continue;
        auto* item = new QListWidgetItem(QStringLiteral("+%1 ms  %2").arg(static_cast<double>(s.atUs) / 1000.0, 0, 'f', 1).arg(s.text));
        item->setData(Qt::UserRole, s.atUs);
        timeline_->addItem(item);
    }
    seeking_ = true;
    position_->setRange(0, static_cast<int>(replay.durationUs() / 1000));
    seeking_ = false;
    player_.load(std::move(replay));
    player_.setSpeed(speed_->currentData().toInt());
    player_.play();
    emit sessionOpened(id);
}

void SessionsPage::showPosition(qint64 positionUs) {
    text_->setHtml(player_.replay().html(positionUs));
    seeking_ = true;
    position_->setValue(static_cast<int>(positionUs / 1000));
    seeking_ = false;
    const auto duration = player_.replay().durationUs();
    if (duration < 10'000'000) {
        clock_->setText(QStringLiteral("%1 / %2 ms")
                            .arg(static_cast<double>(positionUs) / 1e3, 0, 'f', 1)
                            .arg(static_cast<double>(duration) / 1e3, 0, 'f', 1));
    } else {
        clock_->setText(QStringLiteral("%1 / %2 s")
                            .arg(static_cast<double>(positionUs) / 1e6, 0, 'f', 1)
                            .arg(static_cast<double>(duration) / 1e6, 0, 'f', 1));
    }
    for (int i = 0; i < timeline_->count(); ++i) {
        auto* item = timeline_->item(i);
        item->setForeground(item->data(Qt::UserRole).toLongLong() <= positionUs ? palette().color(QPalette::Text)
                                                                                 : palette().color(QPalette::PlaceholderText));
    }
}

}  // namespace vigil::console

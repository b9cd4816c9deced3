#pragma once

#include <QAbstractTableModel>
#include <QDateTime>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QSet>

namespace vigil::console {

class GatewayClient;
struct ApiResult;

// The recorded sessions (GET /api/sessions), newest first, fetched a page at a time as the
// view scrolls (keyset paging: new sessions arriving meanwhile do not shift the pages), so
// a million sessions cost only the pages looked at.
class SessionsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Started, Subject, Connection, Model, Decision, Status, Requests, Outcome, ColumnCount };
    enum Role { IdRole = Qt::UserRole + 1 };

    struct Filters {
        QDateTime from, to;  // invalid: open
        QString subject, connection, model, decision, status, code;
        bool oldestFirst = false;
        QString query() const;
    };

    explicit SessionsModel(GatewayClient& client, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    bool canFetchMore(const QModelIndex& parent) const override;
    // By start time: the gateway pages in that order (a new first page). By another column:
    // only once every matching session is loaded (allLoaded()), here, keeping the start-time
    // order among equal values; otherwise nothing changes (sortedBy() says what holds).
    void sort(int column, Qt::SortOrder order = Qt::AscendingOrder) override;
    bool allLoaded() const { return atEnd_ && !loading_ && lastError_.isEmpty(); }
    std::pair<int, Qt::SortOrder> sortedBy() const { return {sortColumn_, sortOrder_}; }
    void fetchMore(const QModelIndex& parent) override;

    // Starts over with these filters (and the first page).
    void setFilters(const Filters& filters);

    // Live updates from the gateway's events (/api/events). A session.ended summary brings
    // a session already on the table up to date at once (status, code, outcome), as does a
    // session.started one (its decision). Returns true when refreshNewest() has more to
    // bring: a session not on the table, or another request of one that is (its count).
    bool applySummary(const QString& type, const QJsonObject& data);
    // Sessions on the table that got a new request are looked up (their request count,
    // status...), in any order and sorting. Newest first: loads the newest page again,
    // puts the sessions of it not yet on the table at their place (new ones on top; rows
    // keep their selection) and updates the others; when more sessions arrived than a page holds, nothing is inserted (a gap would
    // hide sessions) and newestChecked says so. Oldest first: fetches past the end again.
    // Sorted by another column: nothing. After a page failed (the table stopped there),
    // that page is fetched again first. Returns false when it cannot look now (a page or a
    // look on its way): call it again later. After a refusal that another try would not
    // change (a 4xx other than 408/429: the role taken away, say), nothing until
    // setFilters(): halted() is true.
    bool refreshNewest();
    bool halted() const { return halted_; }
    bool refreshing() const { return refreshing_; }
    // Only the sessions on the table that got a new request (refreshNewest() does it too).
    void refreshTouched();
    // The row of a session on the table, or -1.
    int rowOf(const QString& id) const { return rowOf_.value(id, -1); }
    const Filters& filters() const { return filters_; }
    void setPageSize(int n) { pageSize_ = n; }
    bool loading() const { return loading_; }
    QString lastError() const { return lastError_; }

signals:
    void pageLoaded(int rows);
    void failed(const QString& message);
    // After refreshNewest(): how many sessions were put on top, and whether more arrived
    // than one page (then none were: the view should start over to show the newest).
    void newestChecked(int added, bool overflow);

private:
    struct Row {
        QString id;
        QDateTime started;
        qint64 startedUs = 0;
        QString subject, connection, model, decision, outcome, code;
        int status = 0;
        int requests = 0;
    };

    static Row rowFromJson(const QJsonObject& o);
    // GET /api/sessions with the filters: the first page, or the one after `cursor`.
    QString pagePath(const QString& cursor) const;
    void reindex();
    void updateRow(int row, const Row& from);
    // An answer of the gateway for a row, asked when summarySeq_ was `sentAt`.
    void applyAnswer(int row, const Row& fresh, quint64 sentAt);

    GatewayClient& client_;
    Filters filters_;
    QList<Row> rows_;
    QHash<QString, int> rowOf_;  // session id -> row
    bool refreshing_ = false;
    QString cursor_;
    bool atEnd_ = true;  // nothing to fetch before the first setFilters (once signed in)
    bool loading_ = false;
    int generation_ = 0;  // answers for an older filter set are dropped
    int pageSize_ = 100;
    QString lastError_;
    bool retryingPage_ = false;  // refreshNewest() is fetching a failed page again
    bool halted_ = false;        // refused in a way another try would not change: until setFilters
    void failedFor(const ApiResult& result);
    // Sessions on the table with a request begun since they were loaded (session.started),
    // looked up by refreshTouched(), at most kMaxTouchedPerLook at a time.
    static constexpr int kMaxTouchedPerLook = 100;
    QSet<QString> touched_;
    bool lookingUpTouched_ = false;
    // Summaries applied, numbered: an answer sent before a session's last summary may
    // predate it (applyAnswer()).
    quint64 summarySeq_ = 0;
    QHash<QString, quint64> lastSummary_;
    int sortColumn_ = Started;
    Qt::SortOrder sortOrder_ = Qt::DescendingOrder;
};

}  // namespace vigil::console

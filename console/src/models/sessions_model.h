#pragma once

#include <QAbstractTableModel>
#include <QDateTime>
#include <QList>
#include <QMap>

namespace vigil::console {

class GatewayClient;

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
    const Filters& filters() const { return filters_; }
    void setPageSize(int n) { pageSize_ = n; }
    bool loading() const { return loading_; }
    QString lastError() const { return lastError_; }

signals:
    void pageLoaded(int rows);
    void failed(const QString& message);

private:
    struct Row {
        QString id;
        QDateTime started;
        QString subject, connection, model, decision, outcome, code;
        int status = 0;
        int requests = 0;
    };

    GatewayClient& client_;
    Filters filters_;
    QList<Row> rows_;
    QString cursor_;
    bool atEnd_ = true;  // nothing to fetch before the first setFilters (once signed in)
    bool loading_ = false;
    int generation_ = 0;  // answers for an older filter set are dropped
    int pageSize_ = 100;
    QString lastError_;
    int sortColumn_ = Started;
    Qt::SortOrder sortOrder_ = Qt::DescendingOrder;
};

}  // namespace vigil::console

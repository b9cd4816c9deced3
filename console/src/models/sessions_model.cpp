#include "models/sessions_model.h"

#include <algorithm>

#include <QJsonArray>
#include <QUrlQuery>

#include "net/gateway_client.h"

namespace vigil::console {

QString SessionsModel::Filters::query() const {
    QUrlQuery q;
    const auto add = [&](const char* name, const QString& value) {
        if (!value.trimmed().isEmpty()) q.addQueryItem(QString::fromLatin1(name), value.trimmed());
    };
    if (from.isValid()) add("from", from.toUTC().toString(Qt::ISODate));
    if (to.isValid()) add("to", to.toUTC().toString(Qt::ISODate));
    add("subject", subject);
    add("connection", connection);
    add("model", model);
    add("decision", decision);
    add("status", status);
    add("code", code);
    if (oldestFirst) add("order", QStringLiteral("asc"));
    return q.toString(QUrl::FullyEncoded);
}

SessionsModel::SessionsModel(GatewayClient& client, QObject* parent) : QAbstractTableModel(parent), client_(client) {}

int SessionsModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(rows_.size()); }
int SessionsModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant SessionsModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rows_.size()) return {};
    const auto& r = rows_[index.row()];
    if (role == IdRole) return r.id;
    if (role == Qt::ToolTipRole) return tr("Session %1").arg(r.id);
    if (role != Qt::DisplayRole) return {};
    switch (index.column()) {
    case Started: return r.started.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
    case Subject: return r.subject;
    case Connection: return r.connection;
    case Model: return r.model;
    case Decision: return r.decision;
    case Status: return r.code.isEmpty() ? QString::number(r.status) : QStringLiteral("%1 %2").arg(r.status).arg(r.code);
    case Requests: return r.requests;
    case Outcome: return r.outcome;
    default: return {};
    }
}

QVariant SessionsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Started: return tr("Started");
    case Subject: return tr("Subject");
    case Connection: return tr("Connection");
    case Model: return tr("Model");
    case Decision: return tr("Decision");
    case Status: return tr("Status");
    case Requests: return tr("Requests");
    case Outcome: return tr("Outcome");
    default: return {};
    }
}

bool SessionsModel::canFetchMore(const QModelIndex& parent) const { return !parent.isValid() && !atEnd_ && !loading_; }

void SessionsModel::fetchMore(const QModelIndex& parent) {
    if (!canFetchMore(parent)) return;
    loading_ = true;
    QString path = QStringLiteral("/api/sessions?limit=%1").arg(pageSize_);
    const auto q = filters_.query();
    if (!q.isEmpty()) path += QLatin1Char('&') + q;
    if (!cursor_.isEmpty()) path += QStringLiteral("&cursor=") + QString::fromLatin1(QUrl::toPercentEncoding(cursor_));
    const int generation = generation_;
    client_.get(path, [this, generation](const ApiResult& result) {
        if (generation != generation_) return;  // the filters changed meanwhile
        loading_ = false;
        if (!result.ok()) {
            atEnd_ = true;
            lastError_ = result.errorMessage;
            emit failed(result.errorMessage);
            return;
        }
        const auto list = result.body.value(QStringLiteral("sessions")).toArray();
        cursor_ = result.body.value(QStringLiteral("next_cursor")).toString();
        atEnd_ = cursor_.isEmpty() || list.isEmpty();
        if (!list.isEmpty()) {
            beginInsertRows({}, static_cast<int>(rows_.size()), static_cast<int>(rows_.size() + list.size() - 1));
            for (const auto& v : list) {
                const auto o = v.toObject();
                Row r;
                r.id = o.value(QStringLiteral("id")).toString();
                r.started = QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(o.value(QStringLiteral("started_us")).toDouble() / 1000), Qt::UTC);
                r.subject = o.value(QStringLiteral("subject")).toString();
                r.connection = o.value(QStringLiteral("connection")).toString();
                r.model = o.value(QStringLiteral("model")).toString();
                r.decision = o.value(QStringLiteral("decision")).toString();
                r.status = o.value(QStringLiteral("status")).toInt();
                r.code = o.value(QStringLiteral("code")).toString();
                r.outcome = o.value(QStringLiteral("outcome")).toString();
                r.requests = o.value(QStringLiteral("requests")).toInt();
                rows_.append(r);
            }
            endInsertRows();
        }
        emit pageLoaded(static_cast<int>(list.size()));
    });
}

void SessionsModel::sort(int column, Qt::SortOrder order) {
    if (column == Started) {
        const bool oldestFirst = order == Qt::AscendingOrder;
        if (oldestFirst == filters_.oldestFirst && sortColumn_ == Started) return;
        auto f = filters_;
        f.oldestFirst = oldestFirst;
        setFilters(f);
        return;
    }
    if (column < 0 || column >= ColumnCount || !allLoaded()) return;
    const auto key = [column](const Row& r) -> QVariant {
        switch (column) {
        case Subject: return r.subject;
        case Connection: return r.connection;
        case Model: return r.model;
        case Decision: return r.decision;
        case Status: return r.status;
        case Requests: return r.requests;
        case Outcome: return r.outcome;
        default: return {};
        }
    };
    emit layoutAboutToBeChanged({}, QAbstractItemModel::VerticalSortHint);
    const auto before = persistentIndexList();
    QList<QString> ids;
    for (const auto& i : before) ids << rows_[i.row()].id;
    // Equal values in start-time order (the order the gateway pages in).
    const bool oldestFirst = filters_.oldestFirst;
    std::stable_sort(rows_.begin(), rows_.end(), [&](const Row& a, const Row& b) {
        const auto c = QVariant::compare(key(a), key(b));
        if (c == QPartialOrdering::Equivalent) return oldestFirst ? a.started < b.started : a.started > b.started;
        return order == Qt::AscendingOrder ? c == QPartialOrdering::Less : c == QPartialOrdering::Greater;
    });
    QList<QModelIndex> after;
    for (int i = 0; i < before.size(); ++i) {
        int row = 0;
        while (row < rows_.size() && rows_[row].id != ids[i]) ++row;
        after << index(row, before[i].column());
    }
    changePersistentIndexList(before, after);
    sortColumn_ = column;
    sortOrder_ = order;
    emit layoutChanged({}, QAbstractItemModel::VerticalSortHint);
}

void SessionsModel::setFilters(const Filters& filters) {
    beginResetModel();
    filters_ = filters;
    rows_.clear();
    cursor_.clear();
    atEnd_ = false;
    loading_ = false;
    lastError_.clear();
    ++generation_;
    sortColumn_ = Started;
    sortOrder_ = filters.oldestFirst ? Qt::AscendingOrder : Qt::DescendingOrder;
    endResetModel();
    fetchMore({});
}

}  // namespace vigil::console

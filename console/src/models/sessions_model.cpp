#include "models/sessions_model.h"

#include <algorithm>

#include <QJsonArray>
#include <QUrlQuery>

#include "models/visible_text.h"
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
    case Subject: return visibleText(r.subject);
    case Connection: return r.connection;
    case Model: return visibleText(r.model);
    case Decision: return r.decision;
    case Status: {
        // No status: still going (blank), or ended before any response reached the client (a dash).
        const auto status = r.status != 0 ? QString::number(r.status) : r.outcome == QStringLiteral("in_progress") ? QString() : QStringLiteral("\u2014");
        return r.code.isEmpty() ? status : status.isEmpty() ? r.code : QStringLiteral("%1 %2").arg(status, r.code);
    }
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

bool SessionsModel::canFetchMore(const QModelIndex& parent) const { return !parent.isValid() && !atEnd_ && !loading_ && !halted_; }

void SessionsModel::fetchMore(const QModelIndex& parent) {
    if (!canFetchMore(parent)) return;
    loading_ = true;
    const int generation = generation_;
    client_.get(pagePath(cursor_), [this, generation](const ApiResult& result) {
        if (generation != generation_) return;  // the filters changed meanwhile
        loading_ = false;
        if (!result.ok()) {
            atEnd_ = true;
            retryingPage_ = false;
            lastError_ = result.errorMessage;
            failedFor(result);
            return;
        }
        const auto list = result.body.value(QStringLiteral("sessions")).toArray();
        cursor_ = result.body.value(QStringLiteral("next_cursor")).toString();
        atEnd_ = cursor_.isEmpty() || list.isEmpty();
        QList<Row> page;
        for (const auto& v : list) {
            auto r = rowFromJson(v.toObject());
            // Not twice: a session refreshNewest() put on top while this page was on its way.
            if (!rowOf_.contains(r.id)) page.append(std::move(r));
        }
        if (!page.isEmpty()) {
            beginInsertRows({}, static_cast<int>(rows_.size()), static_cast<int>(rows_.size() + page.size() - 1));
            for (auto& r : page) {
                rowOf_.insert(r.id, static_cast<int>(rows_.size()));
                rows_.append(std::move(r));
            }
            endInsertRows();
        }
        emit pageLoaded(static_cast<int>(list.size()));
        // A failed page fetched again for a look at the newest: the look now (oldest first,
        // this page was that look).
        if (std::exchange(retryingPage_, false) && !filters_.oldestFirst) refreshNewest();
    });
}

void SessionsModel::failedFor(const ApiResult& result) {
    // Unreachable, a gateway error, a timeout or too many requests: another try may work,
    // with the next event. Any other refusal (the role taken away, the sign-in expired, a
    // filter refused) would only be repeated on every event: the list stops following the
    // traffic, says so once, and Search tries again.
    const bool worthRetrying = result.status == 0 || result.status == 408 || result.status == 429 || result.status >= 500;
    if (worthRetrying) {
        emit failed(result.errorMessage);
        return;
    }
    if (std::exchange(halted_, true)) return;
    touched_.clear();
    emit failed(result.status == 401 ? tr("%1 (the list no longer follows the gateway: sign in again)").arg(result.errorMessage)
                                     : tr("%1 (the list no longer follows the gateway; Search tries again)").arg(result.errorMessage));
}

QString SessionsModel::pagePath(const QString& cursor) const {
    QString path = QStringLiteral("/api/sessions?limit=%1").arg(pageSize_);
    const auto q = filters_.query();
    if (!q.isEmpty()) path += QLatin1Char('&') + q;
    if (!cursor.isEmpty()) path += QStringLiteral("&cursor=") + QString::fromLatin1(QUrl::toPercentEncoding(cursor));
    return path;
}

SessionsModel::Row SessionsModel::rowFromJson(const QJsonObject& o) {
    Row r;
    r.id = o.value(QStringLiteral("id")).toString();
    r.startedUs = static_cast<qint64>(o.value(QStringLiteral("started_us")).toDouble());
    r.started = QDateTime::fromMSecsSinceEpoch(r.startedUs / 1000, Qt::UTC);
    r.subject = o.value(QStringLiteral("subject")).toString();
    r.connection = o.value(QStringLiteral("connection")).toString();
    r.model = o.value(QStringLiteral("model")).toString();
    r.decision = o.value(QStringLiteral("decision")).toString();
    r.status = o.value(QStringLiteral("status")).toInt();
    r.code = o.value(QStringLiteral("code")).toString();
    r.outcome = o.value(QStringLiteral("outcome")).toString();
    r.requests = o.value(QStringLiteral("requests")).toInt();
    return r;
}

void SessionsModel::reindex() {
    rowOf_.clear();
    rowOf_.reserve(rows_.size());
    for (int i = 0; i < rows_.size(); ++i) rowOf_.insert(rows_[i].id, i);
}

void SessionsModel::updateRow(int row, const Row& from) {
    auto& r = rows_[row];
    if (r.subject == from.subject && r.connection == from.connection && r.model == from.model && r.decision == from.decision &&
        r.status == from.status && r.code == from.code && r.outcome == from.outcome && r.requests == from.requests) {
        return;
    }
    r.subject = from.subject;
    r.connection = from.connection;
    r.model = from.model;
    r.decision = from.decision;
    r.status = from.status;
    r.code = from.code;
    r.outcome = from.outcome;
    r.requests = from.requests;
    emit dataChanged(index(row, Subject), index(row, Outcome));
}

namespace {

// A session's decision is its most restrictive request's (as the gateway's index has it).
int restrictiveness(const QString& decision) {
    if (decision == QStringLiteral("deny")) return 3;
    if (decision == QStringLiteral("review")) return 2;
    if (decision == QStringLiteral("allow")) return 1;
    return 0;
}

}  // namespace

void SessionsModel::applyAnswer(int row, const Row& fresh, quint64 sentAt) {
    if (lastSummary_.value(fresh.id) <= sentAt) {
        updateRow(row, fresh);
        return;
    }
    // A summary of this session arrived while the answer was on its way: the answer may
    // predate it. What the summary set stays; the answer adds what only grows.
    auto merged = rows_[row];
    merged.requests = std::max(merged.requests, fresh.requests);
    if (restrictiveness(fresh.decision) > restrictiveness(merged.decision)) merged.decision = fresh.decision;
    updateRow(row, merged);
}

bool SessionsModel::applySummary(const QString& type, const QJsonObject& data) {
    const auto id = data.value(QStringLiteral("session_id")).toString();
    if (id.isEmpty()) return false;
    const auto it = rowOf_.constFind(id);
    if (it == rowOf_.constEnd()) return true;
    const int row = *it;
    lastSummary_.insert(id, ++summarySeq_);
    auto updated = rows_[row];
    // Only what stays true however often a summary is applied, and whichever of it and a
    // fresh page comes first (the number of requests comes with refreshNewest()).
    if (type == QStringLiteral("session.started")) {
        touched_.insert(id);  // its request count (and more) comes with the next look
        const auto decision = data.value(QStringLiteral("decision")).toString();
        if (restrictiveness(decision) > restrictiveness(updated.decision)) updated.decision = decision;
    } else if (type == QStringLiteral("session.ended")) {
        updated.status = data.value(QStringLiteral("status")).toInt();
        updated.code = data.value(QStringLiteral("code")).toString();
        if (data.contains(QStringLiteral("outcome"))) updated.outcome = data.value(QStringLiteral("outcome")).toString();
    } else {
        return false;
    }
    updateRow(row, updated);
    return type == QStringLiteral("session.started");
}

void SessionsModel::refreshTouched() {
    if (touched_.isEmpty() || lookingUpTouched_ || halted_) return;  // a look-up on its way looks again when back
    // The sessions on the table that got a new request: how they stand now. The look at
    // the newest covers those among the newest; this one the older conversations, in any
    // order or sorting (no filters: a session that matched still does). Ids are client
    // names of up to 128 bytes: a few kilobytes of them at a time, far below the gateway's
    // header limit.
    QStringList ids;
    QString path = QStringLiteral("/api/sessions?limit=%1").arg(kMaxTouchedPerLook);
    for (auto it = touched_.begin(); it != touched_.end() && ids.size() < kMaxTouchedPerLook && path.size() < 6000;) {
        ids << *it;
        path += QStringLiteral("&session_id=") + QString::fromLatin1(QUrl::toPercentEncoding(*it));
        it = touched_.erase(it);
    }
    lookingUpTouched_ = true;
    const int generation = generation_;
    const quint64 sentAt = summarySeq_;
    client_.get(path, [this, generation, ids, sentAt](const ApiResult& result) {
        if (generation != generation_) return;  // the filters changed meanwhile (and cleared these)
        lookingUpTouched_ = false;
        if (!result.ok()) {
            for (const auto& id : ids) touched_.insert(id);  // with the next event
            failedFor(result);
            return;
        }
        for (const auto& v : result.body.value(QStringLiteral("sessions")).toArray()) {
            const auto r = rowFromJson(v.toObject());
            if (const auto it = rowOf_.constFind(r.id); it != rowOf_.constEnd()) applyAnswer(*it, r, sentAt);
        }
        refreshTouched();  // those that came meanwhile, or did not fit
    });
}

bool SessionsModel::refreshNewest() {
    if (halted_) return true;  // until Search
    refreshTouched();
    if (sortColumn_ != Started) return true;  // nothing more to look at
    if (refreshing_ || loading_) return false;  // again later
    if (!lastError_.isEmpty()) {
        // A page failed (the gateway was away, say): the table stopped there. New traffic
        // says the gateway is back: that page is fetched again, and newest first, the look
        // at the newest follows once it is in. If it fails again, the next call tries again.
        retryingPage_ = true;
        lastError_.clear();
        atEnd_ = false;
        fetchMore({});
        return true;
    }
    if (filters_.oldestFirst) {
        // The newest are at the end: once the table got there, it goes on from its last row.
        if (!atEnd_) return true;  // the pages to come bring them
        if (!rows_.isEmpty()) cursor_ = QStringLiteral("%1.%2").arg(rows_.last().startedUs).arg(rows_.last().id);
        atEnd_ = false;
        fetchMore({});
        return true;
    }
    refreshing_ = true;
    const int generation = generation_;
    const quint64 sentAt = summarySeq_;
    client_.get(pagePath({}), [this, generation, sentAt](const ApiResult& result) {
        if (generation != generation_) return;  // the filters changed meanwhile
        refreshing_ = false;
        if (!result.ok()) {
            failedFor(result);
            return;
        }
        if (sortColumn_ != Started) return;  // sorted by another column meanwhile: no place for them
        const auto list = result.body.value(QStringLiteral("sessions")).toArray();
        QList<Row> fresh;
        fresh.reserve(list.size());
        for (const auto& v : list) fresh.append(rowFromJson(v.toObject()));
        const bool overlap = std::any_of(fresh.cbegin(), fresh.cend(), [this](const Row& r) { return rowOf_.contains(r.id); });
        if (!overlap && !rows_.isEmpty()) {
            // More new sessions than a page (or the table's are gone): inserting these would
            // leave a gap of sessions never shown.
            emit newestChecked(0, !fresh.isEmpty());
            return;
        }
        // The page holds every matching session from the newest down to its last one. Those
        // on the table are brought up to date; the others go to their place in start-time
        // order, on top for new sessions, further down for one indexed late (a slow upload)
        // or matching the filters since a later request. None is missing there afterwards.
        const auto newerFirst = [](const Row& a, const Row& b) {
            return a.startedUs != b.startedUs ? a.startedUs > b.startedUs : a.id > b.id;
        };
        const bool wasEmpty = rows_.isEmpty();
        QList<Row> missing;
        QList<qsizetype> before;  // the row (of the table as it was) each goes before
        for (auto& r : fresh) {
            if (const auto it = rowOf_.constFind(r.id); it != rowOf_.constEnd()) {
                applyAnswer(*it, r, sentAt);
                continue;
            }
            before.append(std::partition_point(rows_.cbegin(), rows_.cend(), [&](const Row& x) { return newerFirst(x, r); }) - rows_.cbegin());
            missing.append(std::move(r));
        }
        const qsizetype rowsBefore = rows_.size();
        int added = 0;
        for (qsizetype i = 0; i < missing.size();) {
            qsizetype end = i;
            while (end < missing.size() && before[end] == before[i]) ++end;
            // Older than every row loaded: the pages still to come bring it.
            if (before[i] == rowsBefore && !atEnd_ && !wasEmpty) break;
            const auto at = before[i] + added;
            const auto count = end - i;
            beginInsertRows({}, static_cast<int>(at), static_cast<int>(at + count - 1));
            rows_.insert(at, count, Row{});
            for (qsizetype k = 0; k < count; ++k) rows_[at + k] = std::move(missing[i + k]);
            endInsertRows();
            added += static_cast<int>(count);
            i = end;
        }
        if (added > 0) reindex();
        if (wasEmpty && added > 0) {  // the table was empty: it goes on from this page
            cursor_ = result.body.value(QStringLiteral("next_cursor")).toString();
            atEnd_ = cursor_.isEmpty();
        }
        emit newestChecked(added, false);
    });
    return true;
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
    reindex();
    QList<QModelIndex> after;
    for (int i = 0; i < before.size(); ++i) after << index(rowOf_.value(ids[i]), before[i].column());
    changePersistentIndexList(before, after);
    sortColumn_ = column;
    sortOrder_ = order;
    emit layoutChanged({}, QAbstractItemModel::VerticalSortHint);
}

void SessionsModel::setFilters(const Filters& filters) {
    beginResetModel();
    filters_ = filters;
    rows_.clear();
    rowOf_.clear();
    refreshing_ = false;
    cursor_.clear();
    atEnd_ = false;
    loading_ = false;
    lastError_.clear();
    retryingPage_ = false;
    halted_ = false;
    touched_.clear();
    lookingUpTouched_ = false;
    lastSummary_.clear();
    ++generation_;
    sortColumn_ = Started;
    sortOrder_ = filters.oldestFirst ? Qt::AscendingOrder : Qt::DescendingOrder;
    endResetModel();
    fetchMore({});
}

}  // namespace vigil::console

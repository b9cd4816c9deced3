#include "models/pending_reviews_model.h"

#include <algorithm>

#include "models/visible_text.h"

namespace vigil::console {

QString formatAge(qint64 seconds) {
    if (seconds < 0) seconds = 0;
    if (seconds < 60) return QStringLiteral("%1 s").arg(seconds);
    if (seconds < 3600) return QStringLiteral("%1 min").arg(seconds / 60);
    if (seconds < 86400) {
        const auto minutes = (seconds % 3600) / 60;
        return minutes == 0 ? QStringLiteral("%1 h").arg(seconds / 3600)
                            : QStringLiteral("%1 h %2 min").arg(seconds / 3600).arg(minutes);
    }
    return QStringLiteral("%1 d").arg(seconds / 86400);
}

PendingReviewsModel::PendingReviewsModel(QObject* parent)
    : QAbstractTableModel(parent), clock_([] { return QDateTime::currentDateTimeUtc(); }) {}

int PendingReviewsModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int PendingReviewsModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant PendingReviewsModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rows_.size() || index.column() >= ColumnCount) return {};
    const auto& r = rows_[index.row()];
    if (role == IdRole) return r.id;
    if (role == Qt::ToolTipRole) {
        return tr("Review %1 (%2 mode%3)").arg(r.id, r.mode, r.kind == QStringLiteral("output") ? tr(", the answer is held") : QString());
    }
    if (role == Qt::TextAlignmentRole && (index.column() == Age || index.column() == Quorum)) {
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    }
    if (role != Qt::DisplayRole) return {};
    switch (index.column()) {
    // What a requester or an identity provider chose is shown with its hidden characters.
    case Requester: return visibleText(r.requester);
    case Connection: return r.connection;
    case Model: return r.kind == QStringLiteral("output") ? tr("%1 (answer)").arg(visibleText(r.model)) : visibleText(r.model);
    case Rule: return r.rule;
    case Age: return formatAge(r.created.secsTo(clock_()));
    case Quorum: return QStringLiteral("%1/%2").arg(r.approvers.size()).arg(r.quorum);
    default: return {};
    }
}

QVariant PendingReviewsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Requester: return tr("Requester");
    case Connection: return tr("Connection");
    case Model: return tr("Model");
    case Rule: return tr("Rule");
    case Age: return tr("Age");
    case Quorum: return tr("Approvals");
    default: return {};
    }
}

void PendingReviewsModel::reset(QList<ReviewItem> pending) {
    beginResetModel();
    rows_.clear();
    for (auto& r : pending) {
        if (r.state == QStringLiteral("pending")) rows_.append(std::move(r));
    }
    std::stable_sort(rows_.begin(), rows_.end(), [](const ReviewItem& a, const ReviewItem& b) { return a.created > b.created; });
    endResetModel();
}

bool PendingReviewsModel::apply(const QString& type, const ReviewItem& review) {
    const int row = rowOf(review.id);
    const bool stillPending = review.state == QStringLiteral("pending") &&
                              (type == QStringLiteral("review.pending") || type == QStringLiteral("review.updated"));
    if (stillPending) {
        if (row >= 0) {
            rows_[row] = review;
            emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
            return true;
        }
        // Newest first.
        int at = 0;
        while (at < rows_.size() && rows_[at].created > review.created) ++at;
        beginInsertRows({}, at, at);
        rows_.insert(at, review);
        endInsertRows();
        return true;
    }
    if (row < 0) return false;
    beginRemoveRows({}, row, row);
    rows_.removeAt(row);
    endRemoveRows();
    return true;
}

const ReviewItem* PendingReviewsModel::at(int row) const {
    return row >= 0 && row < rows_.size() ? &rows_[row] : nullptr;
}

int PendingReviewsModel::rowOf(const QString& id) const {
    for (int i = 0; i < rows_.size(); ++i) {
        if (rows_[i].id == id) return i;
    }
    return -1;
}

void PendingReviewsModel::tick() {
    if (rows_.isEmpty()) return;
    emit dataChanged(index(0, Age), index(static_cast<int>(rows_.size()) - 1, Age), {Qt::DisplayRole});
}

}  // namespace vigil::console

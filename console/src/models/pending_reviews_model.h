#pragma once

#include <QAbstractTableModel>
#include <QDateTime>
#include <QList>

#include <functional>

#include "models/review_item.h"

namespace vigil::console {

// The pending reviews, newest first: what approvers work through. Filled by reset() (the
// REST list) and kept live by apply() (the pushed events).
class PendingReviewsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Requester, Connection, Model, Rule, Age, Quorum, ColumnCount };
    enum Role { IdRole = Qt::UserRole + 1 };

    explicit PendingReviewsModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    void reset(QList<ReviewItem> pending);
    // A pushed event: review.pending / review.updated add or refresh the row; decided,
    // expired and cancelled ones leave. True when the model changed.
    bool apply(const QString& type, const ReviewItem& review);

    const ReviewItem* at(int row) const;
    int rowOf(const QString& id) const;
    // The clock for "Age" (a test seam).
    void setClock(std::function<QDateTime()> clock) { clock_ = std::move(clock); }
    QDateTime now() const { return clock_(); }
    // Refreshes the Age column (called every few seconds by the view).
    void tick();

private:
    QList<ReviewItem> rows_;
    std::function<QDateTime()> clock_;
};

// "42 s", "3 min", "2 h 5 min", "3 d".
QString formatAge(qint64 seconds);

}  // namespace vigil::console

#pragma once

#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QTextBrowser>
#include <QTimer>
#include <QWidget>

#include <functional>

#include "models/pending_reviews_model.h"
#include "net/gateway_client.h"

namespace vigil::console {

// Pending reviews for approvers: the live queue, the whole prompt of the selected review,
// and Approve / Deny with a reason. The buttons are disabled, with the reason shown, when
// the signed-in person made the request or lacks an approver role (the gateway refuses
// those anyway).
class ReviewsPage : public QWidget {
    Q_OBJECT
public:
    ReviewsPage(GatewayClient& client, PendingReviewsModel& model, QWidget* parent = nullptr);

    // Asked before a verdict is sent; true to go on. Default: a message box (a test seam).
    void setConfirmation(std::function<bool(const QString& question)> confirm) { confirm_ = std::move(confirm); }
    QString selectedReviewId() const;
    void selectReview(const QString& id);
    // The signed-in person changed: the buttons' state follows.
    void identityChanged();
    // Keeps where the user put the splitter, for the next start.
    void saveLayout() const;

signals:
    void statusMessage(const QString& text);

private:
    void showSelected();
    void showDeadline();
    void decide(bool approve);
    void updateButtons();
    void loadWhole(const QString& id);  // a review shown from a preview: read whole by id

    GatewayClient& client_;
    PendingReviewsModel& model_;
    QTableView* table_;
    QSplitter* splitter_ = nullptr;  // the table | the selected review
    QTextBrowser* details_;
    QLineEdit* reason_;
    QPushButton* approve_;
    QPushButton* deny_;
    QLabel* hint_;
    QLabel* result_;
    QLabel* deadline_;  // outside the details: it changes every tick, the details do not
    QString shownHtml_;  // what the details show (set again only when it changes)
    QTimer ageTimer_;
    std::function<bool(const QString&)> confirm_;
    QString loading_;    // the review being read whole
    QString loadError_;  // why the last read failed
    bool busy_ = false;
};

// A message's text as HTML with what the policy matched highlighted.
// `text` as HTML, with the characters that change how text reads without being seen
// (bidirectional controls, zero-width spaces and marks) shown as [U+XXXX].
QString visibleHtml(const QString& text);
QString highlightMatches(const QString& text, const QList<ReviewItem::Match>& matches, int messageIndex);

// The review as HTML for the details pane (prompt by role, facts, rule).
QString reviewDetailsHtml(const ReviewItem& review);

}  // namespace vigil::console

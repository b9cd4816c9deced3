#include "views/reviews_page.h"

#include <QHeaderView>
#include <QHBoxLayout>
#include <QItemSelectionModel>
#include <QJsonObject>
#include <QMessageBox>
#include <QRegularExpression>
#include <QShortcut>
#include <QSplitter>
#include <QVBoxLayout>

#include "models/visible_text.h"
#include "views/pane_layout.h"

namespace vigil::console {

QString visibleHtml(const QString& text) {
    // An approver must read the characters the model gets (models/visible_text.h).
    QString out;
    qsizetype at = 0;
    for (qsizetype i = 0; i < text.size();) {
        const auto n = hiddenCharacterAt(text, i);
        if (n == 0) {
            ++i;
            continue;
        }
        out += text.mid(at, i - at).toHtmlEscaped();
        out += QStringLiteral("<span style='background:#fff0b3;color:#7a4a00'>[%1]</span>").arg(codePointName(text, i));
        i += n;
        at = i;
    }
    out += text.mid(at).toHtmlEscaped();
    return out;
}

QString highlightMatches(const QString& text, const QList<ReviewItem::Match>& matches, int messageIndex) {
    // Spans of every match of every condition that matched this message; overlaps merge.
    QList<QPair<qsizetype, qsizetype>> spans;
    QMap<qsizetype, QString> why;
    for (const auto& m : matches) {
        if (m.message != messageIndex) continue;
        QRegularExpression re(m.expression, m.caseless ? QRegularExpression::CaseInsensitiveOption : QRegularExpression::NoPatternOption);
        if (!re.isValid()) continue;
        auto it = re.globalMatch(text);
        while (it.hasNext()) {
            const auto match = it.next();
            if (match.capturedLength() == 0) continue;
            spans.append({match.capturedStart(), match.capturedEnd()});
            why[match.capturedStart()] = QObject::tr("rule %1: %2 %3").arg(m.rule, m.kind, m.condition);
        }
    }
    std::sort(spans.begin(), spans.end());
    QString html;
    qsizetype at = 0;
    for (const auto& [from, to] : spans) {
        if (to <= at) continue;
        const auto start = std::max(from, at);
        html += visibleHtml(text.mid(at, start - at));
        html += QStringLiteral("<span style='background:#ffd2cc;color:#7a1200' title='%1'>%2</span>")
                    .arg(why.value(from).toHtmlEscaped(), visibleHtml(text.mid(start, to - start)));
        at = to;
    }
    html += visibleHtml(text.mid(at));
    return html;
}

QString reviewDetailsHtml(const ReviewItem& r) {
    QString html;
    const auto row = [&](const QString& name, const QString& value) {
        html += QStringLiteral("<tr><td style='color:#555;padding-right:12px'>%1</td><td>%2</td></tr>").arg(name, value);
    };
    html += QStringLiteral("<h3 style='margin:0'>%1</h3>")
                .arg(r.kind == QStringLiteral("output") ? QObject::tr("Answer held for review") : QObject::tr("Request held for review"));
    html += QStringLiteral("<table>");
    row(QObject::tr("Requester"), visibleHtml(r.requester) +
                                      (r.requesterRoles.isEmpty() ? QString()
                                                                  : QStringLiteral(" <span style='color:#777'>(%1)</span>")
                                                                        .arg(r.requesterRoles.join(QStringLiteral(", ")).toHtmlEscaped())));
    row(QObject::tr("Connection"), visibleHtml(r.connection));
    row(QObject::tr("Model"), r.model.isEmpty() ? QObject::tr("(none)") : visibleHtml(r.model));
    row(QObject::tr("Rule"), QStringLiteral("<b>%1</b>").arg(visibleHtml(r.rule)) +
                                 (r.ruleMessage.isEmpty() ? QString() : QStringLiteral(": ") + visibleHtml(r.ruleMessage)));
    if (!r.ruleDescription.isEmpty()) row(QObject::tr("About the rule"), visibleHtml(r.ruleDescription));
    if (!r.matches.isEmpty()) {
        QStringList reasons;
        for (const auto& m : r.matches) {
            reasons << QObject::tr("%1 %2 matched message %3 (rule %4)").arg(m.kind, visibleHtml(m.condition)).arg(m.message + 1).arg(visibleHtml(m.rule));
        }
        row(QObject::tr("Why"), reasons.join(QStringLiteral("<br/>")));
    }
    row(QObject::tr("Approvals"), QObject::tr("%1 of %2 (approver roles: %3)")
                                      .arg(r.approvers.size())
                                      .arg(r.quorum)
                                      .arg(r.approverRoles.join(QStringLiteral(", ")).toHtmlEscaped()) +
                                      (r.approvers.isEmpty() ? QString() : QStringLiteral(" — ") + visibleHtml(r.approvers.join(QStringLiteral(", ")))));
    row(QObject::tr("Estimate"), QObject::tr("%1 prompt tokens, cost %2").arg(r.estimatedTokens).arg(r.estimatedCost, 0, 'f', 4));
    if (!r.tools.isEmpty()) row(QObject::tr("Tools offered"), visibleHtml(r.tools.join(QStringLiteral(", "))));
    row(QObject::tr("Mode"), r.mode == QStringLiteral("ticket") ? QObject::tr("ticket (the caller sends the request again once approved)")
                                                                 : QObject::tr("hold (the caller is waiting)"));
    // (How long is left is shown above the details, where it is kept current.)
    row(QObject::tr("Deadline"), r.deadline.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")));
    row(QObject::tr("Review"), QStringLiteral("<code>%1</code>").arg(r.id));
    html += QStringLiteral("</table><hr/>");
    const auto cutNote = [](qint64 bytes) {
        return QStringLiteral("<p style='color:#b35900'><i>%1</i></p>")
            .arg(QObject::tr("… the first part only, of %1 bytes: the whole is being loaded").arg(bytes));
    };
    for (int i = 0; i < r.messages.size(); ++i) {
        const auto& m = r.messages[i];
        html += QStringLiteral("<p style='margin:6px 0 2px 0'><b>%1</b></p><pre style='white-space:pre-wrap;margin:0'>%2</pre>")
                    .arg(visibleHtml(m.role), highlightMatches(m.text, r.matches, i));
        if (m.fullBytes >= 0) html += cutNote(m.fullBytes);
    }
    if (!r.otherParts.isEmpty() || r.otherPartsOmitted > 0) {
        html += QStringLiteral("<hr/><p><b>%1</b></p>")
                    .arg(QObject::tr("Also in the request (files, images, tool calls, tool definitions: forwarded with it, "
                                     "not read by the policy's text conditions)"));
        for (const auto& p : r.otherParts) {
            html += QStringLiteral("<p style='margin:6px 0 2px 0'><b>%1</b> <span style='color:#777'>%2</span></p>"
                                   "<pre style='white-space:pre-wrap;margin:0'>%3</pre>")
                        .arg(visibleHtml(p.kind), visibleHtml(p.where), visibleHtml(p.detail));
        }
        if (r.otherPartsOmitted > 0) {
            html += QStringLiteral("<p style='color:#b35900'><i>%1</i></p>").arg(QObject::tr("… and %1 more parts").arg(r.otherPartsOmitted));
        }
    }
    if (r.messagesTotal > r.messages.size()) {
        html += QStringLiteral("<p style='color:#b35900'><i>%1</i></p>")
                    .arg(QObject::tr("… %1 more messages: the whole is being loaded").arg(r.messagesTotal - r.messages.size()));
    }
    if (r.kind == QStringLiteral("output")) {
        html += QStringLiteral("<hr/><p><b>%1</b></p><pre style='white-space:pre-wrap'>%2</pre>")
                    .arg(QObject::tr("The answer, as the caller would receive it"), visibleHtml(r.output));
        if (r.outputBytes >= 0) html += cutNote(r.outputBytes);
    }
    return html;
}

ReviewsPage::ReviewsPage(GatewayClient& client, PendingReviewsModel& model, QWidget* parent)
    : QWidget(parent),
      client_(client),
      model_(model),
      table_(new QTableView),
      details_(new QTextBrowser),
      reason_(new QLineEdit),
      approve_(new QPushButton(tr("&Approve"))),
      deny_(new QPushButton(tr("&Deny"))),
      hint_(new QLabel),
      result_(new QLabel),
      deadline_(new QLabel) {
    table_->setObjectName(QStringLiteral("pendingReviewsTableView"));
    details_->setObjectName(QStringLiteral("reviewDetailsTextBrowser"));
    reason_->setObjectName(QStringLiteral("reasonLineEdit"));
    approve_->setObjectName(QStringLiteral("approveButton"));
    deny_->setObjectName(QStringLiteral("denyButton"));
    hint_->setObjectName(QStringLiteral("decisionHintLabel"));
    result_->setObjectName(QStringLiteral("decisionResultLabel"));
    deadline_->setObjectName(QStringLiteral("reviewDeadlineLabel"));
    deadline_->setTextFormat(Qt::PlainText);
    deadline_->setWordWrap(true);

    table_->setModel(&model_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    table_->horizontalHeader()->setStretchLastSection(true);
    // Columns fit what they show, whenever rows come or go (people may still drag them).
    const auto fit = [this] {
        fitColumns(table_, 220);
        if (splitter_ != nullptr) widenToFit(splitter_, table_, 75);
    };
    connect(&model_, &QAbstractItemModel::rowsInserted, this, fit);
    connect(&model_, &QAbstractItemModel::modelReset, this, fit);
    fit();  // the headers' own widths while the table is empty
    table_->setWordWrap(false);
    table_->setAlternatingRowColors(true);
    details_->setOpenLinks(false);
    details_->setPlaceholderText(tr("Select a review to see the whole prompt."));
    reason_->setPlaceholderText(tr("Reason (required to deny; recorded with your verdict)"));
    reason_->setMaxLength(2000);
    approve_->setToolTip(tr("Approve the selected review (Ctrl+Return)"));
    deny_->setToolTip(tr("Deny the selected review; needs a reason (Ctrl+Shift+Return)"));
    hint_->setWordWrap(true);
    hint_->setStyleSheet(QStringLiteral("color:#8a5a00"));
    result_->setWordWrap(true);

    auto* right = new QWidget;
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    rightLayout->addWidget(deadline_);
    rightLayout->addWidget(details_, 1);
    rightLayout->addWidget(reason_);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(hint_, 1);
    buttons->addWidget(deny_);
    buttons->addWidget(approve_);
    rightLayout->addLayout(buttons);
    rightLayout->addWidget(result_);
    // The table gets most of the width, so that the age and quorum show without scrolling.
    splitter_ = new QSplitter(Qt::Horizontal);
    splitter_->setObjectName(QStringLiteral("reviewsSplitter"));
    splitter_->addWidget(table_);
    splitter_->addWidget(right);
    arrangeSplitter(splitter_, QStringLiteral("reviews/splitter_v1"), 60);
    widenOnShowAndResize(splitter_, table_, 75);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(splitter_);

    confirm_ = [this](const QString& question) {
        // Plain text: a subject or reason that looks like HTML is read as written.
        QMessageBox box(QMessageBox::Question, tr("Confirm"), question, QMessageBox::Yes | QMessageBox::No, this);
        box.setTextFormat(Qt::PlainText);
        return box.exec() == QMessageBox::Yes;
    };
    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] { showSelected(); });
    connect(&model_, &QAbstractItemModel::rowsRemoved, this, [this] { showSelected(); });
    connect(&model_, &QAbstractItemModel::modelReset, this, [this] { showSelected(); });
    connect(&model_, &QAbstractItemModel::dataChanged, this, [this](const QModelIndex& from, const QModelIndex& to) {
        const int row = table_->currentIndex().row();
        if (row >= from.row() && row <= to.row() && from.column() == 0) showSelected();
    });
    connect(reason_, &QLineEdit::textChanged, this, [this] { updateButtons(); });
    connect(approve_, &QPushButton::clicked, this, [this] { decide(true); });
    connect(deny_, &QPushButton::clicked, this, [this] { decide(false); });
    auto* approveShortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this);
    connect(approveShortcut, &QShortcut::activated, approve_, &QPushButton::click);
    auto* denyShortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Return), this);
    connect(denyShortcut, &QShortcut::activated, deny_, &QPushButton::click);
    connect(&ageTimer_, &QTimer::timeout, &model_, &PendingReviewsModel::tick);
    connect(&ageTimer_, &QTimer::timeout, this, &ReviewsPage::showDeadline);
    ageTimer_.start(5000);
    showSelected();
}

QString ReviewsPage::selectedReviewId() const {
    const auto* r = model_.at(table_->currentIndex().row());
    return r != nullptr && table_->selectionModel()->hasSelection() ? r->id : QString();
}

void ReviewsPage::selectReview(const QString& id) {
    const int row = model_.rowOf(id);
    if (row >= 0) table_->selectRow(row);
}

void ReviewsPage::identityChanged() { updateButtons(); }

void ReviewsPage::saveLayout() const { saveSplitter(splitter_); }

void ReviewsPage::showSelected() {
    const auto id = selectedReviewId();
    const auto* r = model_.at(model_.rowOf(id));
    if (r == nullptr) {
        details_->clear();
        shownHtml_.clear();
    } else {
        // Laid out again only when it changed: a long prompt takes a while to lay out, and the
        // approver reading it keeps their place while other reviews come and go.
        auto html = reviewDetailsHtml(*r);
        if (html != shownHtml_) {
            details_->setHtml(html);
            shownHtml_ = std::move(html);
        }
        if (r->partial) loadWhole(r->id);
    }
    showDeadline();
    updateButtons();
}

void ReviewsPage::showDeadline() {
    const auto* r = model_.at(model_.rowOf(selectedReviewId()));
    deadline_->setVisible(r != nullptr && r->deadline.isValid());
    if (r == nullptr || !r->deadline.isValid()) return;
    const auto left = model_.now().secsTo(r->deadline);
    const auto at = r->deadline.toLocalTime().toString(QStringLiteral("HH:mm:ss"));
    deadline_->setText(left > 0 ? tr("Decide by %1 (in %2), or the request is refused as expired.").arg(at, formatAge(left))
                                : tr("The deadline (%1) has passed: the request is refused as expired.").arg(at));
    deadline_->setStyleSheet(left > 0 && left < 60 ? QStringLiteral("color:#b30000;font-weight:bold") : QString());
}

void ReviewsPage::loadWhole(const QString& id) {
    if (loading_ == id) return;
    loading_ = id;
    loadError_.clear();
    client_.get(QStringLiteral("/api/reviews/%1").arg(id), [this, id](const ApiResult& result) {
        if (loading_ != id) return;  // another review was selected meanwhile
        loading_.clear();
        if (!result.ok()) {
            loadError_ = result.errorMessage;
            updateButtons();
            return;
        }
        auto whole = ReviewItem::fromJson(result.body);
        if (whole.partial) return;  // (not from this gateway's API)
        model_.apply(whole.state == QStringLiteral("pending") ? QStringLiteral("review.updated") : QStringLiteral("review.decided"), whole);
    });
}

void ReviewsPage::updateButtons() {
    const auto* r = model_.at(model_.rowOf(selectedReviewId()));
    const auto& me = client_.identity();
    QString why;
    if (r == nullptr) {
        why = model_.rowCount() == 0 ? tr("No review is waiting.") : tr("Select a review.");
    } else if (me.subject.isEmpty()) {
        why = tr("Not signed in.");
    } else if (r->requester == me.subject) {
        why = tr("You made this request: someone else must decide it.");
    } else if (!me.hasAnyRole(r->approverRoles)) {
        why = tr("You lack an approver role for this review (it needs one of: %1).").arg(r->approverRoles.join(QStringLiteral(", ")));
    } else if (r->approvers.contains(me.subject)) {
        why = tr("You approved this review; it waits for %1 more approver(s).").arg(r->quorum - r->approvers.size());
    } else if (r->partial) {
        // Nobody decides on a part of the request.
        why = loadError_.isEmpty() || loading_ == r->id ? tr("Loading the whole request…")
                                                        : tr("Cannot load the whole request: %1").arg(loadError_);
    }
    const bool mayDecide = why.isEmpty() && !busy_;
    approve_->setEnabled(mayDecide);
    deny_->setEnabled(mayDecide && !reason_->text().trimmed().isEmpty());
    reason_->setEnabled(why.isEmpty());
    if (why.isEmpty() && reason_->text().trimmed().isEmpty()) why = tr("A denial needs a reason.");
    hint_->setText(why);
}

void ReviewsPage::decide(bool approve) {
    const auto* r = model_.at(model_.rowOf(selectedReviewId()));
    if (r == nullptr || busy_) return;
    const auto reason = reason_->text().trimmed();
    if (!approve && reason.isEmpty()) return;
    // The requester as the table shows it: hidden characters written out.
    const auto question = approve ? tr("Approve the request of %1 under rule %2?").arg(visibleText(r->requester), r->rule)
                                  : tr("Deny the request of %1 under rule %2?\nReason: %3").arg(visibleText(r->requester), r->rule, visibleText(reason));
    if (!confirm_(question)) return;
    busy_ = true;
    updateButtons();
    const auto id = r->id;
    QJsonObject body;
    if (!reason.isEmpty()) body.insert(QStringLiteral("reason"), reason);
    client_.post(QStringLiteral("/api/reviews/%1/%2").arg(id, approve ? QStringLiteral("approve") : QStringLiteral("deny")), body,
                 [this, id, approve](const ApiResult& result) {
                     busy_ = false;
                     if (result.ok()) {
                         const auto state = result.body.value(QStringLiteral("state")).toString();
                         result_->setText(approve ? (state == QStringLiteral("approved") ? tr("Approved %1.").arg(id)
                                                                                          : tr("Your approval of %1 is recorded; it needs more approvers.").arg(id))
                                                  : tr("Denied %1.").arg(id));
                         reason_->clear();
                         model_.apply(state == QStringLiteral("pending") ? QStringLiteral("review.updated") : QStringLiteral("review.decided"),
                                      ReviewItem::fromJson(result.body));
                     } else {
                         result_->setText(tr("The gateway refused: %1 (%2)").arg(result.errorMessage, result.errorCode));
                     }
                     emit statusMessage(result_->text());
                     updateButtons();
                 });
}

}  // namespace vigil::console

#include "views/pane_layout.h"

#include <QHeaderView>
#include <QSettings>
#include <QSplitter>
#include <QScrollBar>
#include <QTableView>
#include <QEvent>
#include <QSet>
#include <QTimer>

#include <algorithm>

namespace vigil::console {

namespace {
const char* const kSettingsKeyProperty = "vigilSettingsKey";
const char* const kPlacedProperty = "vigilPlacedByUser";  // restored or dragged
const char* const kLastColumnProperty = "vigilLastColumnWidth";  // before it stretched
}

void arrangeSplitter(QSplitter* splitter, const QString& settingsKey, int listPercent) {
    splitter->setProperty(kSettingsKeyProperty, settingsKey);
    splitter->setChildrenCollapsible(false);
    // Extra width (a wider window) goes to both sides in the same proportion.
    splitter->setStretchFactor(0, listPercent);
    splitter->setStretchFactor(1, 100 - listPercent);
    const auto saved = QSettings().value(settingsKey).toByteArray();
    if (!saved.isEmpty() && splitter->restoreState(saved)) {
        splitter->setProperty(kPlacedProperty, true);
    } else {
        // Before the splitter is laid out, the sizes are weights: shared out in proportion.
        splitter->setSizes({listPercent * 100, (100 - listPercent) * 100});
    }
    // Saved when the window closes (not on every mouse move of a drag).
    QObject::connect(splitter, &QSplitter::splitterMoved, splitter, [splitter] { splitter->setProperty(kPlacedProperty, true); });
}

void widenToFit(QSplitter* splitter, const QTableView* table, int maxPercent) {
    if (splitter->property(kPlacedProperty).toBool() || splitter->count() != 2 || !splitter->isVisible()) return;
    auto sizes = splitter->sizes();
    const int total = sizes[0] + sizes[1];
    if (total <= 0) return;  // not laid out yet
    // The columns, the vertical scroll bar (counted even before it shows: the next rows
    // bring it), the frame; the table's margins within the list (it fills it).
    const auto* header = table->horizontalHeader();
    int needed = table->frameWidth() * 2 + table->verticalScrollBar()->sizeHint().width();
    for (int column = 0; column < header->count(); ++column) {
        if (header->isSectionHidden(column)) continue;
        // The last column stretches: what it needs is its contents' width, not its size.
        needed += column + 1 < header->count() ? header->sectionSize(column) : table->property(kLastColumnProperty).toInt();
    }
    needed += sizes[0] - table->width();
    const int wanted = std::min(needed, total * maxPercent / 100);
    if (wanted <= sizes[0]) return;
    splitter->setSizes({wanted, total - wanted});
}

void saveSplitter(const QSplitter* splitter) {
    // Only a place the user chose: otherwise the next start fits the table again.
    if (!splitter->property(kPlacedProperty).toBool()) return;
    const auto key = splitter->property(kSettingsKeyProperty).toString();
    if (!key.isEmpty()) QSettings().setValue(key, splitter->saveState());
}

namespace {
class Widener : public QObject {
public:
    Widener(QSplitter* splitter, const QTableView* table, int maxPercent)
        : QObject(splitter), splitter_(splitter), table_(table), maxPercent_(maxPercent) {
        splitter->installEventFilter(this);
    }
    bool eventFilter(QObject*, QEvent* event) override {
        // Once laid out: the sizes are those of the new width then.
        if (event->type() == QEvent::Show || event->type() == QEvent::Resize) {
            QTimer::singleShot(0, this, [this] { widenToFit(splitter_, table_, maxPercent_); });
        }
        return false;
    }

private:
    QSplitter* splitter_;
    const QTableView* table_;
    int maxPercent_;
};
}  // namespace

void widenOnShowAndResize(QSplitter* splitter, const QTableView* table, int maxPercent) { new Widener(splitter, table, maxPercent); }

namespace {
// Which columns of a table the user sized by hand (dragged a section's edge): fitColumns
// leaves them as they were put. A double-click on the edge hands the column back.
class ColumnSizer : public QObject {
public:
    explicit ColumnSizer(QHeaderView* header) : QObject(header), header_(header) {
        header->viewport()->installEventFilter(this);
        connect(header, &QHeaderView::sectionResized, this, [this](int column, int, int) {
            if (!fitting_ && dragging_) userSized_.insert(column);
        });
        // The view fits the column to its contents (its own connection, made first); from
        // now on it is fitted again as rows come, up to the cap.
        connect(header, &QHeaderView::sectionHandleDoubleClicked, this, [this](int column) {
            userSized_.remove(column);
            if (maxWidth_ > 0 && column + 1 < header_->count() && header_->sectionSize(column) > maxWidth_) {
                fitting_ = true;
                header_->resizeSection(column, maxWidth_);
                fitting_ = false;
            }
        });
    }
    bool eventFilter(QObject*, QEvent* event) override {
        // Only a drag with the mouse is the user's: the view resizes sections itself too
        // (the stretched last one whenever the table is resized).
        if (event->type() == QEvent::MouseButtonPress) dragging_ = true;
        if (event->type() == QEvent::MouseButtonRelease) dragging_ = false;
        return false;
    }

    void fit(QTableView* table, int maxWidth) {
        maxWidth_ = maxWidth;
        fitting_ = true;
        const bool stretch = header_->stretchLastSection();
        header_->setStretchLastSection(false);
        const int count = header_->count();
        for (int column = 0; column < count; ++column) {
            if (!userSized_.contains(column)) table->resizeColumnToContents(column);
        }
        if (count > 0) table->setProperty(kLastColumnProperty, std::min(header_->sectionSize(count - 1), maxWidth));
        header_->setStretchLastSection(stretch);
        for (int column = 0; column + 1 < count; ++column) {
            if (!userSized_.contains(column) && header_->sectionSize(column) > maxWidth) header_->resizeSection(column, maxWidth);
        }
        fitting_ = false;
    }

private:
    QHeaderView* header_;
    QSet<int> userSized_;
    int maxWidth_ = 0;
    bool dragging_ = false;
    bool fitting_ = false;
};
}  // namespace

void fitColumns(QTableView* table, int maxWidth) {
    auto* header = table->horizontalHeader();
    ColumnSizer* sizer = nullptr;
    for (auto* child : header->children()) {
        if ((sizer = dynamic_cast<ColumnSizer*>(child)) != nullptr) break;
    }
    if (sizer == nullptr) sizer = new ColumnSizer(header);
    sizer->fit(table, maxWidth);
}

}  // namespace vigil::console

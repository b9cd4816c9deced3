#include "views/pane_layout.h"

#include <QHeaderView>
#include <QSettings>
#include <QSplitter>
#include <QScrollBar>
#include <QTableView>
#include <QEvent>
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

void fitColumns(QTableView* table, int maxWidth) {
    auto* header = table->horizontalHeader();
    const bool stretch = header->stretchLastSection();
    header->setStretchLastSection(false);
    table->resizeColumnsToContents();
    if (header->count() > 0) table->setProperty(kLastColumnProperty, std::min(header->sectionSize(header->count() - 1), maxWidth));
    header->setStretchLastSection(stretch);
    for (int column = 0; column + 1 < header->count(); ++column) {
        if (header->sectionSize(column) > maxWidth) header->resizeSection(column, maxWidth);
    }
}

}  // namespace vigil::console

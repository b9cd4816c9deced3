#pragma once

#include <QString>

class QSplitter;
class QTableView;

namespace vigil::console {

// A list beside its details (the Sessions and Pending reviews pages). The first time, the
// list gets listPercent of the width; after that, the place the user dragged the handle
// to, kept in the settings under settingsKey (saved when it moves and by saveSplitter,
// which the window calls when it closes).
void arrangeSplitter(QSplitter* splitter, const QString& settingsKey, int listPercent);
void saveSplitter(const QSplitter* splitter);
// Until the user places the splitter, the list (its first widget, holding table) widens
// so that every column of table shows without scrolling, up to maxPercent of the width.
// It never narrows: rows coming and going do not make the details jump.
void widenToFit(QSplitter* splitter, const QTableView* table, int maxPercent);

// Every column as wide as what it shows, but none wider than maxWidth: a long value
// (a subject, a rule id) is elided rather than pushing the other columns out of view.
// The last column fills the rest. People can still drag any column wider.
void fitColumns(QTableView* table, int maxWidth);

}  // namespace vigil::console

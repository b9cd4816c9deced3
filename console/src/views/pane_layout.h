#pragma once

#include <QString>

class QSplitter;
class QTableView;

namespace vigil::console {

// A list beside its details (the Sessions and Pending reviews pages). At first the list
// gets listPercent of the width; once the user drags the handle, the place they chose,
// kept in the settings under settingsKey by saveSplitter (which the window calls when it
// closes; a splitter the user never moved is not saved).
void arrangeSplitter(QSplitter* splitter, const QString& settingsKey, int listPercent);
void saveSplitter(const QSplitter* splitter);
// Until the user places the splitter, the list (its first widget, holding table) widens
// so that every column of table shows without scrolling, up to maxPercent of the width.
// It never narrows: rows coming and going do not make the details jump.
void widenToFit(QSplitter* splitter, const QTableView* table, int maxPercent);
// The same whenever the splitter is shown or resized (a page shown, the window resized).
void widenOnShowAndResize(QSplitter* splitter, const QTableView* table, int maxPercent);

// Every column as wide as what it shows, but none wider than maxWidth: a long value
// (a subject, a rule id) is elided rather than pushing the other columns out of view.
// The last column fills the rest. A column the user dragged to a width keeps it (until they
// double-click its edge, which fits it again).
void fitColumns(QTableView* table, int maxWidth);

}  // namespace vigil::console

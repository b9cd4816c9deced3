// The list tables' column widths (views/pane_layout): they fit what they show as rows come,
// capped, except a column the user sized by hand, which stays as it was put until its edge
// is double-clicked. Real mouse drags on the header, in a shown window.

#include <QHeaderView>
#include <QStandardItemModel>
#include <QTableView>
#include <QTest>

#include "views/pane_layout.h"

using vigil::console::fitColumns;

namespace {

constexpr int kCap = 220;

void addRow(QStandardItemModel& model, const QStringList& texts) {
    QList<QStandardItem*> items;
    for (const auto& text : texts) items.append(new QStandardItem(text));
    model.appendRow(items);
}

// The x of the edge between `column` and the next, in the header's viewport.
int edgeOf(const QHeaderView* header, int column) {
    return header->sectionViewportPosition(column) + header->sectionSize(column) - 1;
}

void dragEdge(QHeaderView* header, int column, int by) {
    const int y = header->height() / 2;
    const QPoint from(edgeOf(header, column), y);
    QTest::mousePress(header->viewport(), Qt::LeftButton, {}, from);
    QTest::mouseMove(header->viewport(), from + QPoint(by / 2, 0));
    QTest::mouseMove(header->viewport(), from + QPoint(by, 0));
    QTest::mouseRelease(header->viewport(), Qt::LeftButton, {}, from + QPoint(by, 0));
}

}  // namespace

class TestPaneLayout : public QObject {
    Q_OBJECT
private slots:
    void aColumnSizedByHandKeepsItsWidthAsRowsCome() {
        QStandardItemModel model(0, 3);
        model.setHorizontalHeaderLabels({QStringLiteral("Subject"), QStringLiteral("Model"), QStringLiteral("Outcome")});
        addRow(model, {QStringLiteral("apikey:al"), QStringLiteral("gpt"), QStringLiteral("completed")});
        QTableView table;
        table.setModel(&model);
        table.horizontalHeader()->setStretchLastSection(true);
        table.resize(900, 300);
        table.show();
        QVERIFY(QTest::qWaitForWindowExposed(&table));
        auto* header = table.horizontalHeader();
        fitColumns(&table, kCap);
        const int fitted = header->sectionSize(0);
        QVERIFY(fitted < kCap);

        // Dragged wider than the cap, by hand.
        dragEdge(header, 0, 200);
        const int dragged = header->sectionSize(0);
        QVERIFY2(dragged >= fitted + 190, qPrintable(QStringLiteral("%1 -> %2").arg(fitted).arg(dragged)));
        QVERIFY(dragged > kCap);

        // Rows come, longer in both columns: the dragged one stays, the other fits them.
        const int modelBefore = header->sectionSize(1);
        addRow(model, {QStringLiteral("oidc:") + QString(80, QLatin1Char('s')), QStringLiteral("gpt-4o-mini-2024-07-18"),
                       QStringLiteral("failed")});
        fitColumns(&table, kCap);
        QCOMPARE(header->sectionSize(0), dragged);
        QVERIFY(header->sectionSize(1) > modelBefore);
        QVERIFY(header->sectionSize(1) <= kCap);

        // The window resized (the last column stretches) is not the user sizing a column.
        table.resize(1000, 300);
        QTRY_VERIFY(header->sectionSize(2) > 300);
        addRow(model, {QStringLiteral("x"), QString(60, QLatin1Char('m')), QStringLiteral("in_progress")});
        fitColumns(&table, kCap);
        QCOMPARE(header->sectionSize(0), dragged);
        QCOMPARE(header->sectionSize(1), kCap);

        // Narrower by hand: kept as well, though the contents are wider.
        dragEdge(header, 1, -120);
        const int narrowed = header->sectionSize(1);
        QVERIFY2(narrowed <= kCap - 110, qPrintable(QString::number(narrowed)));
        addRow(model, {QStringLiteral("y"), QStringLiteral("z"), QStringLiteral("failed")});
        fitColumns(&table, kCap);
        QCOMPARE(header->sectionSize(1), narrowed);
        QCOMPARE(header->sectionSize(0), dragged);

        // A double-click on its edge hands the column back: fitted, capped, and from then
        // on fitted again as rows come.
        QTest::mouseDClick(header->viewport(), Qt::LeftButton, {}, QPoint(edgeOf(header, 0), header->height() / 2));
        QTRY_COMPARE(header->sectionSize(0), kCap);
        model.removeRow(1);  // the long subject goes
        fitColumns(&table, kCap);
        QCOMPARE(header->sectionSize(0), fitted);
        QCOMPARE(header->sectionSize(1), narrowed);
    }
};

QTEST_MAIN(TestPaneLayout)
#include "tst_pane_layout.moc"

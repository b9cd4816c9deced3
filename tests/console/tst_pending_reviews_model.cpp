// The pending-reviews model on its own, under QAbstractItemModelTester: reset, pushed
// events adding, refreshing and removing rows (newest first), the columns people read.

#include <QAbstractItemModelTester>
#include <QJsonArray>
#include <QTest>

#include "models/pending_reviews_model.h"
#include "models/visible_text.h"

using vigil::console::PendingReviewsModel;
using vigil::console::ReviewItem;

namespace {

const QDateTime kNow = QDateTime::fromSecsSinceEpoch(1'800'000'000, Qt::UTC);

ReviewItem review(const QString& id, qint64 ageSeconds, const QString& state = QStringLiteral("pending"), int approvals = 0) {
    QJsonArray list;
    for (int i = 0; i < approvals; ++i) list.append(QJsonObject{{QStringLiteral("subject"), QStringLiteral("apikey:a%1").arg(i)}});
    return ReviewItem::fromJson(QJsonObject{
        {QStringLiteral("id"), id},
        {QStringLiteral("state"), state},
        {QStringLiteral("kind"), QStringLiteral("request")},
        {QStringLiteral("mode"), QStringLiteral("hold")},
        {QStringLiteral("requester"), QJsonObject{{QStringLiteral("subject"), QStringLiteral("apikey:alice")}}},
        {QStringLiteral("connection"), QStringLiteral("openai")},
        {QStringLiteral("model"), QStringLiteral("gpt-4o")},
        {QStringLiteral("rule"), QStringLiteral("falcon")},
        {QStringLiteral("quorum"), 2},
        {QStringLiteral("approvals"), list},
        {QStringLiteral("created_us"), static_cast<double>((kNow.toSecsSinceEpoch() - ageSeconds) * 1'000'000)},
    });
}

}  // namespace

class TestPendingReviewsModel : public QObject {
    Q_OBJECT
private slots:
    // A model name or subject with a right-to-left override would reorder the row as the
    // approver reads it; a zero-width space would make two names look alike.
    void hiddenCharactersAreShownInTheCells() {
        using vigil::console::visibleText;
        QCOMPARE(visibleText(QStringLiteral("gpt-4o")), QStringLiteral("gpt-4o"));
        QCOMPARE(visibleText(QStringLiteral("a") + QChar(0x202E) + QStringLiteral("b") + QChar(0x200B) + QChar(0xFEFF)),
                 QStringLiteral("a[U+202E]b[U+200B][U+FEFF]"));
        // A soft hyphen, a joiner, a line separator; tag characters spelling hidden text.
        QString tagged = QStringLiteral("ok") + QChar(0x00AD) + QChar(0x200D) + QChar(0x2028);
        for (const char32_t tag : {U'\U000E0068', U'\U000E0069'}) tagged += QString::fromUcs4(&tag, 1);
        QCOMPARE(visibleText(tagged), QStringLiteral("ok[U+00AD][U+200D][U+2028][U+E0068][U+E0069]"));
        // Other characters outside the BMP are left alone.
        const char32_t face = U'\U0001F600';
        QCOMPARE(visibleText(QString::fromUcs4(&face, 1)), QString::fromUcs4(&face, 1));
        auto item = review(QStringLiteral("rv_x"), 5);
        item.model = QStringLiteral("gpt-4o") + QChar(0x202E) + QStringLiteral("lanretni");
        item.requester = QStringLiteral("apikey:al") + QChar(0x200B) + QStringLiteral("ice");
        PendingReviewsModel model;
        model.setClock([] { return kNow; });
        model.reset({item});
        QCOMPARE(model.index(0, PendingReviewsModel::Model).data().toString(), QStringLiteral("gpt-4o[U+202E]lanretni"));
        QCOMPARE(model.index(0, PendingReviewsModel::Requester).data().toString(), QStringLiteral("apikey:al[U+200B]ice"));
    }

    void rowsFollowThePushedEvents() {
        PendingReviewsModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setClock([] { return kNow; });
        model.reset({review(QStringLiteral("rv_old"), 3700), review(QStringLiteral("rv_new"), 30),
                     review(QStringLiteral("rv_done"), 10, QStringLiteral("approved"))});
        QCOMPARE(model.rowCount(), 2);  // decided ones are not pending
        QCOMPARE(model.data(model.index(0, 0), PendingReviewsModel::IdRole).toString(), QStringLiteral("rv_new"));
        QCOMPARE(model.index(0, PendingReviewsModel::Age).data().toString(), QStringLiteral("30 s"));
        QCOMPARE(model.index(1, PendingReviewsModel::Age).data().toString(), QStringLiteral("1 h 1 min"));
        QCOMPARE(model.index(0, PendingReviewsModel::Quorum).data().toString(), QStringLiteral("0/2"));
        QCOMPARE(model.headerData(PendingReviewsModel::Requester, Qt::Horizontal).toString(), QStringLiteral("Requester"));

        QVERIFY(model.apply(QStringLiteral("review.pending"), review(QStringLiteral("rv_mid"), 600)));
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.rowOf(QStringLiteral("rv_mid")), 1);  // newest first
        QVERIFY(!model.apply(QStringLiteral("review.pending"), review(QStringLiteral("rv_mid"), 600)) || model.rowCount() == 3);
        QVERIFY(model.apply(QStringLiteral("review.updated"), review(QStringLiteral("rv_mid"), 600, QStringLiteral("pending"), 1)));
        QCOMPARE(model.index(1, PendingReviewsModel::Quorum).data().toString(), QStringLiteral("1/2"));
        QVERIFY(model.apply(QStringLiteral("review.decided"), review(QStringLiteral("rv_mid"), 600, QStringLiteral("approved"), 2)));
        QCOMPARE(model.rowCount(), 2);
        QVERIFY(model.apply(QStringLiteral("review.expired"), review(QStringLiteral("rv_old"), 3700, QStringLiteral("expired"))));
        QVERIFY(!model.apply(QStringLiteral("review.cancelled"), review(QStringLiteral("rv_unknown"), 1, QStringLiteral("cancelled"))));
        QCOMPARE(model.rowCount(), 1);
        model.tick();
        model.reset({});
        QCOMPARE(model.rowCount(), 0);
    }

    void agesReadLikeAPersonWouldSayThem() {
        QCOMPARE(vigil::console::formatAge(-3), QStringLiteral("0 s"));
        QCOMPARE(vigil::console::formatAge(59), QStringLiteral("59 s"));
        QCOMPARE(vigil::console::formatAge(61), QStringLiteral("1 min"));
        QCOMPARE(vigil::console::formatAge(7200), QStringLiteral("2 h"));
        QCOMPARE(vigil::console::formatAge(3 * 86400 + 5), QStringLiteral("3 d"));
    }
};

QTEST_GUILESS_MAIN(TestPendingReviewsModel)
#include "tst_pending_reviews_model.moc"

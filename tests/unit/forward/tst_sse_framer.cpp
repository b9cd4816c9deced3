#include <QTest>

#include "forward/sse_framer.h"

using vigil::forward::SseFramer;

class TestSseFramer : public QObject {
    Q_OBJECT
private slots:
    void releasesOnlyWholeEvents() {
        SseFramer framer;
        std::string out;
        framer.feed("data: {\"a\":", out);
        QCOMPARE(out, std::string());
        framer.feed("1}\n", out);
        QCOMPARE(out, std::string());
        framer.feed("\ndata: next", out);
        QCOMPARE(out, std::string("data: {\"a\":1}\n\n"));
        QVERIFY(framer.hasPartial());
        out.clear();
        framer.flush(out);
        QCOMPARE(out, std::string("data: next"));
    }

    void severalEventsInOnePiece() {
        SseFramer framer;
        std::string out;
        framer.feed("data: 1\n\ndata: 2\n\ndata: [DONE]\n\n", out);
        QCOMPARE(out, std::string("data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"));
        QVERIFY(!framer.hasPartial());
    }

    void crlfAndCrLineEndings_data() {
        QTest::addColumn<QByteArray>("stream");
        QTest::newRow("crlf") << QByteArray("data: 1\r\n\r\ndata: 2\r\n\r\n");
        QTest::newRow("cr") << QByteArray("data: 1\r\rdata: 2\r\r");
        QTest::newRow("mixed") << QByteArray("event: x\r\ndata: 1\n\r\ndata: 2\r\n\n");
    }
    // Whatever the line endings and wherever the pieces are cut, the bytes come out
    // unchanged and nothing is released in the middle of an event.
    void crlfAndCrLineEndings() {
        QFETCH(QByteArray, stream);
        const std::string input = stream.toStdString();
        for (std::size_t cut = 1; cut < input.size(); ++cut) {
            for (std::size_t cut2 = cut; cut2 < input.size(); ++cut2) {
                SseFramer framer;
                std::string out;
                std::vector<std::size_t> releases;
                framer.feed(std::string_view(input).substr(0, cut), out);
                releases.push_back(out.size());
                framer.feed(std::string_view(input).substr(cut, cut2 - cut), out);
                releases.push_back(out.size());
                framer.feed(std::string_view(input).substr(cut2), out);
                releases.push_back(out.size());
                framer.flush(out);
                QCOMPARE(out, input);
                const std::string firstEventEnd = input.substr(0, input.find("data: 2"));
                for (auto r : releases) {
                    QVERIFY2(r == 0 || r >= firstEventEnd.size() - 1,
                             qPrintable(QStringLiteral("released %1 bytes at cuts %2/%3").arg(r).arg(cut).arg(cut2)));
                }
            }
        }
    }

    void discardDropsTheUnfinishedEvent() {
        SseFramer framer;
        std::string out;
        framer.feed("data: whole\n\ndata: half", out);
        framer.discardPartial();
        framer.flush(out);
        QCOMPARE(out, std::string("data: whole\n\n"));
    }

    void anEventOverTheLimitStopsTheFraming() {
        // 16 bytes per event at most: "data: 123456789\n\n" is 17.
        {
            SseFramer framer;
            framer.setMaxEventBytes(16);
            std::string out;
            framer.feed("data: 12345678\n\ndata: 123456789\n\ndata: 1\n\n", out);
            QVERIFY(framer.overflowed());
            QCOMPARE(out, std::string("data: 12345678\n\n"));  // the events before it only
            framer.feed("data: 2\n\n", out);                    // nothing more is taken
            framer.flush(out);
            QCOMPARE(out, std::string("data: 12345678\n\n"));
        }
        {
            // An event that never ends is refused once it outgrows the limit, not buffered on.
            SseFramer framer;
            framer.setMaxEventBytes(16);
            std::string out;
            framer.feed("data: 1\n\ndata: 0123", out);
            QVERIFY(!framer.overflowed());
            framer.feed("456789", out);
            QVERIFY(!framer.overflowed());  // 16 bytes held: at the limit, not over it
            framer.feed("0", out);
            QVERIFY(framer.overflowed());
            QVERIFY(!framer.hasPartial());
            QCOMPARE(out, std::string("data: 1\n\n"));
        }
        {
            // CRLF lines: an event is complete at the CR of its blank line, so "data: 1234567\r\n\r"
            // is 16 bytes and passes; one byte more does not.
            SseFramer framer;
            framer.setMaxEventBytes(16);
            std::string out;
            framer.feed("data: 1234567\r\n\r\ndata: 12345678\r\n\r\n", out);
            QVERIFY(framer.overflowed());
            QCOMPARE(out, std::string("data: 1234567\r\n\r\n"));
        }
    }
};

QTEST_APPLESS_MAIN(TestSseFramer)
#include "tst_sse_framer.moc"

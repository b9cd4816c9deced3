// The sessions page against a real gateway: the recorded sessions load page by page as
// the table scrolls, filters narrow them, and the replay of a streamed session at instant
// speed renders exactly the reply the client received, masked values highlighted, with
// its timeline and the chain status. Saves a screenshot of the page.

#include <QAbstractItemModelTester>
#include <QComboBox>
#include <QFileInfo>
#include <QCryptographicHash>
#include <QDateTimeEdit>
#include <QProcess>
#include <QProgressBar>
#include <QScrollBar>
#include <QSettings>
#include <QSplitter>
#include <QGuiApplication>
#include <QScreen>
#include <QJsonArray>
#include <QSignalSpy>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QHeaderView>
#include <QDir>
#include <QFile>
#include <QJsonDocument>

#include "export/evidence_export.h"
#include "large_store.h"
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QTabWidget>
#include <QTableView>
#include <QTest>
#include <QTextBrowser>

#include <algorithm>

#include "managed_process.h"
#include "models/replay.h"
#include "models/sessions_model.h"
#include "raw_http.h"
#include "views/main_window.h"
#include "views/dashboard_page.h"
#include "views/export_dialog.h"
#include "views/sessions_page.h"

using namespace vigil::test;
using vigil::console::EventStream;
using vigil::console::MainWindow;
using vigil::console::SessionsModel;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-console-sessions-upstream-4141");
const QString kReply = QStringLiteral("The launch is on track; write to jane.doe@example.com for the slides.");
const QString kMaskedReply = QStringLiteral("The launch is on track; write to [EMAIL] for the slides.");

const char* const kPolicy =
    "{\"default_action\": \"deny\", \"default_masking\": \"standard\", \"rules\": [\n"
    "  {\"id\": \"requesters\", \"match\": {\"roles\": [\"requester\"]}, \"action\": \"allow\"},\n"
    "  {\"id\": \"no-passwords\", \"if\": {\"keywords\": {\"words\": [\"password\"]}}, \"action\": \"deny\"}]}\n";

QString streamedText(const QByteArray& body) {
    return vigil::console::replyTextOf(QString::fromUtf8(body), true);
}

}  // namespace

class TestSessionsPage : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<ManagedProcess> mock_;
    std::unique_ptr<ManagedProcess> gateway_;
    QString alice_, bob_, audrey_;
    QString clientReceived_;
    QString streamedSession_;
    QString longReceived_;
    QString longSession_;

    QString dbPath() const { return dir_.filePath(QStringLiteral("vigil.db")); }

    template <class T>
    static T* child(MainWindow& w, const char* name) {
        auto* c = w.findChild<T*>(QString::fromLatin1(name));
        if (c == nullptr) qWarning("no child %s", name);
        return c;
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        // The console's settings (window, splitters) in the test's own folder.
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, dir_.filePath(QStringLiteral("settings")));
        QCoreApplication::setOrganizationName(QStringLiteral("Vigil"));
        QCoreApplication::setApplicationName(QStringLiteral("Vigil Console"));
        mock_ = startMockUpstream(kUpstreamKey);
        QVERIFY(mock_);
        alice_ = createApiKey(dbPath(), QStringLiteral("alice"), QStringLiteral("requester"));
        bob_ = createApiKey(dbPath(), QStringLiteral("bob"), QStringLiteral("requester"));
        audrey_ = createApiKey(dbPath(), QStringLiteral("audrey"), QStringLiteral("auditor"));
        QFile policy(dir_.filePath(QStringLiteral("policy.json")));
        QVERIFY(policy.open(QIODevice::WriteOnly));
        policy.write(kPolicy);
        policy.close();
        auto config = basicGatewayConfig(mock_->url());
        config.insert(QStringLiteral("policy"), QJsonObject{{QStringLiteral("file"), QStringLiteral("policy.json")}});
        config.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), dbPath()}});
        gateway_ = startGateway(dir_, config, kUpstreamKey);
        QVERIFY(gateway_);

        // 10 plain sessions by alice, one denied by bob, one streamed (masked) by bob.
        for (int i = 0; i < 10; ++i) {
            const auto r = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hello %1").arg(i)),
                                       {{"Authorization", "Bearer " + alice_.toLatin1()}, {"Content-Type", "application/json"}});
            QCOMPARE(r.status, 200);
        }
        const auto denied = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("my password is hunter2")),
                                        {{"Authorization", "Bearer " + bob_.toLatin1()}, {"Content-Type", "application/json"}});
        QCOMPARE(denied.status, 403);
        const auto streamed = httpRequest(gateway_->url(), "POST", "/v1/chat/completions",
                                          chatBody(QStringLiteral("How is the launch going?"), true),
                                          {{"Authorization", "Bearer " + bob_.toLatin1()},
                                           {"Content-Type", "application/json"},
                                           {"X-Mock-Reply", kReply.toUtf8()},
                                           {"X-Mock-Chunk-Bytes", "4"}});
        QCOMPARE(streamed.status, 200);
        clientReceived_ = streamedText(streamed.body);
        QCOMPARE(clientReceived_, kMaskedReply);
        streamedSession_ = QString::fromLatin1(streamed.header("x-vigil-session"));
        QVERIFY(!streamedSession_.isEmpty());
        // A long answer streamed a character at a time: more events than one page of the API.
        QString longReply;
        for (int i = 0; i < 200; ++i) longReply += QStringLiteral("Paragraph %1 of the long answer. ").arg(i, 3, 10, QLatin1Char('0'));
        const auto longStream = httpRequest(gateway_->url(), "POST", "/v1/chat/completions",
                                            chatBody(QStringLiteral("Tell me everything."), true),
                                            {{"Authorization", "Bearer " + bob_.toLatin1()},
                                             {"Content-Type", "application/json"},
                                             {"X-Mock-Reply", longReply.toUtf8()},
                                             {"X-Mock-Chunk-Bytes", "1"}});
        QCOMPARE(longStream.status, 200);
        longReceived_ = streamedText(longStream.body);
        QVERIFY(longReceived_.startsWith(QStringLiteral("Paragraph 000 of the long answer.")));
        QVERIFY(longReceived_.size() > 1000);
        longSession_ = QString::fromLatin1(longStream.header("x-vigil-session"));
    }

    void cleanupTestCase() {
        if (gateway_) QCOMPARE(gateway_->terminate(), 0);
    }

    void sessionsLoadAsTheTableScrollsAndFiltersNarrowThem() {
        MainWindow window;
        window.resize(1280, 760);
        window.show();
        auto& page = window.sessionsPage();
        QAbstractItemModelTester tester(&page.model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        page.model().setPageSize(5);
        window.connectTo(QUrl(gateway_->url()), audrey_);
        QTRY_COMPARE_WITH_TIMEOUT(window.events().state(), EventStream::State::Live, 5000);
        child<QTabWidget>(window, "pagesTabWidget")->setCurrentWidget(&page);
        QTRY_VERIFY(page.model().rowCount() >= 5);
        auto* table = child<QTableView>(window, "sessionsTableView");
        // Scrolling to the end fetches the next pages, until all 12 are there.
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                table->scrollToBottom();
                return page.model().rowCount() == 13;
            }(),
            10000);
        QCOMPARE(page.model().index(0, SessionsModel::Subject).data().toString(), QStringLiteral("apikey:bob"));  // newest first

        // A click on "Started" turns the order round (the gateway pages oldest first then).
        auto* header = table->horizontalHeader();
        QTest::mouseClick(header->viewport(), Qt::LeftButton, {},
                          QPoint(header->sectionViewportPosition(SessionsModel::Started) + 10, header->height() / 2));
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                table->scrollToBottom();
                return page.model().rowCount() == 13;
            }(),
            10000);
        QCOMPARE(page.model().index(0, SessionsModel::Subject).data().toString(), QStringLiteral("apikey:alice"));
        QCOMPARE(page.model().index(12, SessionsModel::Subject).data().toString(), QStringLiteral("apikey:bob"));
        QVERIFY(page.model().filters().oldestFirst);

        // Every matching session is loaded: another column sorts them, equal values keeping
        // their start-time order.
        QTest::mouseClick(header->viewport(), Qt::LeftButton, {},
                          QPoint(header->sectionViewportPosition(SessionsModel::Subject) + 10, header->height() / 2));
        QCOMPARE(header->sortIndicatorSection(), static_cast<int>(SessionsModel::Subject));
        QCOMPARE(page.model().rowCount(), 13);
        QStringList subjects, startedOfAlice;
        for (int row = 0; row < 13; ++row) {
            subjects << page.model().index(row, SessionsModel::Subject).data().toString();
            if (subjects.last() == QStringLiteral("apikey:alice")) startedOfAlice << page.model().index(row, SessionsModel::Started).data().toString();
        }
        auto sortedSubjects = subjects;
        std::sort(sortedSubjects.begin(), sortedSubjects.end());
        QCOMPARE(subjects, sortedSubjects);
        QVERIFY(subjects.first() != subjects.last());
        auto sortedStarts = startedOfAlice;
        std::sort(sortedStarts.begin(), sortedStarts.end());
        QCOMPARE(startedOfAlice, sortedStarts);
        QVERIFY(startedOfAlice.size() >= 2);
        // While pages are still to come, it is refused: nothing moves.
        page.model().setFilters(page.model().filters());
        page.model().sort(SessionsModel::Subject, Qt::AscendingOrder);
        QCOMPARE(page.model().sortedBy().first, static_cast<int>(SessionsModel::Started));
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                table->scrollToBottom();
                return page.model().rowCount() == 13;
            }(),
            10000);

        auto* decision = child<QComboBox>(window, "decisionFilterComboBox");
        decision->setCurrentIndex(decision->findData(QStringLiteral("deny")));
        QTest::mouseClick(child<QPushButton>(window, "searchSessionsButton"), Qt::LeftButton);
        QTRY_COMPARE(page.model().rowCount(), 1);
        QCOMPARE(page.model().index(0, SessionsModel::Decision).data().toString(), QStringLiteral("deny"));
        QVERIFY(page.model().index(0, SessionsModel::Status).data().toString().startsWith(QStringLiteral("403")));

        decision->setCurrentIndex(0);
        QTest::keyClicks(child<QLineEdit>(window, "subjectFilterLineEdit"), QStringLiteral("apikey:alice"));
        QTest::mouseClick(child<QPushButton>(window, "searchSessionsButton"), Qt::LeftButton);
        QTRY_VERIFY(page.model().rowCount() >= 5);  // pages of 5: as many as the view has room for
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                table->scrollToBottom();
                return page.model().rowCount() == 10;
            }(),
            10000);
        for (int row = 0; row < page.model().rowCount(); ++row) {
            QCOMPARE(page.model().index(row, SessionsModel::Subject).data().toString(), QStringLiteral("apikey:alice"));
        }
        QTRY_VERIFY(child<QLabel>(window, "chainStatusLabel")->text().contains(QStringLiteral("verified through")));
    }

    void replayAtInstantSpeedRendersTheRecordedReply() {
        MainWindow window;
        window.resize(1280, 760);
        window.show();
        auto& page = window.sessionsPage();
        window.connectTo(QUrl(gateway_->url()), audrey_);
        QTRY_COMPARE_WITH_TIMEOUT(window.events().state(), EventStream::State::Live, 5000);
        child<QTabWidget>(window, "pagesTabWidget")->setCurrentWidget(&page);
        auto* speed = child<QComboBox>(window, "speedComboBox");
        speed->setCurrentIndex(speed->findData(0));  // instant
        QTRY_VERIFY(page.model().rowCount() > 0);
        auto* table = child<QTableView>(window, "sessionsTableView");
        int row = -1;
        for (int i = 0; i < page.model().rowCount(); ++i) {
            if (page.model().index(i, 0).data(SessionsModel::IdRole).toString() == streamedSession_) row = i;
        }
        QVERIFY(row >= 0);
        QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, table->visualRect(page.model().index(row, 0)).center());
        QTRY_COMPARE(page.player().replay().sessionId(), streamedSession_);
        QTRY_COMPARE(page.player().positionUs(), page.player().replay().durationUs());
        QCOMPARE(page.player().replay().replyText(), clientReceived_);  // exactly what the client got
        auto* text = child<QTextBrowser>(window, "replayTextBrowser");
        QVERIFY(text->toPlainText().contains(QStringLiteral("How is the launch going?")));
        QVERIFY(text->toPlainText().contains(kMaskedReply));
        QVERIFY(text->toHtml().contains(QStringLiteral("masked:EMAIL")));
        auto* timeline = child<QListWidget>(window, "timelineListWidget");
        QStringList items;
        for (int i = 0; i < timeline->count(); ++i) items << timeline->item(i)->text();
        QVERIFY2(items.join(QLatin1Char('|')).contains(QStringLiteral("Decision: allow")), qPrintable(items.join(QLatin1Char('|'))));
        QVERIFY(items.join(QLatin1Char('|')).contains(QStringLiteral("Masked (response): EMAIL")));
        QVERIFY(items.join(QLatin1Char('|')).contains(QStringLiteral("Completed: status 200")));

        // Seeking back to the start shows the prompt without the reply; playing at 10x ends it.
        page.player().seek(0);
        QVERIFY(!text->toPlainText().contains(QStringLiteral("The launch is on track")));
        speed->setCurrentIndex(speed->findData(10));
        QTest::mouseClick(child<QPushButton>(window, "playButton"), Qt::LeftButton);
        QVERIFY(page.player().playing());
        QTRY_VERIFY_WITH_TIMEOUT(!page.player().playing(), 10000);
        QVERIFY(text->toPlainText().contains(kMaskedReply));

        const QString shots = QStringLiteral(VIGIL_SCREENSHOT_DIR);
        QDir().mkpath(shots);
        QVERIFY(window.grab().save(shots + QStringLiteral("/sessions-replay.png")));
    }

    // The dashboard adds up what was recorded: requests by decision and hour, top rules.
    void dashboardShowsTheLastDay() {
        MainWindow window;
        window.resize(1280, 760);
        window.show();
        window.connectTo(QUrl(gateway_->url()), audrey_);
        auto& page = window.dashboardPage();
        child<QTabWidget>(window, "pagesTabWidget")->setCurrentWidget(&page);
        QTRY_VERIFY_WITH_TIMEOUT(page.loaded(), 5000);
        const auto& data = page.data();
        QCOMPARE(data.requests, 13);
        QCOMPARE(data.byDecision.value(QStringLiteral("allow")), 12);
        QCOMPARE(data.byDecision.value(QStringLiteral("deny")), 1);
        QVERIFY(!data.hours.isEmpty());
        qint64 inHours = 0;
        for (const auto& h : data.hours) {
            for (const auto n : h.byDecision) inHours += n;
        }
        QCOMPARE(inHours, 13);
        QVERIFY(!data.topRules.isEmpty());
        QCOMPARE(data.topRules.first().first, QStringLiteral("requesters"));
        QCOMPARE(data.topRules.first().second, 12);
        QVERIFY(child<QLabel>(window, "dashboardSummaryLabel")->text().contains(QStringLiteral("13 requests")));
        const QString shots = QStringLiteral(VIGIL_SCREENSHOT_DIR);
        QDir().mkpath(shots);
        QVERIFY(window.grab().save(shots + QStringLiteral("/dashboard.png")));
    }

    // A session longer than one page of events is replayed whole.
    void aLongSessionIsReplayedWhole() {
        MainWindow window;
        window.show();
        auto& page = window.sessionsPage();
        auto* speed = child<QComboBox>(window, "speedComboBox");
        speed->setCurrentIndex(speed->findData(0));  // instant
        window.connectTo(QUrl(gateway_->url()), audrey_);
        QTRY_VERIFY(page.model().rowCount() > 0);
        page.openSession(longSession_);
        QTRY_COMPARE_WITH_TIMEOUT(page.player().replay().sessionId(), longSession_, 10000);
        int chunks = 0;
        for (const auto& s : page.player().replay().steps()) chunks += s.kind == vigil::console::Replay::Step::Kind::Reply ? 1 : 0;
        QVERIFY2(chunks > 1000, qPrintable(QString::number(chunks)));
        QCOMPARE(page.player().replay().replyText(), longReceived_);
    }

    // The bundle's name comes from the gateway's Content-Disposition: never a path out of the
    // folder the auditor chose.
    // The report's reviews come from the bundle's signed review events: an approver's reason
    // with line breaks (valid CSV, quoted) neither hides a review nor adds a forged one, and a
    // self-approval recorded in the chain is named.
    void theReportReadsReviewsFromTheSignedEvents() {
        using vigil::console::EvidenceReport;
        const QString forged = QStringLiteral("looks fine\nrv_FAKE0000,request,hold,approved,sess-x,apikey:mallory,falcon,1,apikey:mallory,,,,,,,\nend");
        auto review = [](const QString& id, const QString& state, const QString& requester, const QJsonArray& approvals) {
            return QJsonObject{{QStringLiteral("id"), id},
                               {QStringLiteral("state"), state},
                               {QStringLiteral("requester"), QJsonObject{{QStringLiteral("subject"), requester}}},
                               {QStringLiteral("rule"), QStringLiteral("falcon")},
                               {QStringLiteral("quorum"), 1},
                               {QStringLiteral("approvals"), approvals},
                               {QStringLiteral("denial"), QJsonValue()},
                               {QStringLiteral("created_at"), QStringLiteral("2026-11-23T02:28:54.000000Z")}};
        };
        auto event = [](int seq, const QString& type, const QJsonObject& payload) {
            return QJsonDocument(QJsonObject{{QStringLiteral("seq"), seq},
                                             {QStringLiteral("type"), type},
                                             {QStringLiteral("session_id"), QStringLiteral("s1")},
                                             {QStringLiteral("payload"), QString::fromUtf8(QJsonDocument(payload).toJson(QJsonDocument::Compact))}})
                .toJson(QJsonDocument::Compact);
        };
        const QJsonArray bobApproves{QJsonObject{{QStringLiteral("subject"), QStringLiteral("apikey:bob")},
                                                 {QStringLiteral("at"), QStringLiteral("2026-11-23T02:28:59.000000Z")},
                                                 {QStringLiteral("reason"), forged}}};
        const QJsonArray selfApproves{QJsonObject{{QStringLiteral("subject"), QStringLiteral("apikey:eve")},
                                                  {QStringLiteral("at"), QStringLiteral("2026-11-23T02:29:30.000000Z")}}};
        QByteArray events;
        events += event(1, QStringLiteral("review.pending"), review(QStringLiteral("rv_real"), QStringLiteral("pending"), QStringLiteral("apikey:alice"), {})) + '\n';
        events += event(2, QStringLiteral("review.approved"), review(QStringLiteral("rv_real"), QStringLiteral("approved"), QStringLiteral("apikey:alice"), bobApproves)) + '\n';
        events += event(3, QStringLiteral("review.approved"), review(QStringLiteral("rv_self"), QStringLiteral("approved"), QStringLiteral("apikey:eve"), selfApproves)) + '\n';
        QByteArray csv = "review,kind,mode,state,session,requester,rule,quorum,approvers,approved_at,approval_reasons,denied_by,denied_at,denial_reason,created_at,decided_at\n";
        csv += "rv_real,request,hold,approved,s1,apikey:alice,falcon,1,apikey:bob,2026-11-23T02:28:59.000000Z,\"" + forged.toUtf8() + "\",,,,,\n";
        QMap<QString, QByteArray> files;
        files.insert(QStringLiteral("events.jsonl"), events);
        files.insert(QStringLiteral("reviews.csv"), csv);
        files.insert(QStringLiteral("manifest.json"), QJsonDocument(QJsonObject{{QStringLiteral("counts"), QJsonObject{{QStringLiteral("reviews"), 2}}}}).toJson());
        const auto report = EvidenceReport::fromBundle(files);
        QCOMPARE(report.reviewList.size(), 2);
        QCOMPARE(report.reviewList[0].id, QStringLiteral("rv_real"));
        QCOMPARE(report.reviewList[0].state, QStringLiteral("approved"));
        QCOMPARE(report.reviewList[0].approvers, QStringLiteral("apikey:bob"));
        QCOMPARE(report.reviewList[0].reasons, forged);
        QCOMPARE(report.sodExceptions, QStringList{QStringLiteral("review rv_self: decided by its own requester apikey:eve")});
        QVERIFY(report.reviewsMismatch.isEmpty());
        files.insert(QStringLiteral("manifest.json"), QJsonDocument(QJsonObject{{QStringLiteral("counts"), QJsonObject{{QStringLiteral("reviews"), 3}}}}).toJson());
        QVERIFY(EvidenceReport::fromBundle(files).reviewsMismatch.contains(QStringLiteral("counts 3 review(s)")));
    }

    void bundleNamesStayInTheChosenFolder() {
        using vigil::console::EvidenceExport;
        QCOMPARE(EvidenceExport::bundleName("attachment; filename=\"vigil-evidence-20261123.zip\""), QStringLiteral("vigil-evidence-20261123"));
        QCOMPARE(EvidenceExport::bundleName("attachment; filename=\"../../ESCAPED-bundle.zip\""), QStringLiteral("ESCAPED-bundle"));
        QCOMPARE(EvidenceExport::bundleName("attachment; filename=\"/etc/cron.d/x.zip\""), QStringLiteral("x"));
        QCOMPARE(EvidenceExport::bundleName("attachment; filename=\"..\\..\\win.zip\""), QStringLiteral("win"));
        QCOMPARE(EvidenceExport::bundleName("attachment; filename=\"..zip\""), QStringLiteral("vigil-evidence"));
        QCOMPARE(EvidenceExport::bundleName("attachment; filename=\".hidden.zip\""), QStringLiteral("hidden"));
        QCOMPARE(EvidenceExport::bundleName("attachment; filename=\"a b;c.zip\""), QStringLiteral("a_b_c"));
        QCOMPARE(EvidenceExport::bundleName(""), QStringLiteral("vigil-evidence"));
    }

    // Export evidence: the dialog saves the signed bundle (ZIP and files) and a PDF report;
    // the bundle verifies offline and the report states the counts.
    void exportEvidenceWithAReport() {
        QTemporaryDir out;
        MainWindow window;
        window.show();
        window.connectTo(QUrl(gateway_->url()), audrey_);
        QTRY_VERIFY(child<QLabel>(window, "signedInLabel")->text().contains(QStringLiteral("apikey:audrey")));
        child<QTabWidget>(window, "pagesTabWidget")->setCurrentWidget(&window.sessionsPage());
        QTest::mouseClick(child<QPushButton>(window, "exportEvidenceButton"), Qt::LeftButton);
        auto* dialog = window.findChild<vigil::console::ExportDialog*>();
        QVERIFY(dialog);
        QTRY_VERIFY(dialog->isVisible());
        auto* destination = dialog->findChild<QLineEdit*>(QStringLiteral("destinationLineEdit"));
        destination->setText(out.path());
        auto* from = dialog->findChild<QDateTimeEdit*>(QStringLiteral("fromDateTimeEdit"));
        auto* to = dialog->findChild<QDateTimeEdit*>(QStringLiteral("toDateTimeEdit"));
        // A period the wrong way round is refused before anything is asked.
        from->setDateTime(to->dateTime().addSecs(60));
        QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("exportButton")), Qt::LeftButton);
        QVERIFY(dialog->findChild<QLabel*>(QStringLiteral("exportStatusLabel"))->text().contains(QStringLiteral("before")));
        from->setDateTime(QDateTime::currentDateTime().addSecs(-3600));
        QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("exportButton")), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!dialog->lastReport().isEmpty(), 20000);
        QCOMPARE(dialog->findChild<QProgressBar*>(QStringLiteral("exportProgressBar"))->value(), 100);
        QVERIFY(QFile::exists(dialog->lastZip()));

        // The bundle verifies offline, as the ZIP and as the directory with the report in it.
        QCOMPARE(QFileInfo(dialog->lastReport()).fileName(), QStringLiteral("report.pdf"));
        for (const auto& bundle : {dialog->lastZip(), QFileInfo(dialog->lastReport()).path()}) {
            QProcess verify;
            verify.start(QStringLiteral(VIGIL_VERIFY_BIN), {QStringLiteral("verify-bundle"), bundle});
            QVERIFY(verify.waitForFinished(30000));
            const auto verified = verify.readAllStandardOutput();
            QVERIFY2(verify.exitCode() == 0, verified.constData());
            // The report beside the evidence is named as unchecked, not passed over in silence.
            QCOMPARE(verified.contains("report.pdf: a reading aid beside the evidence, not signed and not checked"),
                     bundle != dialog->lastZip());
        }

        // The report says what is in it.
        QProcess text;
        text.start(QStringLiteral("pdftotext"), {QStringLiteral("-layout"), dialog->lastReport(), QStringLiteral("-")});
        QVERIFY2(text.waitForFinished(30000) && text.exitCode() == 0, "pdftotext (poppler-utils) must be installed");
        const auto pdf = QString::fromUtf8(text.readAllStandardOutput());
        QVERIFY2(pdf.contains(QStringLiteral("Sessions: 13.")), qPrintable(pdf));
        QVERIFY(pdf.contains(QStringLiteral("Reviews: 0.")));
        QVERIFY(pdf.contains(QStringLiteral("Exceptions: none")));
        QVERIFY(pdf.contains(QStringLiteral("Filters: none")));
        QVERIFY(pdf.contains(QStringLiteral("EMAIL")));
        QVERIFY(pdf.contains(QStringLiteral("Manifest SHA-256")));
        // The hash the report states is the manifest's, and it copies out as written.
        QFile manifestFile(dialog->lastZip().chopped(4) + QStringLiteral("/manifest.json"));
        QVERIFY(manifestFile.open(QIODevice::ReadOnly));
        const auto hash = QString::fromLatin1(QCryptographicHash::hash(manifestFile.readAll(), QCryptographicHash::Sha256).toHex());
        QVERIFY2(pdf.contains(hash), qPrintable(hash));
        QVERIFY2(pdf.simplified().contains(QStringLiteral("verified by the gateway")), qPrintable(pdf.left(1500)));
        QVERIFY(pdf.contains(QStringLiteral("apikey:audrey")));  // generated by
        QDir().mkpath(QStringLiteral(VIGIL_SCREENSHOT_DIR));
        QFile::remove(QStringLiteral(VIGIL_SCREENSHOT_DIR "/evidence-report.pdf"));
        QVERIFY(QFile::copy(dialog->lastReport(), QStringLiteral(VIGIL_SCREENSHOT_DIR "/evidence-report.pdf")));
        QVERIFY(dialog->grab().save(QStringLiteral(VIGIL_SCREENSHOT_DIR "/export-dialog.png")));
    }

    // A period's bundle is written to disk as it arrives and unpacked a piece at a time: the
    // console's memory barely grows for a bundle of ~100 MB, and nothing half-written stays
    // in the folder. A refused export leaves nothing there either.
    void aLargeBundleIsSavedAsItArrives() {
        QTemporaryDir big, out;
        const auto bigDb = big.filePath(QStringLiteral("large.db"));
        constexpr int kSessions = 3000;
        QVERIFY(recordLargeSessions(bigDb, big.filePath(QStringLiteral("signing-key.pem")), kSessions, 32 * 1024));
        const auto auditor = createApiKey(bigDb, QStringLiteral("audrey-large"), QStringLiteral("auditor"));
        QVERIFY(!auditor.isEmpty());
        auto config = basicGatewayConfig(mock_->url());
        config.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), bigDb}});
        auto gateway = startGateway(big, config, kUpstreamKey);
        QVERIFY(gateway);
        const auto leftovers = [&] { return QDir(out.path()).entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden); };
        const auto exportOf = [&](const QString& subjectFilter, const QString& destination) -> std::unique_ptr<MainWindow> {
            auto window = std::make_unique<MainWindow>();
            window->show();
            window->connectTo(QUrl(gateway->url()), auditor);
            if (!QTest::qWaitFor([&] { return child<QLabel>(*window, "signedInLabel")->text().contains(QStringLiteral("audrey-large")); }, 10000)) {
                return nullptr;
            }
            child<QTabWidget>(*window, "pagesTabWidget")->setCurrentWidget(&window->sessionsPage());
            QTest::mouseClick(child<QPushButton>(*window, "exportEvidenceButton"), Qt::LeftButton);
            auto* dialog = window->findChild<vigil::console::ExportDialog*>();
            if (dialog == nullptr || !QTest::qWaitFor([&] { return dialog->isVisible(); }, 5000)) return nullptr;
            dialog->findChild<QLineEdit*>(QStringLiteral("destinationLineEdit"))->setText(destination);
            dialog->findChild<QLineEdit*>(QStringLiteral("exportSubjectLineEdit"))->setText(subjectFilter);
            dialog->findChild<QDateTimeEdit*>(QStringLiteral("fromDateTimeEdit"))->setDateTime(QDateTime::currentDateTime().addSecs(-3600));
            QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("exportButton")), Qt::LeftButton);
            return window;
        };

        // Refused (no session of that subject): said in the dialog, and the folders made to
        // save it in are gone again.
        {
            auto window = exportOf(QStringLiteral("apikey:nobody"), out.filePath(QStringLiteral("new/folder")));
            QVERIFY(window);
            auto* dialog = window->findChild<vigil::console::ExportDialog*>();
            auto* status = dialog->findChild<QLabel*>(QStringLiteral("exportStatusLabel"));
            QTRY_VERIFY_WITH_TIMEOUT(status->text().contains(QStringLiteral("404")), 20000);
            QVERIFY2(status->text().contains(QStringLiteral("no recorded session")), qPrintable(status->text()));
            QVERIFY2(leftovers().isEmpty(), qPrintable(leftovers().join(QLatin1Char(' '))));
        }

        QVERIFY(resetPeakMemory());
        const auto before = peakMemoryKb();
        QVERIFY(before > 0);
        auto window = exportOf(QString(), out.path());
        QVERIFY(window);
        auto* dialog = window->findChild<vigil::console::ExportDialog*>();
        QTRY_VERIFY_WITH_TIMEOUT(!dialog->lastReport().isEmpty(), 120000);
        const auto grewKb = peakMemoryKb() - before;
        const auto zipKb = QFileInfo(dialog->lastZip()).size() / 1024;
        qInfo("bundle %lld KiB; the console's peak memory grew by %lld KiB", zipKb, grewKb);
        QVERIFY2(zipKb > kSessions * 32LL, qPrintable(QString::number(zipKb)));
        QVERIFY2(grewKb < 48 * 1024, qPrintable(QStringLiteral("the console's peak memory grew by %1 KiB for a bundle of %2 KiB").arg(grewKb).arg(zipKb)));
        // The ZIP, its files and the report; nothing else (no partial download).
        const auto name = QFileInfo(dialog->lastZip()).completeBaseName();
        QCOMPARE(leftovers(), (QStringList{name, name + QStringLiteral(".zip")}));
        QVERIFY(QFileInfo(QDir(out.path()).filePath(name + QStringLiteral("/events.jsonl"))).size() > kSessions * 32LL * 1024);
        QProcess text;
        text.start(QStringLiteral("pdftotext"), {QStringLiteral("-layout"), dialog->lastReport(), QStringLiteral("-")});
        QVERIFY(text.waitForFinished(30000) && text.exitCode() == 0);
        const auto pdf = QString::fromUtf8(text.readAllStandardOutput());
        QVERIFY2(pdf.contains(QStringLiteral("Sessions: %1.").arg(kSessions)), qPrintable(pdf.left(1500)));
        QProcess verify;
        verify.start(QStringLiteral(VIGIL_VERIFY_BIN), {QStringLiteral("verify-bundle"), dialog->lastZip()});
        QVERIFY(verify.waitForFinished(60000));
        QVERIFY2(verify.exitCode() == 0, verify.readAllStandardOutput().constData());
        window.reset();
        QCOMPARE(gateway->terminate(), 0);
    }

    // A requester may not read the recording: the page says so, nothing is listed.
    void aRequesterSeesNoSessions() {
        MainWindow window;
        window.show();
        window.connectTo(QUrl(gateway_->url()), alice_);
        QTRY_VERIFY(child<QLabel>(window, "signedInLabel")->text().contains(QStringLiteral("apikey:alice")));
        window.sessionsPage().refresh();
        QTRY_VERIFY(!window.sessionsPage().model().lastError().isEmpty());
        QVERIFY(window.sessionsPage().model().lastError().contains(QStringLiteral("may not read the recording")));
        QCOMPARE(window.sessionsPage().model().rowCount(), 0);
        // Said under the table for as long as it holds (not only in the status bar).
        auto* notice = child<QLabel>(window, "newerSessionsLabel");
        QVERIFY(!notice->isHidden());
        QVERIFY2(notice->text().contains(QStringLiteral("may not read the recording")) && notice->text().contains(QStringLiteral("Search tries again")),
                 qPrintable(notice->text()));
    }

    // The tests below add sessions: they come last (those above count them).

    // Summaries from the live events update the sessions on the table in place, whatever
    // order they and the pages come in; more new sessions than a page is said, not
    // papered over with a gap.
    void summariesUpdateTheTableInPlace() {
        vigil::console::GatewayClient client;
        client.setGateway(QUrl(gateway_->url()), audrey_);
        SessionsModel model(client);  // no view, no tester: nothing asks for more than the first page
        model.setPageSize(3);
        model.setFilters({});
        QTRY_COMPARE(model.rowCount(), 3);
        const QString top = model.index(0, 0).data(SessionsModel::IdRole).toString();
        QCOMPARE(top, longSession_);
        QCOMPARE(model.index(0, SessionsModel::Decision).data().toString(), QStringLiteral("allow"));

        // An end: status, details code and outcome at once; nothing new to fetch for it.
        QVERIFY(!model.applySummary(QStringLiteral("session.ended"),
                                    QJsonObject{{QStringLiteral("session_id"), top},
                                                {QStringLiteral("status"), 200},
                                                {QStringLiteral("code"), QStringLiteral("upstream_reset")},
                                                {QStringLiteral("outcome"), QStringLiteral("failed")}}));
        QCOMPARE(model.index(0, SessionsModel::Status).data().toString(), QStringLiteral("200 upstream_reset"));
        QCOMPARE(model.index(0, SessionsModel::Outcome).data().toString(), QStringLiteral("failed"));
        // Ended before any response reached the client (it went away): a dash, not "0".
        model.applySummary(QStringLiteral("session.ended"), QJsonObject{{QStringLiteral("session_id"), top},
                                                                        {QStringLiteral("status"), 0},
                                                                        {QStringLiteral("code"), QStringLiteral("client_closed")},
                                                                        {QStringLiteral("outcome"), QStringLiteral("interrupted")}});
        QCOMPARE(model.index(0, SessionsModel::Status).data().toString(), QStringLiteral("\u2014 client_closed"));
        // Still going: nothing.
        model.applySummary(QStringLiteral("session.ended"), QJsonObject{{QStringLiteral("session_id"), top},
                                                                        {QStringLiteral("status"), 0},
                                                                        {QStringLiteral("outcome"), QStringLiteral("in_progress")}});
        QCOMPARE(model.index(0, SessionsModel::Status).data().toString(), QString());
        // Another request of it: the more restrictive decision holds, whatever comes after;
        // its count comes with the next look at the newest.
        QVERIFY(model.applySummary(QStringLiteral("session.started"),
                                   QJsonObject{{QStringLiteral("session_id"), top}, {QStringLiteral("decision"), QStringLiteral("deny")}}));
        QVERIFY(model.applySummary(QStringLiteral("session.started"),
                                   QJsonObject{{QStringLiteral("session_id"), top}, {QStringLiteral("decision"), QStringLiteral("allow")}}));
        QCOMPARE(model.index(0, SessionsModel::Decision).data().toString(), QStringLiteral("deny"));
        // A session not on the table: the newest are to be looked at.
        QVERIFY(model.applySummary(QStringLiteral("session.started"), QJsonObject{{QStringLiteral("session_id"), QStringLiteral("not-on-the-table")}}));

        // Looking at the newest (nothing new yet) puts the gateway's values back.
        QSignalSpy checked(&model, &SessionsModel::newestChecked);
        const int rows = model.rowCount();
        model.refreshNewest();
        QTRY_COMPARE(checked.size(), 1);
        QCOMPARE(checked.first().at(0).toInt(), 0);
        QCOMPARE(checked.first().at(1).toBool(), false);
        QCOMPARE(model.rowCount(), rows);
        QCOMPARE(model.index(0, SessionsModel::Status).data().toString(), QStringLiteral("200"));
        QCOMPARE(model.index(0, SessionsModel::Outcome).data().toString(), QStringLiteral("completed"));
        QCOMPARE(model.index(0, SessionsModel::Decision).data().toString(), QStringLiteral("allow"));

        // Four new sessions and a page of three: none is put on top (the fourth would be
        // missing between them and the table), and the model says so.
        for (int i = 0; i < 4; ++i) {
            QCOMPARE(httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("burst %1").arg(i)),
                                 {{"Authorization", "Bearer " + alice_.toLatin1()}, {"Content-Type", "application/json"}})
                         .status,
                     200);
        }
        model.refreshNewest();
        QTRY_COMPARE(checked.size(), 2);
        QCOMPARE(checked.last().at(0).toInt(), 0);
        QCOMPARE(checked.last().at(1).toBool(), true);
        QCOMPARE(model.rowCount(), rows);
        QCOMPARE(model.index(0, 0).data(SessionsModel::IdRole).toString(), top);
    }

    // A session that comes to match the filters only when it ends (a slow answer, filtered
    // by status) is older than the sessions put on top meanwhile: it takes its place among
    // them instead of being skipped.
    void aSessionThatMatchesLateTakesItsPlace() {
        vigil::console::GatewayClient client;
        client.setGateway(QUrl(gateway_->url()), audrey_);
        SessionsModel model(client);
        SessionsModel::Filters filters;
        filters.status = QStringLiteral("200");
        model.setFilters(filters);
        QTRY_VERIFY(!model.loading() && model.rowCount() > 0);

        QNetworkAccessManager network;
        QNetworkRequest slowRequest(QUrl(gateway_->url() + QStringLiteral("/v1/chat/completions")));
        slowRequest.setRawHeader("Authorization", "Bearer " + alice_.toLatin1());
        slowRequest.setRawHeader("Content-Type", "application/json");
        slowRequest.setRawHeader("X-Mock-Fault", "slow-first-byte");
        slowRequest.setRawHeader("X-Mock-First-Byte-Delay-Ms", "1500");
        std::unique_ptr<QNetworkReply> slow(network.post(slowRequest, chatBody(QStringLiteral("take your time"))));
        QTest::qWait(300);  // its session has begun (no status yet: it does not match)
        const auto quick = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("quick")),
                                       {{"Authorization", "Bearer " + alice_.toLatin1()}, {"Content-Type", "application/json"}});
        QCOMPARE(quick.status, 200);
        const QString quickSession = QString::fromLatin1(quick.header("x-vigil-session"));
        QSignalSpy checked(&model, &SessionsModel::newestChecked);
        QVERIFY(model.refreshNewest());
        QTRY_COMPARE(checked.size(), 1);
        QCOMPARE(model.rowOf(quickSession), 0);
        QCOMPARE(checked.last().at(0).toInt(), 1);

        QTRY_VERIFY_WITH_TIMEOUT(slow->isFinished(), 10000);
        QCOMPARE(slow->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
        const QString slowSession = QString::fromLatin1(slow->rawHeader("X-Vigil-Session"));
        QVERIFY(!slowSession.isEmpty());
        QCOMPARE(model.rowOf(slowSession), -1);
        QVERIFY(model.refreshNewest());
        QTRY_COMPARE(checked.size(), 2);
        QCOMPARE(checked.last().at(0).toInt(), 1);
        QCOMPARE(checked.last().at(1).toBool(), false);
        QCOMPARE(model.rowOf(quickSession), 0);
        QCOMPARE(model.rowOf(slowSession), 1);  // started before the quick one
        QCOMPARE(model.index(1, SessionsModel::Status).data().toString(), QStringLiteral("200"));
    }

    // A conversation further down the table (not among the newest) gets a new request: its
    // request count and status follow, without a Search, where it is.
    void anOlderConversationFollowsItsNewRequests() {
        vigil::console::GatewayClient client;
        client.setGateway(QUrl(gateway_->url()), audrey_);
        SessionsModel model(client);
        model.setPageSize(3);
        model.setFilters({});
        QTRY_COMPARE(model.rowCount(), 3);
        QTRY_VERIFY(!model.loading());
        model.fetchMore({});
        QTRY_COMPARE(model.rowCount(), 6);
        QTRY_VERIFY(!model.loading());
        int row = -1;
        for (int i = 5; i >= 3 && row < 0; --i) {
            if (model.index(i, SessionsModel::Subject).data().toString().contains(QStringLiteral("alice"))) row = i;
        }
        QVERIFY2(row >= 0, "no session of alice's below the newest page");
        const QString id = model.index(row, 0).data(SessionsModel::IdRole).toString();
        const int requests = model.index(row, SessionsModel::Requests).data().toInt();
        QVERIFY(requests >= 1);

        // A denied request in it: count, status and details code change; the decision too.
        const auto denied = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("my password is hunter2")),
                                        {{"Authorization", "Bearer " + alice_.toLatin1()},
                                         {"Content-Type", "application/json"},
                                         {"X-Vigil-Session", id.toUtf8()}});
        QCOMPARE(denied.status, 403);
        QCOMPARE(QString::fromLatin1(denied.header("x-vigil-session")), id);
        QVERIFY(model.applySummary(QStringLiteral("session.started"), QJsonObject{{QStringLiteral("session_id"), id}}));
        QVERIFY(model.refreshNewest());
        QTRY_COMPARE(model.index(row, SessionsModel::Requests).data().toInt(), requests + 1);
        QCOMPARE(model.rowOf(id), row);  // where it was
        QCOMPARE(model.rowCount(), 6);
        QCOMPARE(model.index(row, SessionsModel::Status).data().toString(), QStringLiteral("403 policy_denied"));
        QCOMPARE(model.index(row, SessionsModel::Decision).data().toString(), QStringLiteral("deny"));

        // Sorted by another column (everything loaded first), the same.
        while (!model.allLoaded()) {
            model.fetchMore({});
            QTRY_VERIFY(!model.loading());
        }
        model.sort(SessionsModel::Requests, Qt::DescendingOrder);
        QCOMPARE(model.sortedBy().first, int(SessionsModel::Requests));
        const int sortedRow = model.rowOf(id);
        QCOMPARE(httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("and one more")),
                             {{"Authorization", "Bearer " + alice_.toLatin1()},
                              {"Content-Type", "application/json"},
                              {"X-Vigil-Session", id.toUtf8()}})
                     .status,
                 200);
        QVERIFY(model.applySummary(QStringLiteral("session.started"), QJsonObject{{QStringLiteral("session_id"), id}}));
        QVERIFY(model.refreshNewest());
        QTRY_COMPARE(model.index(sortedRow, SessionsModel::Requests).data().toInt(), requests + 2);
        QCOMPARE(model.index(sortedRow, SessionsModel::Status).data().toString(), QStringLiteral("200"));
        QCOMPARE(model.index(sortedRow, SessionsModel::Decision).data().toString(), QStringLiteral("deny"));

        // A summary that arrives while a look-up is on its way is newer than its answer: the
        // answer adds the request count and leaves the summary's status.
        QCOMPARE(httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("a third one")),
                             {{"Authorization", "Bearer " + alice_.toLatin1()},
                              {"Content-Type", "application/json"},
                              {"X-Vigil-Session", id.toUtf8()}})
                     .status,
                 200);
        QVERIFY(model.applySummary(QStringLiteral("session.started"), QJsonObject{{QStringLiteral("session_id"), id}}));
        QVERIFY(model.refreshNewest());  // the look-up is on its way
        QVERIFY(!model.applySummary(QStringLiteral("session.ended"),
                                    QJsonObject{{QStringLiteral("session_id"), id},
                                                {QStringLiteral("status"), 502},
                                                {QStringLiteral("code"), QStringLiteral("upstream_reset")},
                                                {QStringLiteral("outcome"), QStringLiteral("failed")}}));
        QTRY_COMPARE(model.index(model.rowOf(id), SessionsModel::Requests).data().toInt(), requests + 3);
        QCOMPARE(model.index(model.rowOf(id), SessionsModel::Status).data().toString(), QStringLiteral("502 upstream_reset"));
        QCOMPARE(model.index(model.rowOf(id), SessionsModel::Outcome).data().toString(), QStringLiteral("failed"));
    }

    // Refused in a way that another try would not change (here: the key has no auditor
    // role, 403): said once, and not asked again on every event until Search.
    void aRefusedListIsNotAskedAgainOnEveryEvent() {
        vigil::console::GatewayClient client;
        client.setGateway(QUrl(gateway_->url()), alice_);  // a requester
        SessionsModel model(client);
        QSignalSpy failed(&model, &SessionsModel::failed);
        model.setFilters({});
        QTRY_COMPARE(failed.size(), 1);
        QVERIFY2(failed.first().at(0).toString().contains(QStringLiteral("Search tries again")), qPrintable(failed.first().at(0).toString()));
        QVERIFY(model.halted());
        QCOMPARE(model.rowCount(), 0);
        // Events keep coming: nothing is asked. (The key is an auditor's now: a request
        // would succeed, and rows would appear.)
        client.setGateway(QUrl(gateway_->url()), audrey_);
        QSignalSpy loaded(&model, &SessionsModel::pageLoaded);
        QSignalSpy checked(&model, &SessionsModel::newestChecked);
        for (int i = 0; i < 3; ++i) {
            QVERIFY(model.applySummary(QStringLiteral("session.started"), QJsonObject{{QStringLiteral("session_id"), QStringLiteral("new-%1").arg(i)}}));
            QVERIFY(model.refreshNewest());
            QTest::qWait(100);
        }
        QCOMPARE(loaded.size(), 0);
        QCOMPARE(checked.size(), 0);
        QCOMPARE(failed.size(), 1);
        QCOMPARE(model.rowCount(), 0);
        // Search starts over.
        model.setFilters({});
        QTRY_VERIFY(model.rowCount() > 0);
        QVERIFY(!model.halted());
        QCOMPARE(failed.size(), 1);

        // A gateway error (503 here: a closed port gives no answer at all, also retried) is
        // another matter: the next event tries again (aFailedPageIsFetchedAgainWhenTrafficResumes).
    }

    // A page that failed (the gateway was away) stopped the table there. When traffic comes
    // again, the next look fetches that page again, then the newest: newest first, the
    // sessions below the first page and the new one on top; oldest first, the sessions that
    // began meanwhile at the end.
    void aFailedPageIsFetchedAgainWhenTrafficResumes() {
        const QUrl away(QStringLiteral("http://127.0.0.1:9"));  // nothing listens there
        const auto newSession = [this](const QString& text) {
            const auto r = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(text),
                                       {{"Authorization", "Bearer " + alice_.toLatin1()}, {"Content-Type", "application/json"}});
            return r.status == 200 ? QString::fromLatin1(r.header("x-vigil-session")) : QString();
        };
        vigil::console::GatewayClient client;
        client.setGateway(QUrl(gateway_->url()), audrey_);
        {
            SessionsModel model(client);
            model.setPageSize(3);
            model.setFilters({});
            QTRY_COMPARE(model.rowCount(), 3);
            QTRY_VERIFY(!model.loading());
            QSignalSpy failed(&model, &SessionsModel::failed);
            client.setGateway(away, audrey_);
            model.fetchMore({});
            QTRY_COMPARE(failed.size(), 1);
            QVERIFY(!model.lastError().isEmpty());
            QVERIFY(!model.canFetchMore({}));
            // Still away: each look tries that page again, and fails again.
            QVERIFY(model.refreshNewest());
            QTRY_COMPARE(failed.size(), 2);
            QVERIFY(model.refreshNewest());
            QTRY_COMPARE(failed.size(), 3);
            QVERIFY(!model.lastError().isEmpty());
            QCOMPARE(model.rowCount(), 3);

            client.setGateway(QUrl(gateway_->url()), audrey_);
            const QString fresh = newSession(QStringLiteral("back again"));
            QVERIFY(!fresh.isEmpty());
            QSignalSpy loaded(&model, &SessionsModel::pageLoaded);
            QSignalSpy checked(&model, &SessionsModel::newestChecked);
            QVERIFY(model.refreshNewest());
            QTRY_COMPARE(checked.size(), 1);
            QCOMPARE(loaded.size(), 1);  // the failed page, then the look at the newest
            QCOMPARE(checked.first().at(0).toInt(), 1);
            QCOMPARE(model.rowOf(fresh), 0);
            QCOMPARE(model.rowCount(), 7);  // the new one, the first page, the page that failed
            QVERIFY(model.lastError().isEmpty());
            QCOMPARE(failed.size(), 3);
        }
        {
            SessionsModel model(client);
            SessionsModel::Filters oldestFirst;
            oldestFirst.oldestFirst = true;
            model.setFilters(oldestFirst);
            QTRY_VERIFY(!model.loading() && model.rowCount() > 0);
            QVERIFY(model.allLoaded());
            const int rows = model.rowCount();
            QSignalSpy failed(&model, &SessionsModel::failed);
            client.setGateway(away, audrey_);
            const QString first = newSession(QStringLiteral("while the console cannot reach the gateway"));
            QVERIFY(!first.isEmpty());
            QVERIFY(model.refreshNewest());  // fetches past the end: that fails
            QTRY_COMPARE(failed.size(), 1);
            QCOMPARE(model.rowCount(), rows);

            client.setGateway(QUrl(gateway_->url()), audrey_);
            const QString second = newSession(QStringLiteral("and once it can again"));
            QVERIFY(!second.isEmpty());
            QVERIFY(model.refreshNewest());
            QTRY_COMPARE(model.rowCount(), rows + 2);
            QCOMPARE(model.rowOf(first), rows);
            QCOMPARE(model.rowOf(second), rows + 1);
            QTRY_VERIFY(!model.loading());
            QVERIFY(model.lastError().isEmpty());
        }
    }

    // While an auditor looks at the recording pages, new sessions appear on top (the rows in
    // view staying put), their ends fill in, an oldest-first table grows at its end, the
    // dashboard and the chain status follow; someone reading older sessions is told about a
    // burst instead of losing their place.
    void theRecordingPagesFollowTheTraffic() {
        MainWindow window;
        window.resize(1280, 420);
        window.show();
        auto& page = window.sessionsPage();
        auto& model = page.model();
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setPageSize(4);
        window.connectTo(QUrl(gateway_->url()), audrey_);
        QTRY_COMPARE_WITH_TIMEOUT(window.events().state(), EventStream::State::Live, 5000);
        auto* tabs = child<QTabWidget>(window, "pagesTabWidget");
        tabs->setCurrentWidget(&window.dashboardPage());
        QTRY_VERIFY_WITH_TIMEOUT(window.dashboardPage().loaded(), 5000);
        const int requestsBefore = window.dashboardPage().data().requests;
        tabs->setCurrentWidget(&page);
        auto* table = child<QTableView>(window, "sessionsTableView");
        QTRY_VERIFY(model.rowCount() >= 4);
        auto* chain = child<QLabel>(window, "chainStatusLabel");
        QTRY_VERIFY(chain->text().contains(QStringLiteral("verified through")));
        const QString chainBefore = chain->text();

        const auto ask = [&](const QString& prompt) {
            const auto r = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(prompt),
                                       {{"Authorization", "Bearer " + alice_.toLatin1()}, {"Content-Type", "application/json"}});
            return r.status == 200 ? QString::fromLatin1(r.header("x-vigil-session")) : QString();
        };
        // At the top: the new sessions come in above, newest first, with their status.
        const QString first = ask(QStringLiteral("live one"));
        const QString second = ask(QStringLiteral("live two"));
        QVERIFY(!first.isEmpty() && !second.isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(model.index(0, 0).data(SessionsModel::IdRole).toString(), second, 5000);
        QCOMPARE(model.index(1, 0).data(SessionsModel::IdRole).toString(), first);
        QCOMPARE(model.index(0, SessionsModel::Subject).data().toString(), QStringLiteral("apikey:alice"));
        QTRY_COMPARE(model.index(0, SessionsModel::Status).data().toString(), QStringLiteral("200"));
        QTRY_COMPARE(model.index(0, SessionsModel::Outcome).data().toString(), QStringLiteral("completed"));
        QVERIFY(table->verticalScrollBar()->value() == 0);

        // Reading the oldest, at the very end: the rows in view stay where they are.
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                table->scrollToBottom();
                return model.allLoaded();
            }(),
            10000);
        table->scrollToBottom();
        QVERIFY(table->verticalScrollBar()->value() > 0);
        QCOMPARE(table->verticalScrollBar()->value(), table->verticalScrollBar()->maximum());
        const QString inView = table->indexAt(QPoint(1, 1)).data(SessionsModel::IdRole).toString();
        QVERIFY(!inView.isEmpty());
        const int rowsBefore = model.rowCount();
        const QString third = ask(QStringLiteral("live three"));
        QTRY_COMPARE_WITH_TIMEOUT(model.rowOf(third), 0, 5000);
        QCOMPARE(model.rowCount(), rowsBefore + 1);
        QCOMPARE(table->indexAt(QPoint(1, 1)).data(SessionsModel::IdRole).toString(), inView);

        // The dashboard (10 s at most) and the chain status (the same) follow.
        QTRY_VERIFY_WITH_TIMEOUT(chain->text() != chainBefore, 15000);
        QVERIFY(chain->text().contains(QStringLiteral("verified through")));
        tabs->setCurrentWidget(&window.dashboardPage());
        QTRY_COMPARE_WITH_TIMEOUT(window.dashboardPage().data().requests, requestsBefore + 3, 15000);
        tabs->setCurrentWidget(&page);

        // A burst while a session is open further down: said, the place kept.
        table->selectRow(model.rowCount() / 2);
        table->scrollTo(model.index(model.rowCount() / 2, 0), QAbstractItemView::PositionAtTop);
        const QString selected = table->selectionModel()->selectedRows().value(0).data(SessionsModel::IdRole).toString();
        for (int i = 0; i < 5; ++i) QVERIFY(!ask(QStringLiteral("burst %1").arg(i)).isEmpty());
        auto* newer = child<QLabel>(window, "newerSessionsLabel");
        QTRY_VERIFY_WITH_TIMEOUT(newer->isVisible(), 5000);
        QCOMPARE(table->selectionModel()->selectedRows().value(0).data(SessionsModel::IdRole).toString(), selected);
        // Search shows the newest and the notice goes.
        QTest::mouseClick(child<QPushButton>(window, "searchSessionsButton"), Qt::LeftButton);
        QTRY_VERIFY(model.rowCount() >= 4);
        QVERIFY(!newer->isVisible());
        QTRY_COMPARE(model.index(0, SessionsModel::Subject).data().toString(), QStringLiteral("apikey:alice"));
        QVERIFY(model.index(0, SessionsModel::Started).data().toString() >= model.index(1, SessionsModel::Started).data().toString());

        // Oldest first, read to the end: a new session comes in at the end.
        auto* header = table->horizontalHeader();
        QTest::mouseClick(header->viewport(), Qt::LeftButton, {},
                          QPoint(header->sectionViewportPosition(SessionsModel::Started) + 10, header->height() / 2));
        QTRY_VERIFY(model.filters().oldestFirst);
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                table->scrollToBottom();
                return model.allLoaded();
            }(),
            10000);
        const QString last = ask(QStringLiteral("live at the end"));
        QTRY_COMPARE_WITH_TIMEOUT(model.index(model.rowCount() - 1, 0).data(SessionsModel::IdRole).toString(), last, 5000);
        QCOMPARE(model.rowOf(last), model.rowCount() - 1);
    }

    // An auditor opens the console: the Sessions table shows every column beside the
    // replay, a long value is elided rather than pushing the others out of view, and the
    // splitter stays where they drag it, also after a restart.
    void theTableShowsEveryColumnAndTheSplitterIsKept() {
        const QString longModel = QStringLiteral("an-uncommonly-long-model-name-") + QString(90, QLatin1Char('x'));
        QCOMPARE(httpRequest(gateway_->url(), "POST", "/v1/chat/completions", QJsonDocument(QJsonObject{
                                 {QStringLiteral("model"), longModel},
                                 {QStringLiteral("messages"), QJsonArray{QJsonObject{{QStringLiteral("role"), QStringLiteral("user")},
                                                                                     {QStringLiteral("content"), QStringLiteral("hi")}}}}}).toJson(),
                             {{"Authorization", "Bearer " + alice_.toLatin1()}, {"Content-Type", "application/json"}})
                     .status,
                 200);
        int dragged = 0;
        {
            // Closed without the splitter moved: nothing is kept, the next start fits again.
            MainWindow window;
            window.resize(1280, 800);
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            window.connectTo(QUrl(gateway_->url()), audrey_);
            child<QTabWidget>(window, "pagesTabWidget")->setCurrentWidget(&window.sessionsPage());
            QTRY_VERIFY(window.sessionsPage().model().rowCount() >= 10);
            window.close();
            QVERIFY(!QSettings().contains(QStringLiteral("sessions/splitter_v1")));
        }
        {
            MainWindow window;
            window.resize(1280, 800);
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            auto& page = window.sessionsPage();
            window.connectTo(QUrl(gateway_->url()), audrey_);
            child<QTabWidget>(window, "pagesTabWidget")->setCurrentWidget(&page);
            QTRY_VERIFY(page.model().rowCount() >= 10);
            QCOMPARE(page.model().index(0, SessionsModel::Model).data().toString(), longModel);
            auto* table = child<QTableView>(window, "sessionsTableView");
            auto* split = child<QSplitter>(window, "sessionsSplitter");
            auto* header = table->horizontalHeader();
            // Every column shows: no horizontal scrolling, the last one ends in view.
            QTRY_VERIFY2(table->horizontalScrollBar()->maximum() == 0,
                         qPrintable(QStringLiteral("columns %1 wide, %2 in view; splitter %3 | %4")
                                        .arg(header->length())
                                        .arg(table->viewport()->width())
                                        .arg(split->sizes().value(0))
                                        .arg(split->sizes().value(1))));
            QVERIFY(header->sectionViewportPosition(SessionsModel::Outcome) + header->sectionSize(SessionsModel::Outcome) <=
                    table->viewport()->width());
            QVERIFY(header->sectionSize(SessionsModel::Outcome) >= QFontMetrics(table->font()).horizontalAdvance(QStringLiteral("completed")));
            // The long model name is elided, the others fit what they show.
            QCOMPARE(header->sectionSize(SessionsModel::Model), 220);
            QVERIFY(header->sectionSize(SessionsModel::Subject) >= QFontMetrics(table->font()).horizontalAdvance(QStringLiteral("apikey:alice")));
            // The replay keeps a quarter of the width at least.
            const auto sizes = split->sizes();
            QVERIFY2(sizes[1] * 4 >= (sizes[0] + sizes[1]) - 4, qPrintable(QStringLiteral("%1 | %2").arg(sizes[0]).arg(sizes[1])));
            QVERIFY(child<QTextBrowser>(window, "replayTextBrowser")->isVisible());

            // Dragged narrower by the handle, it stays there as more sessions come.
            auto* handle = split->handle(1);
            const QPoint grip(handle->width() / 2, handle->height() / 2);
            dragged = sizes[0] - 200;
            QTest::mousePress(handle, Qt::LeftButton, {}, grip);
            QTest::mouseMove(handle, grip - QPoint(200, 0));
            QTest::mouseRelease(handle, Qt::LeftButton, {}, grip - QPoint(200, 0));
            QTRY_COMPARE(split->sizes()[0], dragged);
            QCOMPARE(httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("after the drag")),
                                 {{"Authorization", "Bearer " + alice_.toLatin1()}, {"Content-Type", "application/json"}})
                         .status,
                     200);
            QTRY_VERIFY(table->horizontalScrollBar()->maximum() > 0);  // columns no longer all fit: the user's choice
            QTest::qWait(1500);                                      // the new session's look at the newest
            QCOMPARE(split->sizes()[0], dragged);
            window.close();
        }
        // The next start puts it where it was.
        MainWindow again;
        again.resize(1280, 800);
        again.show();
        QVERIFY(QTest::qWaitForWindowExposed(&again));
        again.connectTo(QUrl(gateway_->url()), audrey_);
        child<QTabWidget>(again, "pagesTabWidget")->setCurrentWidget(&again.sessionsPage());
        QTRY_VERIFY(again.sessionsPage().model().rowCount() >= 10);
        QTest::qWait(200);
        QCOMPARE(child<QSplitter>(again, "sessionsSplitter")->sizes()[0], dragged);
    }
};

QTEST_MAIN(TestSessionsPage)
#include "tst_sessions_page.moc"

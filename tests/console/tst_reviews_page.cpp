// The pending-reviews page against a real gateway (mock upstream, API keys for a
// requester, approvers and an auditor), driven as a person would: a held request appears
// within a second, its prompt shows, Approve releases the waiting caller, Deny needs a
// reason, and the buttons are disabled (with the reason shown) on one's own request and
// for a non-approver. Saves a screenshot of the page with its data.

#include <QAbstractItemModelTester>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTabWidget>
#include <QChartView>
#include <QBarCategoryAxis>
#include <QSettings>
#include <QScrollBar>
#include <QTest>
#include <QTextDocument>
#include <QTextBrowser>

#include "managed_process.h"
#include "models/pending_reviews_model.h"
#include "raw_http.h"
#include "views/main_window.h"
#include "views/reviews_page.h"
#include "views/dashboard_page.h"

using namespace vigil::test;
using vigil::console::EventStream;
using vigil::console::MainWindow;
using vigil::console::DashboardPage;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-console-reviews-upstream-3131");

const char* const kPolicy =
    "{\"default_action\": \"deny\", \"rules\": [\n"
    "  {\"id\": \"requesters\", \"match\": {\"roles\": [\"requester\"]}, \"action\": \"allow\"},\n"
    "  {\"id\": \"confidential-projects\", \"description\": \"Board-level projects are only discussed with a lead's approval.\", \"if\": {\"keywords\": {\"words\": [\"project falcon\"]}}, \"action\": \"review\",\n"
    "   \"message\": \"Prompts that name Project Falcon need a team lead\",\n"
    "   \"review\": {\"approver_roles\": [\"approver\"], \"timeout_seconds\": 120}}]}\n";

// A caller whose request waits for the review on its own connection.
class HeldRequest {
public:
    HeldRequest(const QString& gatewayUrl, const QString& key, const QString& prompt) : conn_(QUrl(gatewayUrl)) {
        const auto body = chatBody(prompt);
        conn_.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.toLatin1() +
                      "\r\nContent-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" +
                      body);
    }
    HttpResponse answer() { return conn_.readResponse(20000); }

private:
    RawHttpConnection conn_;
};

}  // namespace

class TestReviewsPage : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<ManagedProcess> mock_;
    std::unique_ptr<ManagedProcess> gateway_;
    QString alice_, bob_, dave_, audrey_;

    QString dbPath() const { return dir_.filePath(QStringLiteral("vigil.db")); }

    template <class T>
    static T* child(MainWindow& w, const char* name) {
        auto* c = w.findChild<T*>(QString::fromLatin1(name));
        if (c == nullptr) qWarning("no child %s", name);
        return c;
    }

    static void signIn(MainWindow& window, const QString& url, const QString& key) {
        window.connectTo(QUrl(url), key);
        QTRY_COMPARE_WITH_TIMEOUT(window.events().state(), EventStream::State::Live, 5000);
    }

    static void clickRow(MainWindow& window, int row) {
        auto* table = child<QTableView>(window, "pendingReviewsTableView");
        const auto rect = table->visualRect(table->model()->index(row, 0));
        QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, rect.center());
    }

private slots:
    // What an approver reads is what the model gets: characters that reorder or hide text
    // (a right-to-left override turns "to A from B" into something else) are shown.
    void hiddenCharactersAreShownToTheApprover() {
        using vigil::console::visibleHtml;
        const QString text = QStringLiteral("pay to ") + QChar(0x202E) + QStringLiteral("BA escrow") + QChar(0x202C) +
                             QStringLiteral(" now") + QChar(0x200B) + QStringLiteral(" <b>");
        const auto html = visibleHtml(text);
        QCOMPARE(html, QStringLiteral("pay to <span style='background:#fff0b3;color:#7a4a00'>[U+202E]</span>BA escrow"
                                      "<span style='background:#fff0b3;color:#7a4a00'>[U+202C]</span> now"
                                      "<span style='background:#fff0b3;color:#7a4a00'>[U+200B]</span> &lt;b&gt;"));
        vigil::console::ReviewItem review;
        review.id = QStringLiteral("rv_1");
        review.requester = QStringLiteral("apikey:") + QChar(0x202E) + QStringLiteral("bob");
        review.messages.append({QStringLiteral("user"), text});
        const auto details = vigil::console::reviewDetailsHtml(review);
        QVERIFY(!details.contains(QChar(0x202E)));
        QVERIFY(!details.contains(QChar(0x200B)));
        QCOMPARE(details.count(QStringLiteral("[U+202E]")), 2);  // the requester's name and the prompt
    }

    // Files, images, tool calls and tool definitions are shown beside the prompt.
    void theOtherPartsAreShown() {
        vigil::console::ReviewItem review;
        review.id = QStringLiteral("rv_3");
        review.messages.append({QStringLiteral("user"), QStringLiteral("summarise this")});
        review.otherParts.append({QStringLiteral("messages[0].content[1]"), QStringLiteral("file"),
                                  QStringLiteral("{\"file\":{\"filename\":\"customers.csv\"}}")});
        review.otherPartsOmitted = 3;
        QTextDocument doc;
        doc.setHtml(vigil::console::reviewDetailsHtml(review));
        const auto text = doc.toPlainText();
        QVERIFY2(text.contains(QStringLiteral("Also in the request")), qPrintable(text));
        QVERIFY(text.contains(QStringLiteral("file messages[0].content[1]")));
        QVERIFY(text.contains(QStringLiteral("{\"file\":{\"filename\":\"customers.csv\"}}")));
        QVERIFY(text.contains(QStringLiteral("and 3 more parts")));
    }

    void initTestCase() {
        QVERIFY(dir_.isValid());
        // The console's settings (window, splitters) in the test's own folder.
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, dir_.filePath(QStringLiteral("settings")));
        QCoreApplication::setOrganizationName(QStringLiteral("Vigil"));
        QCoreApplication::setApplicationName(QStringLiteral("Vigil Console"));
        mock_ = startMockUpstream(kUpstreamKey);
        QVERIFY(mock_);
        alice_ = createApiKey(dbPath(), QStringLiteral("alice"), QStringLiteral("requester"));
        bob_ = createApiKey(dbPath(), QStringLiteral("bob"), QStringLiteral("approver"));
        dave_ = createApiKey(dbPath(), QStringLiteral("dave"), QStringLiteral("approver,requester"));
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
    }

    void cleanupTestCase() {
        if (gateway_) QCOMPARE(gateway_->terminate(), 0);
    }

    void approverReleasesAWaitingRequest() {
        MainWindow window;
        QAbstractItemModelTester tester(&window.pendingReviews(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        signIn(window, gateway_->url(), bob_);
        QVERIFY(child<QLabel>(window, "signedInLabel")->text().contains(QStringLiteral("apikey:bob")));
        QVERIFY(child<QLabel>(window, "connectionIndicatorLabel")->text().contains(QStringLiteral("Live")));
        QVERIFY(!window.events().summaries());  // an approver: reviews only, not every request's summaries

        QElapsedTimer sent;
        sent.start();
        HeldRequest held(gateway_->url(), alice_, QStringLiteral("Summarise the Project Falcon launch plan for the board."));
        QTRY_COMPARE_WITH_TIMEOUT(window.pendingReviews().rowCount(), 1, 3000);
        QVERIFY2(sent.elapsed() < 1000, qPrintable(QString::number(sent.elapsed())));
        const auto model = window.pendingReviews().index(0, vigil::console::PendingReviewsModel::Requester);
        QCOMPARE(model.data().toString(), QStringLiteral("apikey:alice"));
        QCOMPARE(window.pendingReviews().index(0, vigil::console::PendingReviewsModel::Rule).data().toString(),
                 QStringLiteral("confidential-projects"));
        QCOMPARE(window.pendingReviews().index(0, vigil::console::PendingReviewsModel::Quorum).data().toString(), QStringLiteral("0/1"));

        auto* approve = child<QPushButton>(window, "approveButton");
        auto* deny = child<QPushButton>(window, "denyButton");
        QVERIFY(!approve->isEnabled());  // nothing selected yet
        clickRow(window, 0);
        QTRY_VERIFY(child<QTextBrowser>(window, "reviewDetailsTextBrowser")->toPlainText().contains(
            QStringLiteral("Summarise the Project Falcon launch plan for the board.")));
        QVERIFY(child<QTextBrowser>(window, "reviewDetailsTextBrowser")->toPlainText().contains(
            QStringLiteral("Prompts that name Project Falcon need a team lead")));
        QVERIFY(child<QTextBrowser>(window, "reviewDetailsTextBrowser")->toPlainText().contains(
            QStringLiteral("Board-level projects are only discussed with a lead's approval.")));
        // What the policy matched is highlighted in the prompt, and said why.
        const auto html = child<QTextBrowser>(window, "reviewDetailsTextBrowser")->toHtml();
        QVERIFY2(html.contains(QStringLiteral("#ffd2cc")), qPrintable(html));
        QVERIFY(child<QTextBrowser>(window, "reviewDetailsTextBrowser")->toPlainText().contains(
            QStringLiteral("keywords [project falcon] matched message 1")));
        QVERIFY(approve->isEnabled());
        QVERIFY(!deny->isEnabled());  // a denial needs a reason
        QVERIFY(child<QLabel>(window, "decisionHintLabel")->text().contains(QStringLiteral("reason")));
        // Even on a small window, every column shows (how long it waits, its approvals)
        // beside the prompt.
        window.resize(900, 640);
        auto* table = child<QTableView>(window, "pendingReviewsTableView");
        QTRY_COMPARE(table->horizontalScrollBar()->maximum(), 0);
        const auto* header = table->horizontalHeader();
        const int quorum = vigil::console::PendingReviewsModel::Quorum;
        QVERIFY(header->sectionViewportPosition(quorum) + QFontMetrics(table->font()).horizontalAdvance(QStringLiteral("0/1")) <=
                table->viewport()->width());
        QVERIFY(child<QTextBrowser>(window, "reviewDetailsTextBrowser")->width() >= window.width() / 4);

        // Screenshot of the page with its data, for people without a display.
        const QString shots = QStringLiteral(VIGIL_SCREENSHOT_DIR);
        QDir().mkpath(shots);
        QVERIFY(window.grab().save(shots + QStringLiteral("/pending-reviews.png")));

        QString asked;
        window.reviewsPage().setConfirmation([&](const QString& question) {
            asked = question;
            return true;
        });
        QTest::mouseClick(approve, Qt::LeftButton);
        QVERIFY(asked.contains(QStringLiteral("apikey:alice")));
        // (the answer is read with a blocking socket: let the approval go out first)
        QTRY_VERIFY(child<QLabel>(window, "decisionResultLabel")->text().contains(QStringLiteral("Approved")));
        const auto answer = held.answer();
        QCOMPARE(answer.status, 200);
        QVERIFY(answer.body.contains("Hello from the Vigil mock upstream."));
        QTRY_COMPARE(window.pendingReviews().rowCount(), 0);
        QVERIFY(child<QLabel>(window, "decisionResultLabel")->text().contains(QStringLiteral("Approved")));
    }

    // A prompt longer than the preview the events carry is read whole before anyone may
    // decide: its end, which the preview leaves out, is in the details.
    void aLongPromptIsReadWholeBeforeADecision() {
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        signIn(window, gateway_->url(), bob_);
        const QString prompt = QStringLiteral("Project Falcon appendix: ") + QString(40'000, QLatin1Char('q')) + QStringLiteral(" END-OF-APPENDIX");
        HeldRequest held(gateway_->url(), alice_, prompt);
        QTRY_COMPARE_WITH_TIMEOUT(window.pendingReviews().rowCount(), 1, 3000);
        QVERIFY(window.pendingReviews().at(0)->partial);  // the event's preview
        QVERIFY(!window.pendingReviews().at(0)->messages.last().text.contains(QStringLiteral("END-OF-APPENDIX")));
        clickRow(window, 0);
        auto* details = child<QTextBrowser>(window, "reviewDetailsTextBrowser");
        QTRY_VERIFY(details->toPlainText().contains(QStringLiteral("END-OF-APPENDIX")));
        QVERIFY(!window.pendingReviews().at(0)->partial);
        QVERIFY(!details->toPlainText().contains(QStringLiteral("the first part only")));
        auto* approve = child<QPushButton>(window, "approveButton");
        QTRY_VERIFY(approve->isEnabled());
        window.reviewsPage().setConfirmation([](const QString&) { return true; });
        QTest::mouseClick(approve, Qt::LeftButton);
        QTRY_VERIFY(child<QLabel>(window, "decisionResultLabel")->text().contains(QStringLiteral("Approved")));
        QCOMPARE(held.answer().status, 200);
        // A preview shown on its own says that it is one.
        vigil::console::ReviewItem preview;
        preview.id = QStringLiteral("rv_2");
        preview.partial = true;
        preview.messages.append({QStringLiteral("user"), QStringLiteral("Project Falcon"), 40'000});
        QVERIFY(vigil::console::reviewDetailsHtml(preview).contains(QStringLiteral("the first part only, of 40000 bytes")));
    }

    // An approver reading far down a long prompt keeps their place while other reviews are
    // decided elsewhere (the details are laid out again only when they change), and the time
    // left is kept current above them.
    void theApproverKeepsTheirPlaceWhileOtherReviewsGo() {
        MainWindow window;
        window.resize(1200, 700);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        signIn(window, gateway_->url(), bob_);
        QString prompt = QStringLiteral("Project Falcon minutes\n");
        for (int i = 0; i < 600; ++i) prompt += QStringLiteral("line %1 of the board minutes\n").arg(i);
        HeldRequest longOne(gateway_->url(), alice_, prompt);
        QTRY_COMPARE_WITH_TIMEOUT(window.pendingReviews().rowCount(), 1, 3000);
        HeldRequest other(gateway_->url(), alice_, QStringLiteral("Project Falcon: a short one"));
        QTRY_COMPARE_WITH_TIMEOUT(window.pendingReviews().rowCount(), 2, 3000);
        const auto longId = window.pendingReviews().at(0)->messages.first().text.startsWith(QStringLiteral("Project Falcon minutes"))
                                ? window.pendingReviews().at(0)->id
                                : window.pendingReviews().at(1)->id;
        const auto otherId = window.pendingReviews().at(0)->id == longId ? window.pendingReviews().at(1)->id : window.pendingReviews().at(0)->id;
        window.reviewsPage().selectReview(longId);
        auto* details = child<QTextBrowser>(window, "reviewDetailsTextBrowser");
        QTRY_VERIFY(details->toPlainText().contains(QStringLiteral("line 599 of the board minutes")));
        auto* bar = details->verticalScrollBar();
        QTRY_VERIFY(bar->maximum() > 1000);
        bar->setValue(bar->maximum() / 2);
        const int place = bar->value();
        // Dave decides the other review: it leaves bob's list.
        QCOMPARE(httpRequest(gateway_->url(), "POST", "/api/reviews/" + otherId.toLatin1() + "/approve", {},
                             {{"Authorization", "Bearer " + dave_.toLatin1()}})
                     .status,
                 200);
        QTRY_COMPARE_WITH_TIMEOUT(window.pendingReviews().rowCount(), 1, 3000);
        QCOMPARE(other.answer().status, 200);
        QCOMPARE(window.reviewsPage().selectedReviewId(), longId);
        QCOMPARE(bar->value(), place);
        // The time left, above the details, follows the clock.
        auto* deadline = child<QLabel>(window, "reviewDeadlineLabel");
        QVERIFY(deadline->isVisible());
        QVERIFY2(deadline->text().contains(QStringLiteral("(in 1 min)")), qPrintable(deadline->text()));  // 120 s from the policy
        const auto deadlineAt = window.pendingReviews().at(0)->deadline;
        window.pendingReviews().setClock([deadlineAt] { return deadlineAt.addSecs(-30); });
        QTRY_VERIFY_WITH_TIMEOUT(deadline->text().contains(QStringLiteral("(in 30 s)")), 7000);  // the next tick
        window.pendingReviews().setClock([deadlineAt] { return deadlineAt.addSecs(5); });
        QTRY_VERIFY_WITH_TIMEOUT(deadline->text().contains(QStringLiteral("has passed")), 7000);
        QCOMPARE(bar->value(), place);  // none of this moved the prompt
        window.pendingReviews().setClock([] { return QDateTime::currentDateTimeUtc(); });
        QCOMPARE(httpRequest(gateway_->url(), "POST", "/api/reviews/" + longId.toLatin1() + "/deny", R"({"reason":"not now"})",
                             {{"Authorization", "Bearer " + dave_.toLatin1()}})
                     .status,
                 200);
        QCOMPARE(longOne.answer().status, 403);
    }

    void denyNeedsAReasonAndAnswersTheCaller() {
        MainWindow window;
        window.show();
        signIn(window, gateway_->url(), bob_);
        HeldRequest held(gateway_->url(), alice_, QStringLiteral("Send me the Project Falcon customer list."));
        QTRY_COMPARE_WITH_TIMEOUT(window.pendingReviews().rowCount(), 1, 3000);
        clickRow(window, 0);
        auto* deny = child<QPushButton>(window, "denyButton");
        QTRY_VERIFY(child<QPushButton>(window, "approveButton")->isEnabled());
        QVERIFY(!deny->isEnabled());
        QTest::keyClicks(child<QLineEdit>(window, "reasonLineEdit"), QStringLiteral("customer data stays inside"));
        QVERIFY(deny->isEnabled());
        window.reviewsPage().setConfirmation([](const QString&) { return true; });
        QTest::mouseClick(deny, Qt::LeftButton);
        QTRY_VERIFY(child<QLabel>(window, "decisionResultLabel")->text().contains(QStringLiteral("Denied")));
        const auto answer = held.answer();
        QCOMPARE(answer.status, 403);
        QCOMPARE(answer.errorCode(), QStringLiteral("review_denied"));
        QVERIFY(answer.body.contains("customer data stays inside"));
        QTRY_COMPARE(window.pendingReviews().rowCount(), 0);
    }

    // Declining the confirmation sends nothing.
    void cancelledConfirmationSendsNothing() {
        MainWindow window;
        window.show();
        signIn(window, gateway_->url(), bob_);
        HeldRequest held(gateway_->url(), alice_, QStringLiteral("Project Falcon: one more question."));
        QTRY_COMPARE_WITH_TIMEOUT(window.pendingReviews().rowCount(), 1, 3000);
        clickRow(window, 0);
        window.reviewsPage().setConfirmation([](const QString&) { return false; });
        QTest::mouseClick(child<QPushButton>(window, "approveButton"), Qt::LeftButton);
        QTest::qWait(300);
        QCOMPARE(window.pendingReviews().rowCount(), 1);
        window.reviewsPage().setConfirmation([](const QString&) { return true; });
        QTest::mouseClick(child<QPushButton>(window, "approveButton"), Qt::LeftButton);
        QTRY_COMPARE(window.pendingReviews().rowCount(), 0);
        QCOMPARE(held.answer().status, 200);
    }

    // One's own request, and a person without an approver role: the buttons say why not.
    void buttonsAreDisabledWithTheReasonShown() {
        MainWindow mine;
        mine.show();
        signIn(mine, gateway_->url(), dave_);
        HeldRequest held(gateway_->url(), dave_, QStringLiteral("Project Falcon numbers, asked by dave"));
        QTRY_COMPARE_WITH_TIMEOUT(mine.pendingReviews().rowCount(), 1, 3000);
        clickRow(mine, 0);
        QTRY_VERIFY(child<QLabel>(mine, "decisionHintLabel")->text().contains(QStringLiteral("You made this request")));
        QVERIFY(!child<QPushButton>(mine, "approveButton")->isEnabled());
        QVERIFY(!child<QPushButton>(mine, "denyButton")->isEnabled());

        MainWindow auditor;
        auditor.show();
        signIn(auditor, gateway_->url(), audrey_);
        QVERIFY(auditor.events().summaries());  // the recording pages follow them
        QTRY_COMPARE_WITH_TIMEOUT(auditor.pendingReviews().rowCount(), 1, 3000);  // loaded at sign-in
        clickRow(auditor, 0);
        QTRY_VERIFY(child<QLabel>(auditor, "decisionHintLabel")->text().contains(QStringLiteral("approver role")));
        QVERIFY(!child<QPushButton>(auditor, "approveButton")->isEnabled());

        // Another approver decides it; both windows drop it.
        MainWindow other;
        other.show();
        signIn(other, gateway_->url(), bob_);
        QTRY_COMPARE_WITH_TIMEOUT(other.pendingReviews().rowCount(), 1, 3000);
        clickRow(other, 0);
        other.reviewsPage().setConfirmation([](const QString&) { return true; });
        QTRY_VERIFY(child<QPushButton>(other, "approveButton")->isEnabled());
        QTest::mouseClick(child<QPushButton>(other, "approveButton"), Qt::LeftButton);
        QTRY_COMPARE(mine.pendingReviews().rowCount(), 0);
        QTRY_COMPARE(auditor.pendingReviews().rowCount(), 0);
        QCOMPARE(held.answer().status, 200);
    }

    // The live connection drops: the console reconnects by itself and resumes from the last
    // event it had, so a review that opened meanwhile still appears (without a reload).
    void reconnectsAndResumesFromItsLastEvent() {
        MainWindow window;
        window.show();
        signIn(window, gateway_->url(), bob_);
        HeldRequest first(gateway_->url(), alice_, QStringLiteral("Project Falcon before the drop"));
        QTRY_COMPARE_WITH_TIMEOUT(window.pendingReviews().rowCount(), 1, 3000);
        const auto before = window.events().lastSeq();
        QVERIFY(before > 0);
        QSignalSpy resyncs(&window.events(), &EventStream::resyncNeeded);
        window.events().dropConnection();
        QTRY_COMPARE(window.events().state(), EventStream::State::Reconnecting);
        QVERIFY(child<QLabel>(window, "connectionIndicatorLabel")->text().contains(QStringLiteral("Reconnecting")));
        HeldRequest second(gateway_->url(), alice_, QStringLiteral("Project Falcon while the console was away"));
        QTRY_COMPARE_WITH_TIMEOUT(window.events().state(), EventStream::State::Live, 5000);
        QTRY_COMPARE_WITH_TIMEOUT(window.pendingReviews().rowCount(), 2, 3000);
        QCOMPARE(resyncs.count(), 0);  // resumed from its sequence number, not reloaded
        QVERIFY(window.events().lastSeq() > before);
        // Tidy up: approve both.
        window.reviewsPage().setConfirmation([](const QString&) { return true; });
        for (int i = 0; i < 2; ++i) {
            clickRow(window, 0);
            QTRY_VERIFY(child<QPushButton>(window, "approveButton")->isEnabled());
            QTest::mouseClick(child<QPushButton>(window, "approveButton"), Qt::LeftButton);
            QTRY_COMPARE(window.pendingReviews().rowCount(), 1 - i);
        }
        QCOMPARE(first.answer().status, 200);
        QCOMPARE(second.answer().status, 200);
    }

    // A wrong key: said so, nothing connected.
    void aRefusedSignInIsExplained() {
        MainWindow window;
        window.show();
        window.connectTo(QUrl(gateway_->url()), QStringLiteral("vgl_not_a_real_key_0000000000000000000000"));
        QTRY_VERIFY(child<QLabel>(window, "signedInLabel")->text().contains(QStringLiteral("Sign-in refused")));
        QCOMPARE(window.events().state(), EventStream::State::Disconnected);
    }

    // An auditor's dashboard counts the reviews decided, each decided outcome with its median
    // time to decision shown under its name (not cut off).
    void theDashboardCountsReviewsWithTheirMedianTime() {
        // One review approved and one denied, whatever ran before.
        for (const auto* verb : {"approve", "deny"}) {
            const QString prompt = QStringLiteral("Project Falcon for the dashboard (%1)").arg(QLatin1String(verb));
            HeldRequest held(gateway_->url(), alice_, prompt);
            QString id;
            QTRY_VERIFY_WITH_TIMEOUT(
                [&] {
                    const auto list = httpRequest(gateway_->url(), "GET", "/api/reviews?state=pending", {},
                                                  {{"Authorization", "Bearer " + bob_.toLatin1()}});
                    for (const auto& v : list.json().value(QStringLiteral("reviews")).toArray()) {
                        const auto review = v.toObject();
                        if (review.value(QStringLiteral("messages")).toArray().first().toObject().value(QStringLiteral("text")).toString() == prompt) {
                            id = review.value(QStringLiteral("id")).toString();
                        }
                    }
                    return !id.isEmpty();
                }(),
                5000);
            QTest::qWait(50);  // a time to decision above zero
            const auto decided = httpRequest(gateway_->url(), "POST", "/api/reviews/" + id.toLatin1() + "/" + verb, "{\"reason\":\"dashboard test\"}",
                                             {{"Authorization", "Bearer " + bob_.toLatin1()}, {"Content-Type", "application/json"}});
            QCOMPARE(decided.status, 200);
            QCOMPARE(held.answer().status, QByteArray(verb) == "approve" ? 200 : 403);
        }
        MainWindow window;
        window.resize(1280, 800);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        signIn(window, gateway_->url(), audrey_);
        auto& dashboard = window.dashboardPage();
        child<QTabWidget>(window, "pagesTabWidget")->setCurrentWidget(&dashboard);
        QTRY_VERIFY_WITH_TIMEOUT(dashboard.loaded(), 5000);
        QVERIFY(dashboard.data().reviewsByOutcome.value(QStringLiteral("approved")) >= 1);
        QVERIFY(dashboard.data().reviewsByOutcome.value(QStringLiteral("denied")) >= 1);
        QVERIFY(dashboard.data().medianSecondsToDecision.value(QStringLiteral("approved")) > 0);
        auto* view = child<QChartView>(window, "reviewsChartView");
        QVERIFY(view != nullptr && view->chart() != nullptr);
        const auto axes = view->chart()->axes(Qt::Horizontal);
        QCOMPARE(axes.size(), 1);
        auto* outcomes = qobject_cast<QBarCategoryAxis*>(axes.first());
        QVERIFY(outcomes != nullptr);
        const auto categories = outcomes->categories();
        QCOMPARE(categories.size(), 5);
        const auto approved = categories.first();
        QVERIFY2(approved.startsWith(QStringLiteral("approved<br>")) &&
                     approved.endsWith(DashboardPage::formatMedian(dashboard.data().medianSecondsToDecision.value(QStringLiteral("approved")))),
                 qPrintable(approved));
        QCOMPARE(categories.last(), QStringLiteral("pending"));
        QVERIFY(!outcomes->labelsTruncated());
    }
};

QTEST_MAIN(TestReviewsPage)
#include "tst_reviews_page.moc"

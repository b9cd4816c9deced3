// The review manager and the event bus on their own (no gateway): verdicts with
// segregation of duties, quorum, expiry on an injected clock, ticket grants released
// exactly once, what a restart keeps, and the bus's replay, gap notice and slow subscribers.

#include <QTest>

#include <atomic>

#include <nlohmann/json.hpp>

#include "auth/identity.h"
#include "events/event_bus.h"
#include "review/review_manager.h"

using namespace vigil;
using json = nlohmann::json;

namespace {

constexpr std::int64_t kStart = 1'800'000'000'000'000;  // Unix microseconds

auth::Identity person(const std::string& subject, std::vector<std::string> roles) {
    auth::Identity i;
    i.method = auth::Identity::Method::ApiKey;
    i.subject = subject;
    i.issuer = "vigil";
    i.roles = std::move(roles);
    return i;
}

review::Review draft(const std::string& subject, review::Review::Mode mode = review::Review::Mode::Hold, int quorum = 1,
                     const std::string& body = "body-hash-1") {
    review::Review r;
    r.mode = mode;
    r.sessionId = "s-" + subject;
    r.requestId = "r-" + subject;
    r.requester.subject = subject;
    r.requester.issuer = "vigil";
    r.connection = "openai";
    r.method = "POST";
    r.path = "/v1/chat/completions";
    r.target = "/v1/chat/completions";
    r.rules = {"needs-review"};
    r.approverRoles = {"approver", "security-lead"};
    r.quorum = quorum;
    r.bodySha256 = body;
    r.messages = json::array({{{"role", "user"}, {"text", "hello"}}});
    return r;
}

struct Woken {
    std::shared_ptr<std::atomic<bool>> flag = std::make_shared<std::atomic<bool>>(false);
    void watch(const std::shared_ptr<net::WakeSignal>& signal) {
        signal->setWaker([f = flag] { f->store(true); });
    }
    bool operator()() const { return flag->load(); }
};

}  // namespace

class TestReviewManager : public QObject {
    Q_OBJECT
    std::atomic<std::int64_t> now_{kStart};
    std::shared_ptr<events::EventBus> bus_;
    std::vector<std::string> pushed_;  // bus message types, in order
    std::shared_ptr<events::EventBus::Subscription> subscription_;

    std::unique_ptr<review::ReviewManager> manager(review::ReviewManager::Options options = {}) {
        bus_ = std::make_shared<events::EventBus>(100, 1);
        pushed_.clear();
        subscription_ = bus_->subscribe(std::nullopt, [this](const std::string& m) {
            pushed_.push_back(json::parse(m)["type"].get<std::string>());
            return true;
        });
        auto m = std::make_unique<review::ReviewManager>(options, nullptr, bus_, [this] { return now_.load(); });
        m->start({});
        return m;
    }

private slots:
    void init() { now_ = kStart; }

    void segregationOfDutiesAndVerdicts() {
        auto m = manager();
        const auto created = m->create(draft("apikey:alice"), std::chrono::seconds(60));
        QVERIFY(created && !created->reused);
        QVERIFY(created->id.starts_with("rv_") && created->id.size() == 35);
        Woken woken;
        woken.watch(created->signal);
        QCOMPARE(pushed_.back(), std::string("review.pending"));

        // The requester, whatever its roles, never decides its own review.
        auto v = m->decide(created->id, person("apikey:alice", {"approver", "admin"}), true, "");
        QVERIFY(v.error && *v.error == DetailsCode::SelfApprovalForbidden);
        v = m->decide(created->id, person("apikey:audrey", {"auditor", "admin"}), true, "");
        QVERIFY(v.error && *v.error == DetailsCode::NotAnApprover);
        v = m->decide(created->id, person("apikey:bob", {"approver"}), false, "");
        QVERIFY(v.error && *v.error == DetailsCode::InvalidRequest);
        v = m->decide("rv_00000000000000000000000000000000", person("apikey:bob", {"approver"}), true, "");
        QVERIFY(v.error && *v.error == DetailsCode::NotFound);
        QVERIFY(m->get(created->id)->pending());
        QVERIFY(!woken());

        // Any approver role of the review will do.
        v = m->decide(created->id, person("apikey:sam", {"security-lead"}), true, "fine");
        QVERIFY(!v.error);
        QVERIFY(v.durable);  // no recorder: open at once
        QVERIFY(v.durable->ok->load());
        QCOMPARE(v.review->state, review::Review::State::Approved);
        QCOMPARE(v.review->approvals.size(), std::size_t{1});
        QCOMPARE(v.review->approvals[0].reason, std::string("fine"));
        QVERIFY(woken());
        QCOMPARE(pushed_.back(), std::string("review.decided"));
        v = m->decide(created->id, person("apikey:bob", {"approver"}), false, "too late");
        QVERIFY(v.error && *v.error == DetailsCode::ReviewAlreadyDecided);
        QCOMPARE(m->pendingCount(), std::size_t{0});
    }

    void quorumNeedsDistinctApproversAndOneDenialEndsIt() {
        auto m = manager();
        const auto a = m->create(draft("apikey:alice", review::Review::Mode::Hold, 2), std::chrono::seconds(60));
        QVERIFY(!m->decide(a->id, person("apikey:bob", {"approver"}), true, "").error);
        QCOMPARE(pushed_.back(), std::string("review.updated"));
        QVERIFY(m->get(a->id)->pending());
        auto v = m->decide(a->id, person("apikey:bob", {"approver"}), true, "");
        QVERIFY(v.error && *v.error == DetailsCode::ReviewAlreadyDecided);
        QVERIFY(!m->decide(a->id, person("apikey:carol", {"approver"}), true, "").error);
        QCOMPARE(m->get(a->id)->state, review::Review::State::Approved);

        const auto b = m->create(draft("apikey:alice", review::Review::Mode::Hold, 3), std::chrono::seconds(60));
        QVERIFY(!m->decide(b->id, person("apikey:bob", {"approver"}), true, "").error);
        v = m->decide(b->id, person("apikey:carol", {"approver"}), false, "no budget");
        QVERIFY(!v.error);
        QCOMPARE(v.review->state, review::Review::State::Denied);
        QCOMPARE(v.review->denial->subject, std::string("apikey:carol"));
        QCOMPARE(v.review->denial->reason, std::string("no budget"));
    }

    // Two review rules decided: each one's approvers and quorum must be met, so adding a
    // laxer rule's keyword to a prompt does not lower the bar of the stricter one.
    void everyDecidingRulesRequirementMustBeMet() {
        auto m = manager();
        auto d = draft("apikey:alice", review::Review::Mode::Hold, 2);
        d.approverRoles = {"approver", "hr-approver"};
        d.requirements = {{"falcon", {"approver"}, 1}, {"hr", {"hr-approver"}, 2}};
        const auto a = m->create(d, std::chrono::seconds(60));
        QVERIFY(!m->decide(a->id, person("apikey:bob", {"approver"}), true, "").error);
        QVERIFY(m->get(a->id)->pending());  // falcon's requirement met, hr's not
        auto v = m->decide(a->id, person("apikey:bob", {"approver"}), true, "");
        QVERIFY(v.error && *v.error == DetailsCode::ReviewAlreadyDecided);
        QVERIFY2(v.message.find("2 more from hr-approver (rule 'hr')") != std::string::npos, v.message.c_str());
        QVERIFY(!m->decide(a->id, person("apikey:carol", {"approver"}), true, "").error);
        QVERIFY(m->get(a->id)->pending());  // a second approver does not stand in for hr
        QVERIFY(!m->decide(a->id, person("apikey:hank", {"hr-approver"}), true, "").error);
        QVERIFY(m->get(a->id)->pending());
        QVERIFY(!m->decide(a->id, person("apikey:hope", {"hr-approver", "approver"}), true, "").error);
        QCOMPARE(m->get(a->id)->state, review::Review::State::Approved);
        // Kept in the store and read back with the requirements and the deciders' roles.
        const auto back = review::Review::fromJson(m->get(a->id)->toJson());
        QVERIFY(back);
        QCOMPARE(back->requirements.size(), std::size_t{2});
        QCOMPARE(back->approvals.back().roles, (std::vector<std::string>{"hr-approver", "approver"}));
        QVERIFY(back->missingApprovals().empty());
    }

    void reviewsExpireAtTheirDeadline() {
        auto m = manager();
        const auto c = m->create(draft("apikey:alice"), std::chrono::seconds(30));
        Woken woken;
        woken.watch(c->signal);
        QCOMPARE(c->deadlineMicros, kStart + 30'000'000);
        now_ = kStart + 29'000'000;
        m->expireDue();
        QVERIFY(m->get(c->id)->pending());
        now_ = kStart + 30'000'000;
        m->expireDue();
        const auto r = m->get(c->id);
        QCOMPARE(r->state, review::Review::State::Expired);
        QVERIFY(r->endReason.find("30 s") != std::string::npos);
        QVERIFY(woken());
        QCOMPARE(pushed_.back(), std::string("review.expired"));
        auto v = m->decide(c->id, person("apikey:bob", {"approver"}), true, "");
        QVERIFY(v.error && *v.error == DetailsCode::ReviewAlreadyDecided);

        const auto d = m->create(draft("apikey:alice"), std::chrono::seconds(30));
        m->cancel(d->id, "the caller disconnected");
        QCOMPARE(m->get(d->id)->state, review::Review::State::Cancelled);
        QCOMPARE(pushed_.back(), std::string("review.cancelled"));
    }

    void ticketGrantIsReleasedOnceWithinItsWindow() {
        review::ReviewManager::Options options;
        options.grantWindow = std::chrono::seconds(600);
        auto m = manager(options);
        const auto t = m->create(draft("apikey:alice", review::Review::Mode::Ticket), std::chrono::seconds(60));
        // The same request again while pending: the same review.
        const auto again = m->create(draft("apikey:alice", review::Review::Mode::Ticket), std::chrono::seconds(60));
        QCOMPARE(again->id, t->id);
        QVERIFY(again->reused);
        // The same body to another endpoint while pending: a review of its own.
        auto elsewhere = draft("apikey:alice", review::Review::Mode::Ticket);
        elsewhere.path = elsewhere.target = "/v1/embeddings";
        const auto other = m->create(elsewhere, std::chrono::seconds(60));
        QVERIFY(other->id != t->id);
        m->cancel(other->id, "test");
        QCOMPARE(m->pendingCount(), std::size_t{1});
        QVERIFY(!m->releaseGrant("apikey:alice", "vigil", "openai", "POST", "/v1/chat/completions", "body-hash-1", "r2", "s2"));  // not approved yet
        QVERIFY(!m->decide(t->id, person("apikey:bob", {"approver"}), true, "").error);
        QCOMPARE(m->get(t->id)->grantUntilMicros, kStart + 600'000'000);
        QVERIFY(!m->releaseGrant("apikey:eve", "vigil", "openai", "POST", "/v1/chat/completions", "body-hash-1", "r2", "s2"));      // someone else
        QVERIFY(!m->releaseGrant("apikey:alice", "https://other-idp.example", "openai", "POST", "/v1/chat/completions", "body-hash-1", "r2", "s2"));  // same name, another issuer
        QVERIFY(!m->releaseGrant("apikey:alice", "vigil", "other", "POST", "/v1/chat/completions", "body-hash-1", "r2", "s2"));     // another connection
        QVERIFY(!m->releaseGrant("apikey:alice", "vigil", "openai", "POST", "/v1/chat/completions", "body-hash-2", "r2", "s2"));    // another body
        // The same bytes to another endpoint, with a query, or another method: not the call approved.
        QVERIFY(!m->releaseGrant("apikey:alice", "vigil", "openai", "POST", "/v1/embeddings", "body-hash-1", "r2", "s2"));
        QVERIFY(!m->releaseGrant("apikey:alice", "vigil", "openai", "POST", "/v1/chat/completions?x=1", "body-hash-1", "r2", "s2"));
        QVERIFY(!m->releaseGrant("apikey:alice", "vigil", "openai", "PUT", "/v1/chat/completions", "body-hash-1", "r2", "s2"));
        const auto released = m->releaseGrant("apikey:alice", "vigil", "openai", "POST", "/v1/chat/completions", "body-hash-1", "r2", "s2");
        QVERIFY(released);
        QCOMPARE(released->releasedRequestId, std::string("r2"));
        QCOMPARE(pushed_.back(), std::string("review.released"));
        QVERIFY(!m->releaseGrant("apikey:alice", "vigil", "openai", "POST", "/v1/chat/completions", "body-hash-1", "r3", "s3"));    // once only

        const auto late = m->create(draft("apikey:alice", review::Review::Mode::Ticket, 1, "body-hash-3"), std::chrono::seconds(60));
        QVERIFY(!m->decide(late->id, person("apikey:bob", {"approver"}), true, "").error);
        now_ = kStart + 601'000'000;
        QVERIFY(!m->releaseGrant("apikey:alice", "vigil", "openai", "POST", "/v1/chat/completions", "body-hash-3", "r4", "s4"));    // window passed
    }

    // The recording's retention: a finished review is forgotten once it is older than the
    // retention, as the store's purge deletes it; an approved ticket whose grant is still
    // open stays (and can still be used) until the grant lapses too. Pending ones stay.
    void finishedReviewsPastTheRetentionAreForgotten() {
        const std::int64_t day = 86'400'000'000;
        review::ReviewManager::Options options;
        options.retention = std::chrono::hours(24);
        options.grantWindow = std::chrono::hours(24 * 7);
        auto m = manager(options);
        const auto denied = m->create(draft("apikey:alice"), std::chrono::seconds(60));
        QVERIFY(!m->decide(denied->id, person("apikey:bob", {"approver"}), false, "no").error);
        const auto grant = m->create(draft("apikey:alice", review::Review::Mode::Ticket, 1, "body-hash-7"), std::chrono::seconds(60));
        QVERIFY(!m->decide(grant->id, person("apikey:bob", {"approver"}), true, "").error);
        const auto used = m->create(draft("apikey:carol", review::Review::Mode::Ticket, 1, "body-hash-8"), std::chrono::seconds(60));
        QVERIFY(!m->decide(used->id, person("apikey:bob", {"approver"}), true, "").error);
        const auto pending = m->create(draft("apikey:dave", review::Review::Mode::Ticket, 1, "body-hash-9"), std::chrono::hours(24 * 30));
        const std::int64_t hour = 3'600'000'000;
        now_ = kStart + 2 * hour;  // the grant is used two hours after the approval
        QVERIFY(m->releaseGrant("apikey:carol", "vigil", "openai", "POST", "/v1/chat/completions", "body-hash-8", "r8", "s8"));

        now_ = kStart + day;  // exactly the retention: kept
        m->expireDue();
        QVERIFY(m->get(denied->id));
        QVERIFY(m->get(used->id));
        QCOMPARE(m->list(std::nullopt, 100).size(), std::size_t{4});

        now_ = kStart + day + 1;
        m->expireDue();
        QVERIFY(!m->get(denied->id));
        QVERIFY(m->get(used->id));  // decided before the cutoff, but used after it
        QVERIFY(m->get(grant->id));
        QVERIFY(m->get(pending->id)->pending());
        QCOMPARE(m->list(std::nullopt, 100).size(), std::size_t{3});

        now_ = kStart + day + 2 * hour + 1;
        m->expireDue();
        QVERIFY(!m->get(used->id));
        QCOMPARE(m->list(std::nullopt, 100).size(), std::size_t{2});

        now_ = kStart + 7 * day + 1;  // the grant lapsed, but only just
        m->expireDue();
        QVERIFY(m->get(grant->id));
        now_ = kStart + 8 * day + 1;
        m->expireDue();
        QVERIFY(!m->get(grant->id));
        QVERIFY(m->get(pending->id)->pending());
        QCOMPARE(m->list(std::nullopt, 100).size(), std::size_t{1});
    }

    void tooManyPendingReviewsAreRefused() {
        review::ReviewManager::Options options;
        options.maxPending = 2;
        auto m = manager(options);
        QVERIFY(m->create(draft("a"), std::chrono::seconds(60)));
        QVERIFY(m->create(draft("b"), std::chrono::seconds(60)));
        review::ReviewManager::Refusal why{};
        QVERIFY(!m->create(draft("c"), std::chrono::seconds(60), &why));
        QVERIFY(why == review::ReviewManager::Refusal::TooManyPending);
        QCOMPARE(m->explain(why).first, DetailsCode::TooManyPendingReviews);
    }

    // One requester's pending reviews are capped (429), whatever room is left for others;
    // a decision makes room again, and a ticket sent again reuses its review.
    void oneRequesterCannotFillTheQueue() {
        review::ReviewManager::Options options;
        options.maxPendingPerRequester = 2;
        auto m = manager(options);
        const auto a1 = m->create(draft("apikey:eve", review::Review::Mode::Ticket, 1, "h1"), std::chrono::seconds(60));
        QVERIFY(a1);
        QVERIFY(m->create(draft("apikey:eve", review::Review::Mode::Ticket, 1, "h2"), std::chrono::seconds(60)));
        QVERIFY(m->create(draft("apikey:eve", review::Review::Mode::Ticket, 1, "h1"), std::chrono::seconds(60))->reused);
        review::ReviewManager::Refusal why{};
        QVERIFY(!m->create(draft("apikey:eve", review::Review::Mode::Ticket, 1, "h3"), std::chrono::seconds(60), &why));
        QVERIFY(why == review::ReviewManager::Refusal::TooManyOfRequester);
        const auto [code, message] = m->explain(why);
        QCOMPARE(code, DetailsCode::TooManyOwnPendingReviews);
        QCOMPARE(detailsCodeInfo(code).httpStatus, 429);
        QVERIFY2(message.find("2 reviews pending") != std::string::npos, message.c_str());
        // The same subject from another identity provider is another caller.
        auto elsewhere = draft("apikey:eve", review::Review::Mode::Ticket, 1, "h3");
        elsewhere.requester.issuer = "https://idp.example";
        QVERIFY(m->create(elsewhere, std::chrono::seconds(60)));
        QVERIFY(m->create(draft("apikey:alice"), std::chrono::seconds(60)));
        QVERIFY(!m->decide(a1->id, person("apikey:bob", {"approver"}), false, "no").error);
        QVERIFY(m->create(draft("apikey:eve", review::Review::Mode::Ticket, 1, "h3"), std::chrono::seconds(60)));
        QCOMPARE(m->pendingCount(), std::size_t{4});
    }

    // Pushed events and lists carry a preview of the prompt and the answer; one review, all.
    void previewsAreBoundedFullViewsWhole() {
        auto r = draft("apikey:alice");
        r.kind = review::Review::Kind::Output;
        const std::string big = "\xC3\xA9" + std::string(review::Review::kPreviewBytes, 'x');  // "é" then more than the budget
        r.messages = json::array({{{"role", "system"}, {"text", "be brief"}}, {{"role", "user"}, {"text", big}}, {{"role", "user"}, {"text", "last"}}});
        r.output = std::string(review::Review::kPreviewBytes + 1, 'y');
        const auto preview = r.toJson(review::Review::Payload::Preview);
        QCOMPARE(preview["payload_truncated"].get<bool>(), true);
        QCOMPARE(preview["messages"].size(), std::size_t{3});
        QCOMPARE(preview["messages"][0]["text"].get<std::string>(), std::string("be brief"));
        const auto cut = preview["messages"][1];
        QCOMPARE(cut["truncated"].get<bool>(), true);
        QCOMPARE(cut["text_bytes"].get<std::size_t>(), big.size());
        QVERIFY(cut["text"].get<std::string>().size() <= review::Review::kPreviewBytes - 8);
        QVERIFY(big.starts_with(cut["text"].get<std::string>()));
        QCOMPARE(preview["messages"][2]["text"].get<std::string>(), std::string());  // the budget is spent
        QCOMPARE(preview["output"].get<std::string>().size(), review::Review::kPreviewBytes);
        QCOMPARE(preview["output_bytes"].get<std::size_t>(), r.output.size());
        QVERIFY(preview.dump().size() < 3 * review::Review::kPreviewBytes);
        // Cut on a character: a two-byte one is not split.
        r.messages = json::array({{{"role", "user"}, {"text", std::string(review::Review::kPreviewBytes - 1, 'a') + "\xC3\xA9"}}});
        QCOMPARE(r.toJson(review::Review::Payload::Preview)["messages"][0]["text"].get<std::string>().size(), review::Review::kPreviewBytes - 1);
        // Many messages: the first 200, and how many there are.
        r.messages = json::array();
        for (int i = 0; i < 500; ++i) r.messages.push_back({{"role", "user"}, {"text", "m"}});
        const auto many = r.toJson(review::Review::Payload::Preview);
        QCOMPARE(many["messages"].size(), std::size_t{200});
        QCOMPARE(many["messages_total"].get<std::size_t>(), std::size_t{500});
        QCOMPARE(many["payload_truncated"].get<bool>(), true);
        // The full view and a short prompt's preview are whole.
        QCOMPARE(r.toJson(review::Review::Payload::Full)["messages"].size(), std::size_t{500});
        QVERIFY(!r.toJson(review::Review::Payload::Full).contains("payload_truncated"));
        auto small = draft("apikey:alice");
        QCOMPARE(small.toJson(review::Review::Payload::Preview)["payload_truncated"].get<bool>(), false);
        QVERIFY(!small.toJson(review::Review::Payload::None).contains("messages"));
    }

    void aRestartKeepsTicketsAndCancelsHolds() {
        auto row = [](const review::Review& r) {
            return record::ReviewRow{r.id, std::string(review::stateName(r.state)), r.createdMicros, r.createdMicros,
                                     r.toJson(vigil::review::Review::Payload::Full).dump()};
        };
        auto hold = draft("apikey:alice");
        hold.id = review::newReviewId();
        hold.createdMicros = kStart;
        hold.deadlineMicros = kStart + 60'000'000;
        auto ticket = draft("apikey:alice", review::Review::Mode::Ticket);
        ticket.id = review::newReviewId();
        ticket.createdMicros = kStart;
        ticket.deadlineMicros = kStart + 60'000'000;
        auto grant = draft("apikey:alice", review::Review::Mode::Ticket, 1, "body-hash-9");
        grant.id = review::newReviewId();
        grant.state = review::Review::State::Approved;
        grant.decidedMicros = kStart;
        grant.grantUntilMicros = kStart + 900'000'000;
        auto used = grant;
        used.id = review::newReviewId();
        used.releasedMicros = kStart + 1;

        bus_ = std::make_shared<events::EventBus>(100, 1);
        review::ReviewManager m({}, nullptr, bus_, [this] { return now_.load(); });
        m.start({row(hold), row(ticket), row(grant), row(used)});
        QCOMPARE(m.get(hold.id)->state, review::Review::State::Cancelled);
        QVERIFY(m.get(hold.id)->endReason.find("restarted") != std::string::npos);
        QVERIFY(m.get(ticket.id)->pending());
        QCOMPARE(m.pendingCount(), std::size_t{1});
        QVERIFY(m.releaseGrant("apikey:alice", "vigil", "openai", "POST", "/v1/chat/completions", "body-hash-9", "r", "s"));
        QVERIFY(!m.get(used.id));  // nothing left to do with it: not kept
    }

    // A subscriber without summaries gets neither replayed nor live session.started /
    // session.ended, and everything else as before (a session's own events when watched).
    void busLeavesOutSummariesWhenAsked() {
        events::EventBus bus(100, 1);
        bus.publish("session.started", R"({"session_id":"s1"})");
        bus.publish("review.pending", "{}");
        bus.publish("session.ended", R"({"session_id":"s1"})");
        std::vector<std::string> types, all;
        auto reviewsOnly = bus.subscribe(
            0,
            [&](const std::string& m) {
                types.push_back(json::parse(m)["type"].get<std::string>());
                return true;
            },
            static_cast<std::size_t>(-1), false);
        auto everything = bus.subscribe(0, [&](const std::string& m) {
            all.push_back(json::parse(m)["type"].get<std::string>());
            return true;
        });
        QCOMPARE(types, std::vector<std::string>{"review.pending"});
        QCOMPARE(all.size(), std::size_t{3});
        bus.publish("session.started", R"({"session_id":"s2"})");
        bus.publish("review.decided", "{}");
        reviewsOnly->watchSession("s2");
        bus.publish("session.event", "{}", "s2");
        bus.publish("session.ended", R"({"session_id":"s2"})");
        QCOMPARE(types, (std::vector<std::string>{"review.pending", "review.decided", "session.event"}));
        QCOMPARE(all.size(), std::size_t{6});  // not the session.event: not watched there
    }

    // The bus: a subscriber from a sequence number gets what it missed, in order, then live
    // events; one older than the ring is told so; one that cannot keep up is dropped.
    void busReplaysAndDropsSlowSubscribers() {
        events::EventBus bus(4, 1);
        for (int i = 0; i < 6; ++i) bus.publish("review.pending", R"({"i":)" + std::to_string(i) + "}");
        QCOMPARE(bus.lastSeq(), std::int64_t{6});
        std::vector<json> got;
        auto sub = bus.subscribe(4, [&](const std::string& m) {
            got.push_back(json::parse(m));
            return true;
        });
        QCOMPARE(got.size(), std::size_t{2});
        QCOMPARE(got[0]["seq"].get<int>(), 5);
        QCOMPARE(got[1]["seq"].get<int>(), 6);
        bus.publish("review.decided", "{}");
        QCOMPARE(got.back()["seq"].get<int>(), 7);
        QCOMPARE(got.back()["type"].get<std::string>(), std::string("review.decided"));

        std::vector<json> late;
        auto stale = bus.subscribe(1, [&](const std::string& m) {
            late.push_back(json::parse(m));
            return true;
        });
        QCOMPARE(late.front()["type"].get<std::string>(), std::string("stream.gap"));
        QCOMPARE(late.front()["data"]["oldest_available"].get<int>(), 4);
        QCOMPARE(late.size(), std::size_t{5});  // the gap, then 4..7

        // Missed more than a subscriber may be replayed at once (its queue would overflow and
        // drop it again): the gap, then live events only.
        std::vector<json> behind;
        auto bounded = bus.subscribe(
            4,
            [&](const std::string& m) {
                behind.push_back(json::parse(m));
                return true;
            },
            40);
        QCOMPARE(behind.size(), std::size_t{1});
        QCOMPARE(behind.front()["type"].get<std::string>(), std::string("stream.gap"));
        QVERIFY(behind.front()["data"]["message"].get<std::string>().find("more events were missed") != std::string::npos);
        bus.publish("review.expired", "{}");
        QCOMPARE(behind.back()["type"].get<std::string>(), std::string("review.expired"));
        bounded.reset();

        int taken = 0;
        auto slow = bus.subscribe(std::nullopt, [&](const std::string&) { return ++taken < 2; });
        QCOMPARE(bus.subscribers(), std::size_t{3});
        bus.publish("a", "{}");
        bus.publish("b", "{}");
        QCOMPARE(bus.subscribers(), std::size_t{2});  // dropped after refusing one
        bus.publish("c", "{}");
        QCOMPARE(taken, 2);

        // session.event goes to those who watch the session only.
        QVERIFY(!bus.watched("s1"));
        sub->watchSession("s1");
        QVERIFY(bus.watched("s1"));
        const auto before = late.size();
        bus.publish("session.event", "{}", "s1");
        QCOMPARE(got.back()["type"].get<std::string>(), std::string("session.event"));
        QCOMPARE(late.size(), before);
        sub.reset();
        QVERIFY(!bus.watched("s1"));
    }
};

QTEST_GUILESS_MAIN(TestReviewManager)
#include "tst_review_manager.moc"

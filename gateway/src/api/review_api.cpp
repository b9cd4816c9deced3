#include "api/review_api.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <mutex>

#include "api/recording_api.h"
#include "auth/identity.h"
#include "events/event_bus.h"
#include "observe/log.h"
#include "review/review_manager.h"
#include "vigil/details_code.h"

namespace vigil::api {
namespace {

using json = nlohmann::json;

net::LocalResponse reply(int status, std::string body, std::string_view requestId) {
    net::LocalResponse r;
    r.status = status;
    r.headers = {{"Content-Type", "application/json"}, {"X-Request-Id", std::string(requestId)}, {"Cache-Control", "no-store"}};
    r.body = std::move(body);
    return r;
}

net::LocalResponse fail(DetailsCode code, const std::string& message, std::string_view requestId,
                        std::vector<ErrorField> fields = {}) {
    return reply(detailsCodeInfo(code).httpStatus, fields.empty() ? errorBody(code, message) : errorBody(code, message, fields),
                 requestId);
}

bool validId(std::string_view id) {
    if (id.size() != 35 || !id.starts_with("rv_")) return false;
    for (const char c : id.substr(3)) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

}  // namespace

ReviewApi::ReviewApi(std::shared_ptr<review::ReviewManager> manager) : manager_(std::move(manager)) {}

ReviewApi::Answer ReviewApi::handle(const net::RequestView& request, std::string_view requestId,
                                    const auth::Identity& who) {
    const auto path = request.path();
    const auto query = request.target.size() > path.size() ? request.target.substr(path.size() + 1) : std::string_view();
    std::string_view rest = path.substr(std::string_view("/api/reviews").size());
    if (rest.empty() || rest == "/") {
        if (request.method != "GET" && request.method != "HEAD") {
            auto r = fail(DetailsCode::MethodNotAllowed, "/api/reviews accepts GET only", requestId);
            r.headers.push_back({"Allow", "GET, HEAD"});
            return {r, {}};
        }
        const auto parsed = parseQuery(query);
        if (!parsed) return {fail(DetailsCode::InvalidRequest, "the query string is malformed", requestId), {}};
        if (const auto problem = repeatedOrEmpty(*parsed, {"state", "limit"})) {
            return {fail(DetailsCode::InvalidRequest, problem->message, requestId, {{"param", problem->param}}), {}};
        }
        std::optional<review::Review::State> state;
        std::size_t limit = 100;
        for (const auto& [name, value] : *parsed) {
            if (name == "state") {
                if (value == "all") continue;
                state = review::stateFromName(value);
                if (!state) {
                    return {fail(DetailsCode::InvalidRequest,
                                 "'state' must be pending, approved, denied, expired, cancelled or all (got '" + value + "')",
                                 requestId, {{"param", "state"}}),
                            {}};
                }
            } else if (name == "limit") {
                std::size_t v = 0;
                const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
                if (ec != std::errc() || end != value.data() + value.size() || v < 1 || v > 1000) {
                    return {fail(DetailsCode::InvalidRequest, "'limit' must be an integer from 1 to 1000 (got '" + value + "')",
                                 requestId, {{"param", "limit"}}),
                            {}};
                }
                limit = v;
            } else {
                return {fail(DetailsCode::InvalidRequest, "unknown parameter '" + name + "' (known: state, limit)", requestId,
                             {{"param", name}}),
                        {}};
            }
        }
        json list = json::array();
        for (const auto& r : manager_->list(state, limit)) list.push_back(r.toJson(review::Review::Payload::Preview));
        json body = {{"reviews", std::move(list)}, {"pending", manager_->pendingCount()}};
        return {reply(200, body.dump(), requestId), {}};
    }
    // /{id} or /{id}/approve or /{id}/deny
    rest.remove_prefix(1);
    const auto slash = rest.find('/');
    const std::string id(rest.substr(0, slash));
    const std::string_view verb = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (!validId(id)) return {fail(DetailsCode::NotFound, "no review '" + id + "' (ids look like rv_ and 32 hex digits)", requestId), {}};
    if (verb.empty()) {
        if (request.method != "GET" && request.method != "HEAD") {
            auto r = fail(DetailsCode::MethodNotAllowed, "/api/reviews/{id} accepts GET only", requestId);
            r.headers.push_back({"Allow", "GET, HEAD"});
            return {r, {}};
        }
        const auto r = manager_->get(id);
        if (!r) return {fail(DetailsCode::NotFound, "no review " + id, requestId), {}};
        return {reply(200, r->toJson(review::Review::Payload::Full).dump(), requestId), {}};
    }
    if (verb != "approve" && verb != "deny") {
        return {fail(DetailsCode::NotFound, "no such endpoint: " + std::string(path) + " (use /approve or /deny)", requestId), {}};
    }
    if (request.method != "POST") {
        auto r = fail(DetailsCode::MethodNotAllowed, std::string(path) + " accepts POST only", requestId);
        r.headers.push_back({"Allow", "POST"});
        return {r, {}};
    }
    std::string reason;
    if (!request.body.empty()) {
        json body;
        try {
            body = json::parse(request.body);
        } catch (const json::parse_error& e) {
            return {fail(DetailsCode::InvalidJson, std::string("the body is not valid JSON: ") + e.what(), requestId), {}};
        }
        if (!body.is_object()) {
            return {fail(DetailsCode::InvalidRequest, "the body must be a JSON object such as {\"reason\": \"...\"}", requestId), {}};
        }
        for (const auto& [key, value] : body.items()) {
            if (key != "reason") {
                return {fail(DetailsCode::InvalidRequest, "unknown field '" + key + "' (known: reason)", requestId, {{"param", key}}),
                        {}};
            }
            if (!value.is_string()) {
                return {fail(DetailsCode::InvalidRequest, "'reason' must be a string", requestId, {{"param", "reason"}}), {}};
            }
            reason = value.get<std::string>();
            if (reason.size() > 2000) {
                return {fail(DetailsCode::InvalidRequest, "'reason' is longer than 2000 bytes", requestId, {{"param", "reason"}}), {}};
            }
        }
    }
    const bool approve = verb == "approve";
    auto verdict = manager_->decide(id, who, approve, reason);
    if (verdict.error) {
        std::vector<ErrorField> fields{{"review_id", id}};
        if (*verdict.error == DetailsCode::InvalidRequest) fields.push_back({"param", "reason"});
        if (verdict.review) fields.push_back({"state", std::string(review::stateName(verdict.review->state))});
        return {fail(*verdict.error, verdict.message, requestId, std::move(fields)), {}};
    }
    return {reply(200, verdict.review->toJson(review::Review::Payload::Full).dump(), requestId), std::move(verdict.durable)};
}

namespace {

// The credential behind a socket, checked again at most once a second (the bus calls the
// sink with its lock held, and the socket's own thread calls too).
class CredentialGuard {
public:
    CredentialGuard(StillAllowed stillAllowed, std::string subject)
        : stillAllowed_(std::move(stillAllowed)),
          subject_(std::move(subject)),
          next_(std::chrono::steady_clock::now() + std::chrono::seconds(1)) {}  // the handshake checked just now

    // True when the socket may go on; otherwise it is closed, and false.
    bool admit(net::WebSocketPeer& peer) {
        std::optional<std::string> problem;
        {
            std::lock_guard lock(mutex_);
            if (closed_) return false;
            const auto t = std::chrono::steady_clock::now();
            if (!stillAllowed_ || t < next_) return true;
            next_ = t + std::chrono::seconds(1);
            problem = stillAllowed_();
            if (!problem) return true;
            closed_ = true;
        }
        observe::LogLine(observe::LogLevel::Info, "events closed").str("subject", subject_).str("reason", *problem);
        peer.close(1008, "the credential is no longer accepted: " + *problem);
        return false;
    }

private:
    StillAllowed stillAllowed_;
    std::string subject_;
    std::mutex mutex_;
    std::chrono::steady_clock::time_point next_;
    bool closed_ = false;
};

class EventsSocket final : public net::WebSocketHandler {
public:
    EventsSocket(std::shared_ptr<events::EventBus> bus, std::optional<std::int64_t> after, std::string subject,
                 bool mayWatchSessions, std::size_t maxReplayBytes, bool summaries, StillAllowed stillAllowed,
                 std::shared_ptr<void> slot)
        : slot_(std::move(slot)),
          bus_(std::move(bus)),
          after_(after),
          summaries_(summaries),
          subject_(std::move(subject)),
          mayWatchSessions_(mayWatchSessions),
          maxReplayBytes_(maxReplayBytes),
          guard_(std::make_shared<CredentialGuard>(std::move(stillAllowed), subject_)) {}

    void onOpen(std::shared_ptr<net::WebSocketPeer> peer) override {
        peer_ = peer;
        json hello = {{"seq", nullptr},
                      {"type", "hello"},
                      {"data", {{"subject", subject_}, {"last_seq", bus_->lastSeq()}, {"resumed_after", after_ ? json(*after_) : json(nullptr)},
                               {"summaries", summaries_}}}};
        peer->send(hello.dump());
        std::weak_ptr<net::WebSocketPeer> weak = peer;
        subscription_ = bus_->subscribe(
            after_,
            [weak, guard = guard_](const std::string& message) {
                const auto p = weak.lock();
                return p && guard->admit(*p) && p->send(message);
            },
            maxReplayBytes_, summaries_);
    }

    void onMessage(std::string_view text) override {
        if (const auto p = peer_.lock(); !p || !guard_->admit(*p)) return;
        json message;
        try {
            message = json::parse(text);
        } catch (const json::parse_error&) {
            return error("invalid_json", "a message must be a JSON object such as {\"subscribe\": \"SESSION_ID\"}");
        }
        if (!message.is_object() || message.size() != 1) {
            return error("invalid_request", "a message is one of {\"subscribe\": ID}, {\"unsubscribe\": ID}, {\"ping\": ANY}");
        }
        const auto& [key, value] = *message.items().begin();
        if (key == "ping") {
            if (auto p = peer_.lock()) p->send(json{{"seq", nullptr}, {"type", "pong"}, {"data", value}}.dump());
            return;
        }
        if (key != "subscribe" && key != "unsubscribe") return error("invalid_request", "unknown message '" + key + "'");
        if (!value.is_string() || value.get<std::string>().empty() || value.get<std::string>().size() > 128) {
            return error("invalid_request", "'" + key + "' takes a session id (a string of 1 to 128 characters)");
        }
        if (!mayWatchSessions_) return error("role_not_allowed", "only auditors and admins may follow a session's events");
        if (!subscription_) return;
        const auto session = value.get<std::string>();
        if (key == "subscribe") {
            subscription_->watchSession(session);
        } else {
            subscription_->unwatchSession(session);
        }
        if (auto p = peer_.lock()) {
            p->send(json{{"seq", nullptr}, {"type", key == "subscribe" ? "subscribed" : "unsubscribed"}, {"data", {{"session_id", session}}}}.dump());
        }
    }

    void onClose() override { subscription_.reset(); }

private:
    void error(const std::string& code, const std::string& message) {
        if (auto p = peer_.lock()) p->send(json{{"seq", nullptr}, {"type", "error"}, {"data", {{"code", code}, {"message", message}}}}.dump());
    }

    std::shared_ptr<void> slot_;  // in the identity's quota, until this socket goes
    std::shared_ptr<events::EventBus> bus_;
    std::optional<std::int64_t> after_;
    bool summaries_;
    std::string subject_;
    bool mayWatchSessions_;
    std::size_t maxReplayBytes_;
    std::weak_ptr<net::WebSocketPeer> peer_;
    std::shared_ptr<CredentialGuard> guard_;
    std::shared_ptr<events::EventBus::Subscription> subscription_;
};

}  // namespace

std::shared_ptr<net::WebSocketHandler> makeEventsSocket(std::shared_ptr<events::EventBus> bus,
                                                        std::optional<std::int64_t> after, std::string subject,
                                                        bool mayWatchSessions, std::size_t maxReplayBytes, bool summaries,
                                                        StillAllowed stillAllowed, std::shared_ptr<void> slot) {
    return std::make_shared<EventsSocket>(std::move(bus), after, std::move(subject), mayWatchSessions, maxReplayBytes, summaries,
                                          std::move(stillAllowed), std::move(slot));
}

std::shared_ptr<void> EventSocketQuota::take(const std::string& identity) {
    {
        std::lock_guard lock(mutex_);
        auto& n = open_[identity];
        if (n >= perIdentity_) return nullptr;
        ++n;
    }
    // Not null (it points at the quota, which it keeps alive: a socket may outlive the
    // pipeline that counted it); going away gives the place back.
    return std::shared_ptr<void>(this, [self = shared_from_this(), identity](void*) { self->release(identity); });
}

void EventSocketQuota::release(const std::string& identity) {
    std::lock_guard lock(mutex_);
    const auto it = open_.find(identity);
    if (it == open_.end()) return;
    if (--it->second == 0) open_.erase(it);
}

}  // namespace vigil::api

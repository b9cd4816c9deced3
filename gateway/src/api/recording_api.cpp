#include "api/recording_api.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <set>

#include "record/chain.h"
#include "vigil/details_code.h"
#include "vigil/percent_encoding.h"

namespace vigil::api {
namespace {

using json = nlohmann::json;
using Query = std::multimap<std::string, std::string>;

net::LocalResponse reply(int status, std::string body, std::string_view requestId) {
    net::LocalResponse r;
    r.status = status;
    r.headers = {{"Content-Type", "application/json"}, {"X-Request-Id", std::string(requestId)}, {"Cache-Control", "no-store"}};
    r.body = std::move(body);
    return r;
}

// A stored text that is not UTF-8 (written by an older gateway, or by hand) is shown with
// replacement characters rather than failing the whole answer.
net::LocalResponse ok(const json& body, std::string_view requestId) {
    return reply(200, body.dump(-1, ' ', false, json::error_handler_t::replace), requestId);
}

net::LocalResponse fail(DetailsCode code, const std::string& message, std::string_view requestId,
                        std::string_view param = {}) {
    std::vector<ErrorField> fields;
    if (!param.empty()) fields.push_back({"param", std::string(param)});
    return reply(detailsCodeInfo(code).httpStatus, fields.empty() ? errorBody(code, message) : errorBody(code, message, fields),
                 requestId);
}

// A bad query parameter: thrown inside the handlers, answered 400 naming it.
struct BadParameter {
    std::string param;
    std::string message;
};

std::optional<std::string> single(const Query& query, const std::string& name) {
    if (auto problem = repeatedOrEmpty(query, {name})) throw BadParameter{problem->param, problem->message};
    const auto it = query.find(name);
    if (it == query.end()) return std::nullopt;
    return it->second;
}

void rejectUnknown(const Query& query, std::initializer_list<std::string_view> known) {
    for (const auto& [name, value] : query) {
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            std::string list;
            for (const auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
            throw BadParameter{name, "unknown parameter '" + name + "' (known: " + (list.empty() ? "none" : list) + ")"};
        }
    }
}

std::optional<std::int64_t> integerParam(const Query& query, const std::string& name, std::int64_t min, std::int64_t max) {
    const auto text = single(query, name);
    if (!text) return std::nullopt;
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || end != text->data() + text->size() || v < min || v > max) {
        throw BadParameter{name, "'" + name + "' must be an integer from " + std::to_string(min) + " to " +
                                     std::to_string(max) + " (got '" + *text + "')"};
    }
    return v;
}

std::optional<std::int64_t> timeParam(const Query& query, const std::string& name) {
    const auto text = single(query, name);
    if (!text) return std::nullopt;
    const auto t = RecordingApi::parseTime(*text);
    if (!t) {
        throw BadParameter{name, "'" + name + "' must be an RFC 3339 time such as 2026-11-22T10:00:00Z (got '" + *text + "')"};
    }
    return t;
}

json nullable(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }
json nullable(const std::string& v) { return v.empty() ? json(nullptr) : json(v); }

json sessionJson(const store::SessionRow& s) {
    return json{{"id", s.id},
                {"started_at", RecordingApi::formatTime(s.startedMicros)},
                {"started_us", s.startedMicros},
                {"last_activity_at", RecordingApi::formatTime(s.lastMicros)},
                {"subject", nullable(s.subject)},
                {"connection", nullable(s.connection)},
                {"model", nullable(s.model)},
                {"requests", s.requests},
                {"decision", nullable(s.decision)},
                {"status", nullable(s.status)},
                {"code", nullable(s.code)},
                {"outcome", s.outcome.empty() ? json("in_progress") : json(s.outcome)}};
}

json requestJson(const store::RequestRow& r) {
    return json{{"request_id", r.requestId},
                {"started_at", RecordingApi::formatTime(r.startedMicros)},
                {"ended_at", r.endedMicros ? json(RecordingApi::formatTime(*r.endedMicros)) : json(nullptr)},
                {"method", r.method},
                {"path", r.path},
                {"subject", nullable(r.subject)},
                {"auth_method", nullable(r.authMethod)},
                {"connection", nullable(r.connection)},
                {"model", nullable(r.model)},
                {"decision", nullable(r.decision)},
                {"rules", nullable(r.rules)},
                {"status", nullable(r.status)},
                {"code", nullable(r.code)},
                {"outcome", r.outcome.empty() ? json("in_progress") : json(r.outcome)},
                {"request_bytes", nullable(r.requestBytes)},
                {"response_bytes", nullable(r.responseBytes)},
                {"duration_us", nullable(r.durationMicros)},
                {"first_seq", r.firstSeq},
                {"last_seq", nullable(r.lastSeq)}};
}

json eventJson(const store::EventRow& e) {
    json payload = json::parse(e.payload, nullptr, false);
    if (payload.is_discarded()) payload = e.payload;  // stored text that is not JSON: shown as is
    return json{{"seq", e.seq},
                {"time", RecordingApi::formatTime(e.timeMicros)},
                {"time_us", e.timeMicros},
                {"type", e.type},
                {"payload", std::move(payload)},
                {"prev_hash", record::toHex(e.prevHash)},
                {"hash", record::toHex(e.hash)}};
}


std::optional<std::string> percentDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int hi = hexDigitValue(text[i + 1]);
            const int lo = hexDigitValue(text[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

constexpr int kDefaultSessions = 50;
constexpr int kMaxSessions = 500;
constexpr int kDefaultEvents = 1000;
constexpr int kMaxEvents = 5000;

}  // namespace

std::optional<QueryProblem> repeatedOrEmpty(const Query& query, std::initializer_list<std::string_view> names) {
    for (const auto name : names) {
        const auto [first, last] = query.equal_range(std::string(name));
        if (first == last) continue;
        const std::string n(name);
        if (std::next(first) != last) return QueryProblem{n, "'" + n + "' is given more than once"};
        if (first->second.empty()) return QueryProblem{n, "'" + n + "' must not be empty (leave it out for no filter)"};
    }
    return std::nullopt;
}

std::optional<Query> parseQuery(std::string_view query) {
    Query out;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        auto name = percentDecode(part.substr(0, eq));
        auto value = percentDecode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
        if (!name || !value) return std::nullopt;
        out.emplace(std::move(*name), std::move(*value));
    }
    return out;
}

std::string RecordingApi::formatTime(std::int64_t micros) {
    using namespace std::chrono;
    const sys_time<microseconds> t{microseconds(micros)};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                  static_cast<long long>(hms.subseconds().count()));
    return buf;
}

std::optional<std::int64_t> RecordingApi::parseTime(std::string_view s) {
    auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
        if (at + n > s.size()) return std::nullopt;
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (s[i] < '0' || s[i] > '9') return std::nullopt;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':') {
        return std::nullopt;
    }
    const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2), mi = digits(14, 2), se = digits(17, 2);
    if (!y || !mo || !d || !h || !mi || !se || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
    using namespace std::chrono;
    const year_month_day ymd{year(*y), month(static_cast<unsigned>(*mo)), day(static_cast<unsigned>(*d))};
    if (!ymd.ok()) return std::nullopt;
    std::size_t i = 19;
    std::int64_t fraction = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        std::int64_t scale = 100000;
        const std::size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (scale > 0) fraction += (s[i] - '0') * scale;
            scale /= 10;
            ++i;
        }
        if (i == start) return std::nullopt;
    }
    std::int64_t offsetSeconds = 0;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        const auto oh = digits(i + 1, 2), om = digits(i + 4, 2);
        if (!oh || !om || i + 3 >= s.size() || s[i + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
        offsetSeconds = (s[i] == '+' ? 1 : -1) * (*oh * 3600 + *om * 60);
        i += 6;
    } else {
        return std::nullopt;
    }
    if (i != s.size()) return std::nullopt;
    const auto daysSinceEpoch = sys_days(ymd).time_since_epoch().count();
    const std::int64_t seconds = daysSinceEpoch * 86400LL + *h * 3600LL + *mi * 60LL + *se - offsetSeconds;
    return seconds * 1'000'000 + fraction;
}

RecordingApi::RecordingApi(std::filesystem::path database, std::string publicKeyPem, std::function<void()> beforeRead)
    : beforeRead_(std::move(beforeRead)), reader_(database), monitor_(database, std::move(publicKeyPem)) {}

net::LocalResponse RecordingApi::handle(const net::RequestView& request, std::string_view requestId) {
    const auto path = request.path();
    if (request.method != "GET" && request.method != "HEAD") {
        auto r = fail(DetailsCode::MethodNotAllowed, std::string(path) + " accepts GET only", requestId);
        r.headers.push_back({"Allow", "GET, HEAD"});
        return r;
    }
    const auto q = request.target.find('?');
    const auto query = parseQuery(q == std::string_view::npos ? std::string_view() : request.target.substr(q + 1));
    if (!query) return fail(DetailsCode::InvalidRequest, "the query string has a malformed percent escape", requestId);
    if (beforeRead_) beforeRead_();
    try {
        static constexpr std::string_view kSessions = "/api/sessions";
        if (path == kSessions) return listSessions(*query, requestId);
        if (path.starts_with(std::string(kSessions) + "/")) {
            auto rest = path.substr(kSessions.size() + 1);
            std::string_view suffix;
            if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
                suffix = rest.substr(slash);
                rest = rest.substr(0, slash);
            }
            const auto id = percentDecode(rest);
            if (!id || id->empty()) return fail(DetailsCode::InvalidRequest, "malformed session id in the path", requestId);
            if (suffix.empty()) {
                rejectUnknown(*query, {});
                return oneSession(*id, requestId);
            }
            if (suffix == "/events") return sessionEvents(*id, *query, requestId);
        } else if (path == "/api/stats") {
            return stats(*query, requestId);
        } else if (path == "/api/chain/status") {
            rejectUnknown(*query, {});
            return chainStatus(requestId);
        }
    } catch (const BadParameter& bad) {
        return fail(DetailsCode::InvalidRequest, bad.message, requestId, bad.param);
    } catch (const std::exception& e) {
        return fail(DetailsCode::InternalError, std::string("cannot read the recording: ") + e.what(), requestId);
    }
    return fail(DetailsCode::NotFound,
                "no API at " + std::string(path) +
                    " (there are /api/sessions, /api/sessions/{id}, /api/sessions/{id}/events, /api/stats, /api/chain/status)",
                requestId);
}

net::LocalResponse RecordingApi::listSessions(const Query& query, std::string_view requestId) {
    rejectUnknown(query,
                  {"from", "to", "subject", "connection", "model", "decision", "status", "code", "session_id", "limit", "cursor", "order"});
    store::SessionFilter filter;
    // Given sessions (repeatable): how those on a reader's screen stand now.
    for (auto [it, last] = query.equal_range("session_id"); it != last; ++it) {
        if (it->second.empty()) throw BadParameter{"session_id", "'session_id' must not be empty"};
        filter.ids.push_back(it->second);
    }
    if (filter.ids.size() > static_cast<std::size_t>(kMaxSessions)) {
        throw BadParameter{"session_id", "at most " + std::to_string(kMaxSessions) + " 'session_id' values at once (got " +
                                             std::to_string(filter.ids.size()) + ")"};
    }
    filter.fromMicros = timeParam(query, "from");
    filter.toMicros = timeParam(query, "to");
    filter.subject = single(query, "subject").value_or("");
    filter.connection = single(query, "connection").value_or("");
    filter.model = single(query, "model").value_or("");
    filter.decision = single(query, "decision").value_or("");
    if (!filter.decision.empty() && filter.decision != "allow" && filter.decision != "deny" && filter.decision != "review") {
        throw BadParameter{"decision", "'decision' must be allow, deny or review (got '" + filter.decision + "')"};
    }
    if (const auto status = single(query, "status")) {
        if (status->size() == 3 && (*status)[0] >= '1' && (*status)[0] <= '5' && (*status)[1] == 'x' && (*status)[2] == 'x') {
            filter.statusClass = (*status)[0] - '0';
        } else {
            filter.status = static_cast<int>(*integerParam(query, "status", 100, 599));
        }
    }
    filter.code = single(query, "code").value_or("");
    if (!filter.code.empty() && !detailsCodeFromName(filter.code)) {
        throw BadParameter{"code", "'code' is not a details code: '" + filter.code + "'"};
    }
    if (const auto order = single(query, "order")) {
        if (*order != "asc" && *order != "desc") {
            throw BadParameter{"order", "'order' must be desc (newest first, the default) or asc (got '" + *order + "')"};
        }
        filter.oldestFirst = *order == "asc";
    }
    const int limit = static_cast<int>(integerParam(query, "limit", 1, kMaxSessions).value_or(kDefaultSessions));
    std::optional<store::SessionCursor> after;
    if (const auto cursor = single(query, "cursor")) {
        const auto dot = cursor->find('.');
        std::int64_t started = 0;
        const auto [end, ec] = std::from_chars(cursor->data(), cursor->data() + (dot == std::string::npos ? 0 : dot), started);
        if (dot == std::string::npos || dot == 0 || ec != std::errc() || end != cursor->data() + dot || dot + 1 >= cursor->size()) {
            throw BadParameter{"cursor", "'cursor' must be a next_cursor value from an earlier page"};
        }
        after = store::SessionCursor{started, cursor->substr(dot + 1)};
    }
    // One more than asked: whether there is a next page.
    auto rows = reader_.sessions(filter, after, limit + 1);
    json out{{"sessions", json::array()}, {"next_cursor", nullptr}};
    const bool more = static_cast<int>(rows.size()) > limit;
    if (more) rows.pop_back();
    for (const auto& s : rows) out["sessions"].push_back(sessionJson(s));
    if (more) out["next_cursor"] = std::to_string(rows.back().startedMicros) + "." + rows.back().id;
    return ok(out, requestId);
}

std::optional<json> RecordingApi::sessionSummary(const std::string& id) {
    if (const auto session = reader_.session(id)) return sessionJson(*session);
    // Sessions without requests: the gateway's own events ("gateway": started, stopped,
    // recording.resumed, retention.purged).
    const auto first = reader_.events(id, 0, 1);
    if (first.empty()) return std::nullopt;
    return json{{"id", id},
                {"started_at", formatTime(first.front().timeMicros)},
                {"started_us", first.front().timeMicros},
                {"requests", 0}};
}

net::LocalResponse RecordingApi::oneSession(const std::string& id, std::string_view requestId) {
    auto summary = sessionSummary(id);
    if (!summary) return fail(DetailsCode::NotFound, "no session '" + id + "' in the recording", requestId);
    json out{{"session", std::move(*summary)}, {"requests", json::array()}, {"events", json::array()}};
    for (const auto& r : reader_.requests(id)) out["requests"].push_back(requestJson(r));
    auto events = reader_.events(id, 0, kDefaultEvents + 1);
    const bool more = events.size() > static_cast<std::size_t>(kDefaultEvents);
    if (more) events.pop_back();
    for (const auto& e : events) out["events"].push_back(eventJson(e));
    out["next_after"] = more ? json(events.back().seq) : json(nullptr);
    return ok(out, requestId);
}

net::LocalResponse RecordingApi::sessionEvents(const std::string& id, const Query& query, std::string_view requestId) {
    rejectUnknown(query, {"after", "limit"});
    const auto after = integerParam(query, "after", 0, INT64_MAX).value_or(0);
    const int limit = static_cast<int>(integerParam(query, "limit", 1, kMaxEvents).value_or(kDefaultEvents));
    if (!sessionSummary(id)) return fail(DetailsCode::NotFound, "no session '" + id + "' in the recording", requestId);
    auto events = reader_.events(id, after, limit + 1);
    const bool more = static_cast<int>(events.size()) > limit;
    if (more) events.pop_back();
    json out{{"events", json::array()}};
    for (const auto& e : events) out["events"].push_back(eventJson(e));
    out["next_after"] = more ? json(events.back().seq) : json(nullptr);
    return ok(out, requestId);
}

net::LocalResponse RecordingApi::stats(const Query& query, std::string_view requestId) {
    rejectUnknown(query, {"from", "to"});
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const auto to = timeParam(query, "to").value_or(now + 1);
    const auto from = timeParam(query, "from").value_or(to - 24LL * 3600 * 1'000'000);
    if (from >= to) throw BadParameter{"from", "'from' must be before 'to'"};
    const auto s = reader_.stats(from, to);
    json out{{"from", formatTime(from)},
             {"to", formatTime(to)},
             {"requests", s.total},
             {"by_decision", s.byDecision},
             {"by_connection", s.byConnection},
             {"by_outcome", s.byOutcome},
             {"by_rule", s.byRule},
             {"reviews_by_state", s.reviewsByState},
             {"review_median_seconds", s.reviewMedianSeconds},
             {"by_hour", json::array()}};
    for (const auto& [hour, decisions] : s.byHour) {
        std::int64_t total = 0;
        for (const auto& [d, n] : decisions) total += n;
        out["by_hour"].push_back({{"hour", formatTime(hour)}, {"requests", total}, {"by_decision", decisions}});
    }
    return ok(out, requestId);
}

net::LocalResponse RecordingApi::chainStatus(std::string_view requestId) {
    const auto r = monitor_.check();
    // Stretches signed only when the gateway started again (killed before signing them, or
    // written while it was stopped): `vigil verify` names them, and so does this.
    json signedAtStart = json::array();
    for (const auto& [from, to] : r.signedAtStart) signedAtStart.push_back({{"from_seq", from}, {"to_seq", to}});
    json out{{"ok", r.ok},
             {"events", r.events},
             {"first_seq", r.firstSeq},
             {"head_seq", r.lastSeq},
             {"verified_through", r.ok ? r.lastSeq : (r.brokenAt ? *r.brokenAt - 1 : 0)},
             {"signed_through", r.signedUpTo},
             {"checkpoints", r.checkpoints},
             {"purged_through", r.purgedThrough},
             {"key_id", r.keyId},
             {"unsigned_events", std::max<std::int64_t>(0, r.lastSeq - std::max(r.signedUpTo, r.purgedThrough))},
             {"signed_at_start", signedAtStart},
             {"broken_at", r.brokenAt ? json(*r.brokenAt) : json(nullptr)},
             {"problem", r.ok ? json(nullptr) : json(r.problem)},
             {"checked_at", formatTime(std::chrono::duration_cast<std::chrono::microseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count())}};
    return ok(out, requestId);
}

}  // namespace vigil::api

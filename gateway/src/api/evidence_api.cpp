#include "api/evidence_api.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <future>
#include <charconv>

#include "api/recording_api.h"
#include "auth/identity.h"
#include "observe/log.h"
#include "record/recorder.h"
#include "store/evidence_export.h"
#include "vigil/details_code.h"

namespace vigil::api {
namespace {

using json = nlohmann::json;

net::LocalResponse fail(DetailsCode code, const std::string& message, std::string_view requestId, const std::string& param = {}) {
    net::LocalResponse r;
    r.status = detailsCodeInfo(code).httpStatus;
    r.headers = {{"Content-Type", "application/json"}, {"X-Request-Id", std::string(requestId)}, {"Cache-Control", "no-store"}};
    r.body = param.empty() ? errorBody(code, message) : errorBody(code, message, {{"param", param}});
    return r;
}

}  // namespace

EvidenceApi::EvidenceApi(std::filesystem::path database, std::shared_ptr<record::Recorder> recorder)
    : database_(std::move(database)), recorder_(std::move(recorder)) {}

EvidenceApi::Prepared EvidenceApi::prepare(const net::RequestView& request, std::string_view requestId, const auth::Identity& who) {
    if (request.method != "GET") {
        auto r = fail(DetailsCode::MethodNotAllowed, "/api/evidence accepts GET only", requestId);
        r.headers.push_back({"Allow", "GET"});
        return {std::move(r), {}};
    }
    const auto path = request.path();
    const auto query = request.target.size() > path.size() ? request.target.substr(path.size() + 1) : std::string_view();
    const auto parsed = parseQuery(query);
    if (!parsed) return Prepared::refused(fail(DetailsCode::InvalidRequest, "the query string is malformed", requestId));
    if (const auto problem = repeatedOrEmpty(*parsed, {"from", "to", "subject", "connection", "model", "decision", "status", "code"})) {
        return Prepared::refused(fail(DetailsCode::InvalidRequest, problem->message, requestId, problem->param));
    }
    store::EvidenceRequest ask;
    std::optional<std::int64_t> from, to;
    json filters = json::object();
    for (const auto& [name, value] : *parsed) {
        auto& f = ask.filter;
        if (name == "from" || name == "to") {
            const auto t = RecordingApi::parseTime(value);
            if (!t) return Prepared::refused(fail(DetailsCode::InvalidRequest, "'" + name + "' must be an RFC 3339 time such as 2026-11-22T10:00:00Z (got '" + value + "')", requestId, name));
            (name == "from" ? from : to) = *t;
            continue;
        }
        filters[name] = value;
        if (name == "subject") f.subject = value;
        else if (name == "connection") f.connection = value;
        else if (name == "model") f.model = value;
        else if (name == "decision") {
            if (value != "allow" && value != "deny" && value != "review") {
                return Prepared::refused(fail(DetailsCode::InvalidRequest, "'decision' must be allow, deny or review (got '" + value + "')", requestId, name));
            }
            f.decision = value;
        } else if (name == "status") {
            if (value.size() == 3 && value[1] == 'x' && value[2] == 'x' && value[0] >= '1' && value[0] <= '5') {
                f.statusClass = value[0] - '0';
            } else {
                int v = 0;
                const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
                if (ec != std::errc() || end != value.data() + value.size() || v < 100 || v > 599) {
                    return Prepared::refused(fail(DetailsCode::InvalidRequest, "'status' must be a status such as 200 or a class such as 4xx (got '" + value + "')", requestId, name));
                }
                f.status = v;
            }
        } else if (name == "code") {
            if (!detailsCodeFromName(value)) return Prepared::refused(fail(DetailsCode::InvalidRequest, "'code' is not a details code: '" + value + "'", requestId, name));
            f.code = value;
        } else {
            return Prepared::refused(fail(DetailsCode::InvalidRequest,
                        "unknown parameter '" + name + "' (known: from, to, subject, connection, model, decision, status, code)", requestId, name));
        }
    }
    if (!from || !to) return Prepared::refused(fail(DetailsCode::InvalidRequest, "'from' and 'to' are required", requestId, !from ? "from" : "to"));
    if (*from >= *to) return Prepared::refused(fail(DetailsCode::InvalidRequest, "'from' must be before 'to'", requestId, "from"));
    ask.fromMicros = *from;
    ask.toMicros = *to;
    ask.generatedBy = who.subject;

    // A slot among the exports running, given back when the work is done (or dropped).
    if (running_->fetch_add(1) >= kMaxRunning) {
        running_->fetch_sub(1);
        auto r = fail(DetailsCode::RateLimited,
                      std::to_string(kMaxRunning) + " evidence exports are being made or sent already (the most at once); try again when one has finished",
                      requestId);
        r.headers.push_back({"Retry-After", "30"});
        return Prepared::refused(std::move(r));
    }
    std::shared_ptr<void> slot(nullptr, [running = running_](void*) { running->fetch_sub(1); });

    // The rest takes a while (a commit, the export, the ZIP): it runs off the I/O thread.
    auto self = shared_from_this();
    const std::string id(requestId);
    const std::string subject = who.subject;
    const std::string method(auth::methodName(who.method));
    return {std::nullopt, [self, slot, ask, filters, id, subject, method, from = *from, to = *to](const std::atomic<bool>& cancelled) {
                return self->run(ask, filters, id, subject, method, from, to, cancelled, slot);
            }};
}

net::LocalResponse EvidenceApi::run(store::EvidenceRequest ask, const json& filters, const std::string& requestId,
                                    const std::string& subject, const std::string& method, std::int64_t from, std::int64_t to,
                                    const std::atomic<bool>& cancelled, std::shared_ptr<void> slot) {
    // The export itself goes into the chain, with a checkpoint, before the bundle is made.
    json exported = {{"by", subject}, {"method", method}, {"from", RecordingApi::formatTime(from)}, {"to", RecordingApi::formatTime(to)},
                     {"filters", filters}};
    // Waits for that one commit (not for the whole queue, which steady traffic keeps busy).
    auto committed = std::make_shared<std::promise<bool>>();
    auto done = committed->get_future();
    recorder_->recordAndSign(record::kGatewaySession, "evidence.exported", exported.dump(), [committed](bool ok) { committed->set_value(ok); });
    // (Watched a tenth of a second at a time: a client that leaves meanwhile ends it.)
    const auto giveUp = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (done.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready && !cancelled &&
           std::chrono::steady_clock::now() < giveUp) {
    }
    if (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready || !done.get()) {
        if (cancelled) return fail(DetailsCode::InternalError, "the export was cancelled", requestId);  // nobody reads it
        return fail(DetailsCode::RecordingUnavailable, "the export could not be recorded, so no bundle is made", requestId);
    }

    // The bundle holds whole prompts: built in a directory only the gateway's user can enter,
    // made at a name nobody can guess or plant first (mkdtemp: mode 0700, O_EXCL semantics).
    std::string pattern = (std::filesystem::temp_directory_path() / "vigil-evidence-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        return fail(DetailsCode::InternalError, std::string("cannot create a private directory for the bundle: ") + std::strerror(errno),
                    requestId);
    }
    const std::filesystem::path dir = pattern;
    // Whatever happens below, the directory goes (the open ZIP outlives its name).
    std::shared_ptr<void> removeDir(nullptr, [dir](void*) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    });
    ask.cancelled = &cancelled;
    const auto result = store::exportEvidence(database_, recorder_->key(), ask, dir / "bundle");
    std::string zipError;
    const bool zipped = result.ok && store::zipBundle(dir / "bundle", dir / "bundle.zip", zipError, &cancelled);
    if (result.cancelled || cancelled) {
        observe::LogLine(observe::LogLevel::Info, "evidence export cancelled").str("request_id", requestId).str("reason", "the client left, or the 10-minute limit passed");
        // Nobody reads this answer: the client left, or it was told the deadline passed.
        return fail(DetailsCode::InternalError, "the export was cancelled", requestId);
    }
    if (!result.ok) {
        const bool empty = result.error.starts_with("no recorded session");
        return fail(empty ? DetailsCode::NotFound : DetailsCode::InternalError, result.error, requestId);
    }
    if (!zipped) return fail(DetailsCode::InternalError, "the bundle could not be archived: " + zipError, requestId);
    // Sent from the open file; its name goes with the directory, so nothing is left on disk.
    const int fd = ::open((dir / "bundle.zip").c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
        const std::string why = std::strerror(errno);
        if (fd >= 0) ::close(fd);
        return fail(DetailsCode::InternalError, "the bundle's archive cannot be read back: " + why, requestId);
    }
    net::LocalResponse r;
    r.file = std::make_shared<net::FileBody>(fd, static_cast<std::uint64_t>(st.st_size), std::move(slot));
    r.status = 200;
    auto day = [](std::string t) { return t.substr(0, 10); };
    r.headers = {{"Content-Type", "application/zip"},
                 {"Content-Disposition", "attachment; filename=\"vigil-evidence-" + day(RecordingApi::formatTime(from)) + "-to-" +
                                             day(RecordingApi::formatTime(to)) + ".zip\""},
                 {"X-Request-Id", requestId},
                 {"X-Vigil-Manifest-Sha256", result.manifestSha256},
                 {"Cache-Control", "no-store"}};
    return r;
}

}  // namespace vigil::api

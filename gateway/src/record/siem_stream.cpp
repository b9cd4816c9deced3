#include "record/siem_stream.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>

#include "observe/log.h"
#include "review/review.h"
#include "observe/thread_name.h"

namespace vigil::record {
namespace {

using json = nlohmann::json;

// OCSF 1.1: category 6 (Application Activity), class 6003 (API Activity); the recorded
// event's type is the API operation, and the record itself goes under "unmapped.vigil".
constexpr int kCategory = 6;
constexpr int kClass = 6003;

int activityOf(const std::string& type) {
    if (type == "request.received") return 1;   // Create
    if (type.starts_with("review.")) return 3;  // Update
    if (type == "request.completed" || type == "request.failed") return 2;  // Read
    return 99;                                   // Other
}

}  // namespace

std::string SiemStream::toOcsf(const Event& e, const std::string& productVersion) {
    auto payload = json::parse(e.payload, nullptr, false);
    if (payload.is_discarded()) payload = e.payload;
    const int activity = activityOf(e.type);
    json out = {
        {"category_uid", kCategory},
        {"category_name", "Application Activity"},
        {"class_uid", kClass},
        {"class_name", "API Activity"},
        {"activity_id", activity},
        {"type_uid", kClass * 100 + activity},
        {"severity_id", e.type == "request.failed" || e.type == "recording.resumed" ? 3 : 1},
        {"time", e.timeMicros / 1000},
        {"metadata",
         {{"version", "1.1.0"},
          {"uid", std::to_string(e.seq)},
          {"log_name", "vigil.recording"},
          {"original_time", review::formatTime(e.timeMicros)},
          {"product", {{"name", "Vigil Gateway"}, {"vendor_name", "Vigil"}, {"version", productVersion}}}}},
        {"api", {{"operation", e.type}}},
        {"unmapped",
         {{"vigil",
           {{"seq", e.seq}, {"session_id", e.sessionId}, {"type", e.type}, {"prev_hash", toHex(e.prevHash)}, {"hash", toHex(e.hash)},
            {"payload", payload}}}}},
    };
    if (payload.is_object()) {
        if (payload.contains("subject") && payload["subject"].is_string()) out["actor"] = {{"user", {{"uid", payload["subject"]}}}};
        if (payload.contains("request_id") && payload["request_id"].is_string()) out["api"]["request"] = {{"uid", payload["request_id"]}};
        if (payload.contains("status") && payload["status"].is_number_integer()) {
            const int status = payload["status"].get<int>();
            out["status_id"] = status >= 200 && status < 400 ? 1 : 2;  // Success, Failure
            out["status_code"] = std::to_string(status);
        }
    }
    return out.dump();
}

SiemStream::SiemStream(Options options) : options_(std::move(options)) {
    char host[256] = {};
    hostname_ = gethostname(host, sizeof host - 1) == 0 ? host : "vigil";
    thread_ = std::thread([this] {
        observe::nameThisThread("vigil-siem");
        run();
    });
}

SiemStream::~SiemStream() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    if (file_ != nullptr && file_ != stdout) std::fclose(file_);
    if (fd_ >= 0) ::close(fd_);
}

void SiemStream::publish(const Event& event) {
    auto line = toOcsf(event, options_.productVersion);
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.maxQueue) {
        if (dropped_++ % 10'000 == 0) {
            observe::LogLine(observe::LogLevel::Warn, "siem behind")
                .num("dropped", static_cast<std::int64_t>(dropped_))
                .str("effect", "recorded events beyond the queue bound are not sent to the SIEM (the chain keeps them)");
        }
        return;
    }
    queue_.push_back(std::move(line));
    wake_.notify_one();
}

std::uint64_t SiemStream::dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
}

bool SiemStream::connectSocket() {
    if (fd_ >= 0) return true;
    addrinfo hints{};
    hints.ai_socktype = options_.tcp ? SOCK_STREAM : SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(options_.host.c_str(), std::to_string(options_.port).c_str(), &hints, &found) != 0 || found == nullptr) return false;
    for (auto* a = found; a != nullptr; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) continue;
        // At most 3 s to connect and 5 s per send: an unreachable or stalled collector never
        // holds the stream (or the gateway's shutdown) for long.
        bool connected = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
        if (!connected && errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            int error = 0;
            socklen_t length = sizeof error;
            connected = ::poll(&p, 1, 3000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
        }
        if (connected) {
            const int flags = ::fcntl(fd, F_GETFL, 0);
            ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
            timeval timeout{5, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
            fd_ = fd;
            break;
        }
        ::close(fd);
    }
    freeaddrinfo(found);
    return fd_ >= 0;
}

bool SiemStream::deliver(const std::string& line) {
    if (options_.sink == Options::Sink::File || options_.sink == Options::Sink::Stdout) {
        if (file_ == nullptr) {
            file_ = options_.sink == Options::Sink::Stdout ? stdout : std::fopen(options_.file.c_str(), "a");
            if (file_ == nullptr) return false;
        }
        return std::fputs(line.c_str(), file_) >= 0 && std::fputc('\n', file_) != EOF;
    }
    // RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG; facility user (1), severity info (6).
    std::string message = "<14>1 " +
                          review::formatTime(std::chrono::duration_cast<std::chrono::microseconds>(
                                                 std::chrono::system_clock::now().time_since_epoch())
                                                 .count()) +
                          " " + hostname_ + " vigil-gateway - vigil.event - " + line;
    if (options_.tcp) message = std::to_string(message.size()) + " " + message;  // RFC 6587 octet counting
    if (!connectSocket()) return false;
    std::size_t sent = 0;
    while (sent < message.size()) {
        const auto n = ::send(fd_, message.data() + sent, message.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && !options_.tcp && errno == EMSGSIZE) {
            // One event larger than a datagram (a long prompt, a policy's text) cannot go over
            // UDP: it is skipped, counted and logged, and the stream goes on.
            std::lock_guard lock(mutex_);
            ++dropped_;
            observe::LogLine(observe::LogLevel::Warn, "siem event too large")
                .num("bytes", static_cast<std::int64_t>(message.size()))
                .str("effect", "not sent over UDP syslog (use TCP or a file for large events); the chain keeps it");
            return true;
        }
        if (n <= 0) {
            ::close(fd_);
            fd_ = -1;
            return false;
        }
        sent += static_cast<std::size_t>(n);
        if (!options_.tcp) break;  // one datagram
    }
    return true;
}

void SiemStream::run() {
    std::unique_lock lock(mutex_);
    bool warned = false;
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() && stopping_) break;
        auto line = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        bool ok = deliver(line);
        if (!ok) {
            if (!warned) {
                observe::LogLine(observe::LogLevel::Warn, "siem unavailable")
                    .str("sink", options_.sink == Options::Sink::Syslog ? options_.host + ":" + std::to_string(options_.port) : options_.file.string())
                    .str("effect", "events wait (up to siem.max_queue) and are sent when it is back");
                warned = true;
            }
            lock.lock();
            queue_.push_front(std::move(line));  // kept, in order
            if (stopping_) break;
            wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
            continue;
        }
        warned = false;
        lock.lock();
        if (queue_.empty() && file_ != nullptr) std::fflush(file_);
    }
    if (file_ != nullptr) std::fflush(file_);
}

}  // namespace vigil::record

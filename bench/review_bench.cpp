// Review gate benchmark: the real vigil-gateway with N requests parked at once for review
// (hold mode), then approved one by one over REST.
//   rss         the gateway's resident memory idle, with N requests parked, and per request
//   approval    time from sending the approval to the first byte of the released request at
//               the upstream (p50/p99/max); target p99 <= 5 ms
//   baseline    in the same run: time from a client sending an allowed request to its first
//               byte at the upstream (the gateway's pass-through), so the ratio shows what
//               waking a parked request adds
// The upstream is this program (a loopback HTTP server that timestamps arrivals), so both
// times come from one clock.
//
// Usage: vigil-review-bench [--requests N]   (default 1000)

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
namespace fs = std::filesystem;

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "vigil-review-bench: %s\n", what.c_str());
    std::exit(1);
}

int listenLoopback(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4096) != 0) die("cannot listen");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
}

int connectLoopback(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("cannot connect to port " + std::to_string(port));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void sendAll(int fd, const std::string& data) {
    std::size_t at = 0;
    while (at < data.size()) {
        const auto n = ::send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
        if (n <= 0) die("send failed");
        at += static_cast<std::size_t>(n);
    }
}

struct Response {
    int status = 0;
    std::string body;
};

// Reads one HTTP/1.1 response with Content-Length (the gateway's API answers).
Response readResponse(int fd, std::string& buffer) {
    for (;;) {
        const auto end = buffer.find("\r\n\r\n");
        if (end != std::string::npos) {
            Response r;
            r.status = std::atoi(buffer.c_str() + 9);
            std::size_t length = 0;
            std::string head = buffer.substr(0, end);
            for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            const auto cl = head.find("content-length:");
            if (cl != std::string::npos) length = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
            if (buffer.size() >= end + 4 + length) {
                r.body = buffer.substr(end + 4, length);
                buffer.erase(0, end + 4 + length);
                return r;
            }
        }
        char chunk[65536];
        const auto n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) die("connection closed while reading a response");
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
}

std::string request(const std::string& method, const std::string& path, const std::string& key, const std::string& body) {
    std::string r = method + " " + path + " HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " + key + "\r\n";
    if (!body.empty() || method == "POST") r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    r += "\r\n" + body;
    return r;
}

std::string chatBody(const std::string& prompt) {
    return json{{"model", "bench-model"}, {"messages", json::array({{{"role", "user"}, {"content", prompt}}})}}.dump();
}

// The upstream: records when each request's first byte arrives (by the "#N#" marker in
// its prompt) and answers a small chat completion.
class Upstream {
public:
    explicit Upstream(std::size_t slots) : arrivals_(slots) {
        fd_ = listenLoopback(port_);
        thread_ = std::thread([this] { run(); });
    }
    ~Upstream() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    std::uint16_t port() const { return port_; }
    std::optional<Clock::time_point> arrival(std::size_t i) {
        std::lock_guard lock(mutex_);
        return arrivals_[i];
    }
    std::size_t count() const { return served_.load(); }

private:
    struct Conn {
        int fd;
        std::string buffer;
        Clock::time_point firstByte{};
    };
    void run() {
        std::vector<Conn> conns;
        static const std::string answer = json{{"id", "chatcmpl-bench"}, {"object", "chat.completion"}, {"model", "bench-model"},
                                               {"choices", json::array({{{"index", 0}, {"finish_reason", "stop"},
                                                                         {"message", {{"role", "assistant"}, {"content", "ok"}}}}})}}
                                              .dump();
        const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                  std::to_string(answer.size()) + "\r\n\r\n" + answer;
        while (!stop_) {
            std::vector<pollfd> fds;
            fds.push_back({fd_, POLLIN, 0});
            for (const auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
            if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
            const auto now = Clock::now();
            if (fds[0].revents & POLLIN) {
                const int c = ::accept(fd_, nullptr, nullptr);
                if (c >= 0) {
                    int one = 1;
                    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns.push_back({c, {}, {}});
                }
            }
            for (std::size_t i = 1; i < fds.size(); ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                auto& conn = conns[i - 1];
                char chunk[65536];
                const auto n = ::recv(conn.fd, chunk, sizeof chunk, 0);
                if (n <= 0) {
                    ::close(conn.fd);
                    conn.fd = -1;
                    continue;
                }
                if (conn.buffer.empty()) conn.firstByte = now;
                conn.buffer.append(chunk, static_cast<std::size_t>(n));
                const auto end = conn.buffer.find("\r\n\r\n");
                if (end == std::string::npos) continue;
                std::string head = conn.buffer.substr(0, end);
                for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                const auto cl = head.find("content-length:");
                const std::size_t length = cl == std::string::npos ? 0 : std::strtoul(head.c_str() + cl + 15, nullptr, 10);
                if (conn.buffer.size() < end + 4 + length) continue;
                const auto body = conn.buffer.substr(end + 4, length);
                conn.buffer.erase(0, end + 4 + length);
                const auto mark = body.find('#');
                if (mark != std::string::npos) {
                    const auto index = std::strtoul(body.c_str() + mark + 1, nullptr, 10);
                    std::lock_guard lock(mutex_);
                    if (index < arrivals_.size()) arrivals_[index] = conn.firstByte;
                }
                ++served_;
                sendAll(conn.fd, reply);
                if (!conn.buffer.empty()) conn.firstByte = now;
            }
            conns.erase(std::remove_if(conns.begin(), conns.end(), [](const Conn& c) { return c.fd < 0; }), conns.end());
        }
        for (auto& c : conns) ::close(c.fd);
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> served_{0};
    std::mutex mutex_;
    std::vector<std::optional<Clock::time_point>> arrivals_;
};

std::string run(const std::string& command) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (p == nullptr) die("cannot run " + command);
    char buf[4096];
    while (const auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    if (::pclose(p) != 0) die("failed: " + command);
    return out;
}

long rssKb(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return -1;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t n = 1000;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--requests" && i + 1 < argc) {
            n = std::strtoul(argv[++i], nullptr, 10);
        } else {
            std::fprintf(stderr, "usage: vigil-review-bench [--requests N]\n");
            return 2;
        }
    }
    if (n == 0 || n > 20000) die("--requests must be 1 to 20000");
    ::signal(SIGPIPE, SIG_IGN);
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 3 * n + 200) die("the open-files limit (" + std::to_string(limit.rlim_cur) + ") is too low for " + std::to_string(n) + " requests");

    const std::size_t baselineCount = 200;
    Upstream upstream(n + baselineCount);
    const fs::path dir = fs::temp_directory_path() / ("vigil-review-bench-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string gateway = VIGIL_GATEWAY_BIN;
    const auto db = (dir / "vigil.db").string();
    auto makeKey = [&](const std::string& name, const std::string& roles) {
        auto out = run(gateway + " keys create --db " + db + " --name " + name + " --roles " + roles + " 2>/dev/null");
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        return out;
    };
    const auto requester = makeKey("requester", "requester");
    const auto approver = makeKey("approver", "approver");
    std::ofstream(dir / "policy.json") << R"({"default_action": "deny", "rules": [
      {"id": "requesters", "match": {"roles": ["requester"]}, "action": "allow"},
      {"id": "held", "if": {"keywords": {"words": ["hold me"]}}, "action": "review",
       "review": {"approver_roles": ["approver"], "timeout_seconds": 3600}}]})";
    std::ofstream(dir / "gateway.json") << json{
        {"listeners", json::array({{{"address", "127.0.0.1"}, {"port", 0}}})},
        {"connections", {{"bench", {{"kind", "openai"}, {"base_url", "http://127.0.0.1:" + std::to_string(upstream.port())},
                                    {"credential", {{"env", "VIGIL_BENCH_UPSTREAM_KEY"}}}}}}},
        {"store", {{"sqlite_path", db}}},
        {"policy", {{"file", (dir / "policy.json").string()}}},
        {"reviews", {{"max_pending", 100000}}}}.dump(2);

    const auto logFile = (dir / "gateway.log").string();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::setenv("VIGIL_BENCH_UPSTREAM_KEY", "sk-bench-upstream", 1);
        const int out = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(out, 1);
        ::dup2(out, 2);
        const auto config = (dir / "gateway.json").string();
        ::execl(gateway.c_str(), gateway.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // The gateway logs the URL it listens on.
    std::uint16_t port = 0;
    for (int tries = 0; tries < 200 && port == 0; ++tries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::ifstream log(logFile);
        std::string line;
        while (std::getline(log, line)) {
            const auto at = line.find("\"url\":\"http://127.0.0.1:");
            if (at != std::string::npos) port = static_cast<std::uint16_t>(std::atoi(line.c_str() + at + 24));
        }
    }
    if (port == 0) {
        ::kill(pid, SIGKILL);
        die("the gateway did not start; see " + logFile);
    }
    const int api = connectLoopback(port);
    std::string apiBuffer;

    // Baseline: allowed requests, client send -> first byte at the upstream.
    std::vector<double> baseline;
    {
        const int c = connectLoopback(port);
        std::string buffer;
        for (std::size_t i = 0; i < baselineCount; ++i) {
            const auto body = chatBody("an allowed prompt #" + std::to_string(n + i) + "#");
            const auto sent = Clock::now();
            sendAll(c, request("POST", "/v1/chat/completions", requester, body));
            const auto r = readResponse(c, buffer);
            if (r.status != 200) die("baseline request answered " + std::to_string(r.status) + ": " + r.body);
            const auto arrived = upstream.arrival(n + i);
            if (!arrived) die("baseline request not seen by the upstream");
            if (i >= 20) baseline.push_back(std::chrono::duration<double, std::milli>(*arrived - sent).count());
        }
        ::close(c);
    }
    const long rssIdle = rssKb(pid);

    // Park N requests, each on its own connection.
    std::vector<int> clients;
    clients.reserve(n);
    const auto parkStart = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
        const int c = connectLoopback(port);
        sendAll(c, request("POST", "/v1/chat/completions", requester, chatBody("please hold me #" + std::to_string(i) + "#")));
        clients.push_back(c);
    }
    std::map<std::size_t, std::string> ids;
    for (int tries = 0; tries < 600; ++tries) {
        sendAll(api, request("GET", "/api/reviews?state=pending&limit=1000", approver, ""));
        const auto r = readResponse(api, apiBuffer);
        if (r.status != 200) die("listing reviews answered " + std::to_string(r.status));
        const auto j = json::parse(r.body);
        if (j.value("pending", std::size_t{0}) >= n) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double parkSeconds = std::chrono::duration<double>(Clock::now() - parkStart).count();
    // Ids by request number (the list returns at most 1000 a page: list until all are seen).
    for (int page = 0; ids.size() < n && page < 100; ++page) {
        sendAll(api, request("GET", "/api/reviews?state=pending&limit=1000", approver, ""));
        const auto j = json::parse(readResponse(api, apiBuffer).body);
        for (const auto& r : j["reviews"]) {
            const auto text = r["messages"][0]["text"].get<std::string>();
            const auto mark = text.find('#');
            ids[std::strtoul(text.c_str() + mark + 1, nullptr, 10)] = r["id"].get<std::string>();
        }
        if (ids.size() < n) die("only " + std::to_string(ids.size()) + " of " + std::to_string(n) +
                                " reviews are listed (the list shows at most 1000; use --requests <= 1000)");
    }
    const long rssParked = rssKb(pid);

    // Approve one at a time: approval sent -> first byte of that request at the upstream.
    std::vector<double> latency;
    latency.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto sent = Clock::now();
        sendAll(api, request("POST", "/api/reviews/" + ids[i] + "/approve", approver, R"({"reason":"bench"})"));
        const auto r = readResponse(api, apiBuffer);
        if (r.status != 200) die("approval answered " + std::to_string(r.status) + ": " + r.body);
        std::optional<Clock::time_point> arrived;
        for (int spin = 0; spin < 100000 && !(arrived = upstream.arrival(i)); ++spin) std::this_thread::yield();
        if (!arrived) die("request " + std::to_string(i) + " never reached the upstream after its approval");
        latency.push_back(std::chrono::duration<double, std::milli>(*arrived - sent).count());
    }
    // Every parked caller got its answer.
    std::size_t ok = 0;
    for (const int c : clients) {
        std::string buffer;
        if (readResponse(c, buffer).status == 200) ++ok;
        ::close(c);
    }
    ::close(api);
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    fs::remove_all(dir);

    const double p50 = percentile(latency, 0.50), p99 = percentile(latency, 0.99), max = percentile(latency, 1.0);
    const double b50 = percentile(baseline, 0.50), b99 = percentile(baseline, 0.99);
    std::printf("review gate, %zu requests parked at once (hold mode), approved one at a time\n", n);
    std::printf("  parking      %zu requests in %.2f s; all %zu callers answered 200 after approval: %s\n", n, parkSeconds, ok,
                ok == n ? "yes" : "NO");
    std::printf("  gateway RSS  idle %.1f MB, with %zu parked %.1f MB: %.1f KB per parked request\n", rssIdle / 1024.0, n,
                rssParked / 1024.0, static_cast<double>(rssParked - rssIdle) / static_cast<double>(n));
    std::printf("  approval -> first upstream byte   p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", p50, p99, max);
    std::printf("  baseline: allowed request -> first upstream byte (same run)   p50 %.3f ms  p99 %.3f ms\n", b50, b99);
    std::printf("  ratio approval/baseline           p50 %.2fx  p99 %.2fx\n", p50 / b50, p99 / b99);
    std::printf("  target p99 <= 5 ms: %s\n", p99 <= 5.0 ? "PASS" : "FAIL");
    return ok == n ? 0 : 1;
}

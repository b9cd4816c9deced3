#pragma once

// The plain request/response types the rest of the gateway (and the mock upstream) sees.
// Nothing here includes Asio or Beast.

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/details_code.h"

namespace vigil::net {

struct HeaderField {
    std::string name;
    std::string value;
};
using Headers = std::vector<HeaderField>;

struct HeaderView {
    std::string_view name;
    std::string_view value;
};

bool equalsIgnoreCase(std::string_view a, std::string_view b);
bool startsWithIgnoreCase(std::string_view text, std::string_view prefix);  // ASCII case

// One request as read from a client; the views stay valid until the handler returns.
struct RequestView {
    std::string_view method;
    std::string_view target;  // path and query as sent
    std::span<const HeaderView> headers;
    std::string_view body;
    bool tls = false;
    std::string_view clientAddress;
    unsigned version = 11;  // HTTP/1.1: 11, HTTP/1.0: 10

    // First header with that name (case-insensitive), or an empty view.
    std::string_view header(std::string_view name) const;
    bool hasHeader(std::string_view name) const;
    std::string_view path() const { return target.substr(0, target.find('?')); }
};

// A response the server writes itself: the gateway's own endpoints and errors, and the
// mock upstream's scripted answers (which is why it can delay, stream and reset).
// A response body read from an open file as it is sent (an evidence bundle of gigabytes is
// never in memory whole). The file is usually unlinked already; the descriptor is closed
// when the last copy of this goes.
class FileBody {
public:
    // `held` is released with the body (the evidence export's slot: a bundle on disk counts
    // until it has been sent).
    FileBody(int fd, std::uint64_t size, std::shared_ptr<void> held = {}) : fd_(fd), size_(size), held_(std::move(held)) {}
    ~FileBody();
    FileBody(const FileBody&) = delete;
    FileBody& operator=(const FileBody&) = delete;
    int fd() const { return fd_; }
    std::uint64_t size() const { return size_; }

private:
    int fd_;
    std::uint64_t size_;
    std::shared_ptr<void> held_;
};

struct LocalResponse {
    int status = 200;
    Headers headers;
    std::string body;
    // When set (and not `streamed`), the body is this file's bytes instead of `body`.
    std::shared_ptr<const FileBody> file;

    // When `streamed`, `body` is ignored and each step is written as one chunk after its
    // delay (chunked transfer encoding).
    struct Step {
        std::chrono::milliseconds delay{0};
        std::string data;
    };
    bool streamed = false;
    std::vector<Step> steps;
    std::chrono::milliseconds headDelay{0};  // before the status line

    enum class Ending { Complete, ResetConnection };
    Ending ending = Ending::Complete;  // ResetConnection: send an RST after the steps
    bool closeConnection = false;
    // The head and some chunks were already sent (a streaming request that waited for a
    // review with keep-alive comments): `body` is written as the stream's last chunk(s).
    bool continuesStream = false;
};

// Why forwarding stopped early.
struct ForwardFailure {
    DetailsCode code;     // UpstreamUnreachable, UpstreamTimeout, UpstreamReset, ...
    std::string message;  // for the client: never contains the credential
};

struct ExchangeOutcome {
    int status = 0;                      // status sent to the client (0: none sent)
    std::optional<DetailsCode> code;     // set when the gateway (not the upstream) decided
    std::uint64_t requestBytes = 0;
    std::uint64_t responseBytes = 0;     // body bytes sent to the client
    std::chrono::steady_clock::duration duration{};
    bool clientAborted = false;
};

class WakeSignal;

// What the server waits for before it completes a response (strict recording): it writes
// the final bytes only once the gate is open, and only if `ok`.
struct FinishGate {
    std::shared_ptr<WakeSignal> signal;
    std::shared_ptr<std::atomic<bool>> ok;
    std::chrono::milliseconds timeout{60'000};  // then the gate counts as closed (!ok)
    // A short gate (a strict recording commit, which lands within a fsync): the thread
    // polls for it this long before it sleeps (0: sleeps at once). Waking a sleeping thread
    // costs tens of microseconds on a virtual machine, which the response would pay on top.
    std::chrono::microseconds spin{0};
    // A long wait (an answer held for output review): the server watches the client
    // meanwhile and calls `clientGone` (on the connection's thread) if it leaves, and, once
    // a stream's head is out, writes `heartbeat` (an SSE comment) every `heartbeatInterval`
    // so that the client and the proxies in between keep the connection open.
    std::function<void()> clientGone;
    std::string heartbeat;
    std::chrono::milliseconds heartbeatInterval{0};
};

// Per-request hooks the handler gives the server; the server calls them in order, on
// the connection's thread: onResponseHead, onResponseData*, onResponseEnd or a failure,
// beforeFinish, then onComplete exactly once.
class ExchangeObserver {
public:
    virtual ~ExchangeObserver() = default;

    // The upstream's status and headers (hop-by-hop fields already removed); may edit
    // both (a response the gateway cannot pass on becomes its own error).
    virtual void onResponseHead(int& status, Headers& headers, bool streaming) = 0;
    // A piece of the upstream body (streaming) or the whole body (buffered); appends what
    // the client receives to `out`.
    virtual void onResponseData(std::string_view data, std::string& out) = 0;
    // After each piece of a stream: a reason to end it there (onFailureMidStream follows), or
    // none to go on.
    virtual std::optional<ForwardFailure> streamFailure() { return std::nullopt; }
    // End of the upstream body; appends any bytes still held back.
    virtual void onResponseEnd(std::string& out) = 0;
    // Forwarding failed before anything was sent: the reply for the client.
    virtual LocalResponse onFailureBeforeHead(const ForwardFailure& failure) = 0;
    // Forwarding failed mid-stream: appends the bytes that end the stream for the client.
    virtual void onFailureMidStream(const ForwardFailure& failure, std::string& out) = 0;
    // Before the final bytes are written (a whole local or buffered response, or the end
    // of a stream); `finalData` is what is about to be written (for a stream, only the last
    // piece), and `outcome` what the client will have received once it is. A gate to wait
    // for, or none to write at once.
    virtual std::optional<FinishGate> beforeFinish(std::string_view finalData, const ExchangeOutcome& outcome) {
        (void)finalData;
        (void)outcome;
        return std::nullopt;
    }
    // The gate closed with !ok: the reply to send instead (no stream started), or the
    // bytes that end a started stream for the client before the connection is dropped.
    // After a gate opened with ok: another gate to wait for before the final bytes (an
    // answer held for output review, then its recording), or none.
    virtual std::optional<FinishGate> afterGate() { return std::nullopt; }
    virtual LocalResponse onFinishRefused() { return {}; }
    // The gate of a started stream closed: appends the bytes that end it. True when the
    // stream may then end normally (a verdict, such as an output review's denial), false
    // when it must be cut short without its last chunk (the answer could not be recorded).
    virtual bool onFinishRefusedMidStream(std::string& out) { (void)out; return false; }
    // After onFinishRefused / onFinishRefusedMidStream: a gate that opens once the refusal
    // itself is recorded (strict durability), or none.
    virtual std::optional<FinishGate> refusalRecorded() { return std::nullopt; }
    virtual void onComplete(const ExchangeOutcome& outcome) = 0;
};

struct ForwardRequest {
    std::size_t upstream = 0;          // index into ServerOptions::upstreams
    std::string target;                // path and query for the upstream
    // Client headers with these names are not forwarded (hop-by-hop ones never are).
    std::span<const std::string_view> dropHeaders;
    Headers setHeaders;                // added to the upstream request
    std::string_view credentialHeader; // added as Authorization; owned by the config
    std::optional<std::string> body;   // instead of the client's body (masked prompts)
    // The client's head and keep-alive comments were already sent (see LocalResponse):
    // the upstream's stream continues it; any other answer ends it as an error event.
    bool continuesStream = false;
};

struct Action;

// A request a stage cannot decide yet (signing keys being fetched; later, a human
// approval). The server keeps the request and its connection open without blocking its
// thread, and continues when woken or when `deadline` passes.
class ParkedRequest {
public:
    virtual ~ParkedRequest() = default;
    // Registers the callback that continues the request. It is called once, from any
    // thread, possibly before setWaker returns.
    virtual void setWaker(std::function<void()> wake) = 0;
    // On the connection's thread, once woken: the next decision (it may park again).
    virtual Action resume(const RequestView& request) = 0;
    // On the connection's thread, when the deadline passed first.
    virtual Action expire(const RequestView& request) = 0;
    // On the connection's thread, when the client went away while the request waited.
    virtual void abandon(const RequestView& request) { (void)request; }

    // While waiting, a streaming client may be sent a response head and then a comment
    // every `interval`, so that it and the proxies in between keep the connection open.
    struct Heartbeat {
        int status = 200;
        Headers headers;
        std::string comment;  // written as is, e.g. ": pending review rv_...\n\n"
        std::chrono::milliseconds interval{15'000};
    };
    virtual std::optional<Heartbeat> heartbeat() const { return std::nullopt; }
    std::chrono::milliseconds deadline{30'000};
    bool streamStarted = false;  // set by the server: a heartbeat head was sent
};

// A WebSocket connection the handler accepted (Action::Kind::Upgrade). Thread-safe.
class WebSocketPeer {
public:
    virtual ~WebSocketPeer() = default;
    // Queues a text message. False when the connection is closing, or when the client
    // reads so slowly that the queue passed its bound: the connection is then closed
    // with code 1008 (policy violation) and nothing more is queued.
    virtual bool send(std::string message) = 0;
    virtual void close(std::uint16_t code, std::string reason) = 0;
};

// The handler's side of a WebSocket connection; called on the connection's thread.
class WebSocketHandler {
public:
    virtual ~WebSocketHandler() = default;
    virtual void onOpen(std::shared_ptr<WebSocketPeer> peer) = 0;
    virtual void onMessage(std::string_view text) = 0;
    virtual void onClose() = 0;
};

// What the handler decided for one request.
struct Action {
    enum class Kind { Local, Forward, Park, Upgrade };
    Kind kind = Kind::Local;
    LocalResponse local;
    ForwardRequest forward;
    // Always set for Forward; optional for Local (then only onComplete is called).
    std::unique_ptr<ExchangeObserver> observer;
    std::shared_ptr<ParkedRequest> parked;  // Park
    std::shared_ptr<WebSocketHandler> webSocket;  // Upgrade (a GET with Upgrade: websocket)
};

// The thread-safe half of a ParkedRequest: whoever finishes the work calls wake(); the
// server's waker runs once, whichever of the two comes first.
class WakeSignal {
public:
    void setWaker(std::function<void()> waker);
    void wake();

private:
    std::mutex mutex_;
    bool woken_ = false;
    std::function<void()> waker_;
};

class RequestHandler {
public:
    virtual ~RequestHandler() = default;
    virtual Action handle(const RequestView& request) = 0;
    // A request the server could not read (400, 413, 431...); `request` is null when the
    // headers themselves could not be read. The answer is a Local action (its observer,
    // if any, sees it written, so that it can be recorded).
    virtual Action rejected(DetailsCode code, std::string_view message, const RequestView* request,
                            std::string_view clientAddress) = 0;
    virtual void onShutdownStarted() {}
};

}  // namespace vigil::net

#pragma once

// The HTTP/1.1 session with one client and the proxy engine behind it. A template over
// the stream (plain TCP or TLS), instantiated in client_session_plain.cpp and
// client_session_tls.cpp.
//
// Reading uses Beast's parser fed straight from the connection's buffer; writing is done
// by hand (http_wire.h) with one gather write per message. Both keep a proxied request to
// one read and one write on each side in the common case.

#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>

#include "net/forward_errors.h"
#include "net/http_wire.h"
#include "net/stream_io.h"
#include "net/websocket.h"
#include "net/worker.h"
#include "observe/log.h"

namespace vigil::net {


// Feeds the bytes buffered in `buffer` to `parser` until `done(parser)` or it needs more.
// Returns need_more when it does (not an error for the caller's loop).
template <class Parser, class Done>
error_code parseBuffered(Parser& parser, beast::flat_buffer& buffer, Done done) {
    while (buffer.size() > 0 && !done(parser)) {
        error_code ec;
        const std::size_t n = parser.put(buffer.data(), ec);
        buffer.consume(n);
        if (ec) return ec;
        if (n == 0) break;
    }
    return done(parser) ? error_code{} : error_code(http::error::need_more);
}

// Every field of one name joined into one list: a client or upstream may send several
// (RFC 9110 5.3). Connection: each names fields that must not go past this hop.
template <class Fields>
std::string joinedFieldValues(const Fields& fields, http::field name = http::field::connection) {
    std::string joined;
    const auto [first, last] = fields.equal_range(name);
    for (auto it = first; it != last; ++it) {
        if (!joined.empty()) joined += ',';
        joined += toStd(it->value());
    }
    return joined;
}

// RFC 9112 6.3: a request's body length is known only from Content-Length or from a
// Transfer-Encoding whose codings are exactly "chunked" (the gateway decodes no other).
// Anything else (say "gzip", "xchunked", "chunked, identity" or "gzip, chunked") would have
// the parser take the body for empty and read the rest as the next request: refused.
// A response's codings are held to the same: the gateway sends no TE (RFC 9112 6.1).
template <class Message>
bool framingAccepted(const Message& message) {
    int codings = 0;
    bool chunked = true;
    const auto [first, last] = message.equal_range(http::field::transfer_encoding);
    for (auto field = first; field != last; ++field) {
        std::string_view value = toStd(field->value());
        while (!value.empty()) {
            const auto comma = value.find(',');
            auto token = value.substr(0, comma);
            value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
            while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
            while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
            ++codings;
            if (!beast::iequals(token, "chunked")) chunked = false;
        }
        if (codings == 0) return false;  // an empty Transfer-Encoding
    }
    return codings == 0 || (codings == 1 && chunked);
}

template <class Stream>
class ClientSession final : public SessionBase,
                            public std::enable_shared_from_this<ClientSession<Stream>> {
public:
    static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

    template <class... Args>
    explicit ClientSession(Worker& worker, Args&&... args)
        : worker_(worker),
          options_(worker.shared.options),
          stream_(std::forward<Args>(args)...),
          deadline_(worker.watchdog, lowestSocket(stream_)) {
        buffer_.reserve(8 * 1024);  // a whole request in one recv
        worker_.sessions.insert(this);
        worker_.shared.liveSessions.fetch_add(1, std::memory_order_relaxed);
    }

    ~ClientSession() override {
        worker_.sessions.erase(this);
        worker_.shared.liveSessions.fetch_sub(1, std::memory_order_relaxed);
    }

    void closeIfIdle() override {
        closing_ = true;
        if (idle_) {
            error_code ec;
            lowestSocket(stream_).close(ec);
        }
    }

    asio::awaitable<void> run() {
        auto self = this->shared_from_this();
        {
            error_code ec;
            auto& socket = lowestSocket(stream_);
            socket.set_option(tcp::no_delay(true), ec);
            socket.non_blocking(true, ec);
            const auto endpoint = socket.remote_endpoint(ec);
            if (!ec) clientAddress_ = endpoint.address().to_string();
        }
        if constexpr (kTls) {
            idle_ = true;
            deadline_.arm(options_.requestTimeout);
            auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, useNothrow);
            deadline_.disarm();
            idle_ = false;
            if (ec) {
                observe::LogLine(observe::LogLevel::Debug, "tls handshake failed")
                    .str("client", clientAddress_)
                    .str("error", timeoutAware(ec, deadline_).message());
                co_return;
            }
        }
        bool first = true;
        while (!closing_) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(options_.maxHeaderBytes));
            parser.body_limit(options_.maxBodyBytes);
            const auto ec = co_await readRequest(parser, first);
            first = false;
            if (ec) {
                co_await rejectUnreadable(ec, parser);
                break;
            }
            const auto start = Clock::now();
            auto& request = parser.get();
            const bool keepAlive = request.keep_alive() && request.version() == 11 && !closing_ &&
                                   !worker_.shared.draining.load(std::memory_order_relaxed);
            const bool again = co_await serve(parser.release(), keepAlive, start);
            if (!again) break;
        }
        co_await closeGracefully();
    }

private:
    // Reads one whole request (headers and body) into `parser`. The whole request must
    // arrive within requestTimeout of its first byte (of the connection, for the first one),
    // not each read: a client sending a byte now and then would otherwise hold the
    // connection for ever (slowloris). Past it: request_timeout.
    asio::awaitable<error_code> readRequest(http::request_parser<http::string_body>& parser,
                                            bool first) {
        bool anyBytes = buffer_.size() > 0;
        bool continueSent = false;
        bool framingChecked = false;
        // The fields before the last chunk's trailers (a chunked request's header section):
        // the last chunk's header is parsed before its trailer fields.
        std::ptrdiff_t headerFields = -1;
        auto lastChunk = [&](std::uint64_t size, beast::string_view, error_code&) {
            if (size == 0) headerFields = std::distance(parser.get().begin(), parser.get().end());
        };
        parser.on_chunk_header(lastChunk);
        std::optional<Clock::time_point> due;
        if (anyBytes || first) due = Clock::now() + options_.requestTimeout;
        framingProblem_.clear();
        for (;;) {
            auto ec = parseBuffered(parser, buffer_, [](const auto& p) { return p.is_done(); });
            if (!framingChecked && parser.is_header_done()) {
                framingChecked = true;
                if (!framingAccepted(parser.get())) co_return http::error::bad_transfer_encoding;
            }
            if (!ec && headerFields >= 0 && std::distance(parser.get().begin(), parser.get().end()) != headerFields) {
                // Beast merges trailer fields into the header section; RFC 9110 6.5.1 forbids
                // it, and an Authorization or X-Vigil-Session sent last would count as sent
                // first (unseen by any proxy in front that checks headers).
                framingProblem_ = "trailer fields after a chunked request body are refused: send every field in the header section";
                co_return http::error::bad_transfer_encoding;
            }
            if (!ec) co_return ec;
            if (ec != http::error::need_more) co_return ec;
            if (parser.is_header_done() && !continueSent &&
                beast::iequals(parser.get()[http::field::expect], "100-continue")) {
                continueSent = true;
                static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                ec = co_await writeAll(stream_, std::array{asio::const_buffer(kContinue.data(), kContinue.size())},
                                       deadline_, options_.requestTimeout);
                if (ec) co_return ec;
            }
            // Between requests the connection is idle (shutdown may close it then).
            idle_ = !anyBytes;
            auto timeout = options_.keepAliveTimeout;
            if (due) {
                const auto left = std::chrono::ceil<std::chrono::milliseconds>(*due - Clock::now());
                if (left <= std::chrono::milliseconds::zero()) {
                    partialRequest_ = anyBytes;
                    co_return beast::error::timeout;
                }
                timeout = left;
            }
            ec = co_await readMore(stream_, buffer_, deadline_, timeout);
            idle_ = false;
            if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
                co_return anyBytes ? error_code(http::error::partial_message)
                                   : error_code(http::error::end_of_stream);
            }
            if (ec) {
                partialRequest_ = anyBytes;
                co_return ec;
            }
            if (!due) due = Clock::now() + options_.requestTimeout;
            anyBytes = true;
        }
    }

    void fillView(const http::request<http::string_body>& request) {
        headerViews_.clear();
        for (const auto& field : request) {
            headerViews_.push_back({toStd(field.name_string()), toStd(field.value())});
        }
        view_.method = toStd(request.method_string());
        view_.target = toStd(request.target());
        view_.headers = headerViews_;
        view_.body = request.body();
        view_.tls = kTls;
        view_.clientAddress = clientAddress_;
        view_.version = request.version();
    }

    // The request could not be read: answer what can be answered, then close.
    asio::awaitable<void> rejectUnreadable(const error_code& ec,
                                           http::request_parser<http::string_body>& parser) {
        std::optional<DetailsCode> code;
        std::string message;
        if (ec == http::error::header_limit) {
            code = DetailsCode::HeadersTooLarge;
            message = "request headers exceed the limit of " +
                      std::to_string(options_.maxHeaderBytes) + " bytes";
        } else if (ec == http::error::body_limit) {
            code = DetailsCode::BodyTooLarge;
            message = "request body exceeds the limit of " + std::to_string(options_.maxBodyBytes) +
                      " bytes";
        } else if (ec == http::error::bad_transfer_encoding) {
            code = DetailsCode::MalformedRequest;
            const auto coding = joinedFieldValues(parser.get(), http::field::transfer_encoding);
            if (!framingProblem_.empty()) {
                message = framingProblem_;
            } else if (parser.is_header_done() && !coding.empty()) {
                message = "unsupported Transfer-Encoding \"" + coding +
                          "\": a request body is accepted with Content-Length or \"Transfer-Encoding: chunked\" only";
            } else {
                // The parser refused the field before keeping it: both framings at once, or
                // chunked given twice or not last.
                message = "ambiguous request framing: Transfer-Encoding together with Content-Length, or \"chunked\" "
                          "given twice or not last; send a body with Content-Length or \"Transfer-Encoding: chunked\" alone";
            }
        } else if (ec == beast::error::timeout && partialRequest_) {
            // An idle connection is closed without a word; a request begun and not finished
            // in time is answered, so that the client (and the log) know why.
            code = DetailsCode::RequestTimeout;
            message = "the request was not received whole within " +
                      std::to_string(options_.requestTimeout.count()) + " ms of its first byte";
        } else if (ec == http::error::bad_content_length) {
            code = DetailsCode::MalformedRequest;
            message = "invalid Content-Length: not a number, given twice with different values, or sent together with "
                      "Transfer-Encoding (send a body with Content-Length or \"Transfer-Encoding: chunked\" alone)";
        } else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
                   ec != http::error::end_of_stream && ec != http::error::partial_message) {
            code = DetailsCode::MalformedRequest;
            message = "malformed HTTP request: " + ec.message();
        }
        if (!code) co_return;  // closed, reset or timed out: nobody to answer
        const RequestView* view = nullptr;
        // A declared length over the limit is refused once the header is read whole.
        if (parser.is_header_done() || ec == http::error::body_limit) {
            fillView(parser.get());
            view_.body = {};
            view = &view_;
        }
        auto action = worker_.shared.handler->rejected(*code, message, view, clientAddress_);
        action.local.closeConnection = true;
        lingerOnClose_ = true;
        co_await writeLocal(action.local, false, false, action.observer.get(), Clock::now(), 0);
    }

    asio::awaitable<bool> serve(http::request<http::string_body> request, bool keepAlive,
                                Clock::time_point start) {
        fillView(request);
        Action action = worker_.shared.handler->handle(view_);
        bool streamStarted = false;
        while (action.kind == Action::Kind::Park) {
            auto parked = action.parked;
            const auto outcome = co_await waitParked(*parked, keepAlive, streamStarted);
            if (outcome == ParkOutcome::ClientGone) {
                parked->abandon(view_);
                co_return false;
            }
            parked->streamStarted = streamStarted;
            action = outcome == ParkOutcome::Woken ? parked->resume(view_) : parked->expire(view_);
        }
        if (action.kind == Action::Kind::Upgrade) {
            if (streamStarted) {
                ExchangeOutcome gone;
                gone.clientAborted = true;
                if (action.observer) action.observer->onComplete(gone);
                co_return false;
            }
            WebSocketOptions ws;
            ws.maxQueuedBytes = options_.webSocketMaxQueuedBytes;
            // The upgrade is a request like any other for the logs and metrics: it ends
            // with the 101 (the connection then lives on as a WebSocket).
            ws.handshakeDone = [observer = action.observer.get(), start](bool accepted) {
                if (observer == nullptr) return;
                ExchangeOutcome outcome;
                outcome.status = accepted ? 101 : 0;
                outcome.clientAborted = !accepted;
                outcome.duration = Clock::now() - start;
                observer->onComplete(outcome);
            };
            co_await runWebSocket(stream_, buffer_, request, std::move(action.webSocket), ws);
            co_return false;
        }
        const bool headRequest = request.method() == http::verb::head;
        if (action.kind == Action::Kind::Local) {
            co_return co_await writeLocal(action.local, keepAlive, headRequest,
                                          action.observer.get(), start, request.body().size());
        }
        co_return co_await forward(request, action, keepAlive, headRequest, start);
    }

    enum class ParkOutcome { Woken, Deadline, ClientGone };
    // While a request waits, bytes the client sends ahead (a pipelined request) are read
    // and kept, up to this much; beyond it the client is no longer watched until it is served.
    static constexpr std::size_t kMaxBufferedWhileWaiting = 64 * 1024;
    // A file body (LocalResponse::file) is read and written this much at a time.
    static constexpr std::size_t kFilePiece = 256 * 1024;

    // A comment written every `interval` while a request waits, so that the client and the
    // proxies in between keep the connection open; when the stream has not started yet, the
    // response head (`status`, `headers`) goes first.
    struct Beat {
        int status = 200;
        const Headers* headers = nullptr;  // none: only for a stream already started
        std::string_view comment;
        std::chrono::milliseconds interval{0};
    };

    // Waits without blocking the thread until woken (from any thread: the waker handed to
    // `arm` posts to this connection's executor), `patience` passes, or the client goes away
    // (bytes it sends ahead, a pipelined request, are kept for later), sending `beat` meanwhile.
    asio::awaitable<ParkOutcome> waitWatchingClient(const std::function<void(std::function<void()>)>& arm,
                                                    std::chrono::milliseconds patience, std::optional<Beat> beat,
                                                    bool keepAlive, bool& streamStarted) {
        struct Wait {
            explicit Wait(const asio::any_io_executor& e) : timer(e) {}
            asio::steady_timer timer;
            bool woken = false;
            bool readable = false;
        };
        const auto executor = stream_.get_executor();
        auto wait = std::make_shared<Wait>(executor);
        arm([wait, executor] {
            asio::post(executor, [wait] {
                wait->woken = true;
                wait->timer.cancel();
            });
        });
        auto& socket = lowestSocket(stream_);
        bool watching = false;
        auto watch = [&] {
            watching = true;
            socket.async_wait(tcp::socket::wait_read, [wait](const error_code& ec) {
                if (ec) return;
                wait->readable = true;
                wait->timer.cancel();
            });
        };
        watch();
        const auto deadline = Clock::now() + patience;
        if (beat && (beat->interval.count() <= 0 || (!streamStarted && beat->headers == nullptr))) beat.reset();
        auto nextBeat = beat ? Clock::now() + beat->interval : Clock::time_point::max();
        ParkOutcome outcome = ParkOutcome::Deadline;
        for (;;) {
            if (wait->woken) {
                outcome = ParkOutcome::Woken;
                break;
            }
            if (wait->readable) {
                wait->readable = false;
                watching = false;
                // Readable while waiting: the client closed (or sent the next request early).
                error_code ec;
                const std::size_t n = stream_.read_some(buffer_.prepare(4096), ec);
                buffer_.commit(n);
                if (ec == asio::error::would_block || ec == asio::error::try_again) {
                    watch();
                } else if (ec) {
                    outcome = ParkOutcome::ClientGone;
                    break;
                } else if (buffer_.size() < kMaxBufferedWhileWaiting) {
                    watch();  // Data: a pipelined request, kept for later; the client is there.
                }
            }
            const auto now = Clock::now();
            if (now >= deadline) break;
            if (beat && now >= nextBeat) {
                error_code ec;
                if (!streamStarted) {
                    head_.clear();
                    appendHead(head_, beat->status, *beat->headers, std::nullopt, keepAlive);
                    ec = co_await writeClient(head_);
                    streamStarted = true;
                }
                if (!ec) ec = co_await writeChunk(beat->comment);
                if (ec) {
                    outcome = ParkOutcome::ClientGone;
                    break;
                }
                nextBeat = Clock::now() + beat->interval;
                continue;
            }
            wait->timer.expires_at(std::min(deadline, nextBeat));
            auto [ec] = co_await wait->timer.async_wait(useNothrow);
            (void)ec;
        }
        if (watching) {
            error_code ignored;
            socket.cancel(ignored);
        }
        co_return outcome;
    }

    // A parked request: until its waker, its deadline, or the client leaving; a streaming
    // one gets the response head and then a comment at every interval meanwhile.
    asio::awaitable<ParkOutcome> waitParked(ParkedRequest& parked, bool keepAlive, bool& streamStarted) {
        const auto heartbeat = parked.heartbeat();
        std::optional<Beat> beat;
        if (heartbeat) beat = Beat{heartbeat->status, &heartbeat->headers, heartbeat->comment, heartbeat->interval};
        co_return co_await waitWatchingClient([&parked](std::function<void()> wake) { parked.setWaker(std::move(wake)); },
                                              parked.deadline, beat, keepAlive, streamStarted);
    }

    asio::awaitable<void> sleep(std::chrono::milliseconds delay) {
        if (delay.count() <= 0) co_return;
        asio::steady_timer timer(stream_.get_executor());
        timer.expires_after(delay);
        co_await timer.async_wait(useNothrow);
    }

    // Waits until the observer's gates open (strict recording: the response's record is
    // durable; output review: an approver released it); true when the response may be
    // completed.
    // `streamStarted`: a stream's head (and maybe some of it) is out, so a long wait may
    // send its heartbeat.
    asio::awaitable<bool> passGate(std::optional<FinishGate> gate, ExchangeObserver& observer, bool streamStarted = false) {
        while (gate) {
            if (gate->clientGone || (streamStarted && !gate->heartbeat.empty())) {
                if (!co_await waitWatching(*gate, streamStarted)) co_return false;
            } else {
                auto timer = std::make_shared<asio::steady_timer>(stream_.get_executor());
                timer->expires_after(gate->timeout);
                // Set before the cancel is posted: once it is seen, the timer need not be waited for.
                auto woken = std::make_shared<std::atomic<bool>>(false);
                gate->signal->setWaker([timer, woken, executor = stream_.get_executor()] {
                    woken->store(true, std::memory_order_release);
                    asio::post(executor, [timer] { timer->cancel(); });
                });
                // A short gate (gate->spin): the coroutine yields to this thread's other
                // work and looks again, which keeps the thread polling instead of sleeping.
                // One waiting response per thread does so: the others' wakers post to a
                // thread that is awake anyway.
                if (!worker_.gateSpinner && gate->spin.count() > 0) {
                    const GateSpinner spinner(worker_.gateSpinner);
                    const auto spinUntil = Clock::now() + gate->spin;
                    while (!woken->load(std::memory_order_acquire) && Clock::now() < spinUntil) {
                        co_await asio::post(stream_.get_executor(), useNothrow);
                    }
                }
                if (!woken->load(std::memory_order_acquire)) {
                    // The waker posts the cancel to this thread: it runs only once this waits.
                    auto [ec] = co_await timer->async_wait(useNothrow);
                    if (ec != asio::error::operation_aborted) co_return false;
                }
            }
            if (!gate->ok->load()) co_return false;
            gate = observer.afterGate();
        }
        co_return true;
    }

    // A long gate (output review): waits for its signal or timeout while watching the
    // client (a client that leaves calls gate.clientGone) and sending the heartbeat on a
    // started stream. False when the wait ended without the signal (timeout, client gone).
    asio::awaitable<bool> waitWatching(FinishGate& gate, bool streamStarted) {
        std::optional<Beat> beat;
        if (streamStarted && !gate.heartbeat.empty()) beat = Beat{200, nullptr, gate.heartbeat, gate.heartbeatInterval};
        const auto outcome = co_await waitWatchingClient(
            [&gate](std::function<void()> wake) { gate.signal->setWaker(std::move(wake)); }, gate.timeout, beat, true, streamStarted);
        if (outcome == ParkOutcome::ClientGone && gate.clientGone) gate.clientGone();
        co_return outcome == ParkOutcome::Woken;
    }

    static void appendHead(std::string& head, int status, const Headers& headers,
                           std::optional<std::size_t> contentLength, bool keepAlive) {
        appendStatusLine(head, status, false);
        for (const auto& h : headers) appendHeader(head, h.name, h.value);
        if (contentLength) {
            appendContentLength(head, *contentLength);
        } else {
            head += "Transfer-Encoding: chunked\r\n";
        }
        if (!keepAlive) head += "Connection: close\r\n";
        head += kCrlf;
    }

    asio::awaitable<error_code> writeClient(std::string_view a, std::string_view b = {},
                                            std::string_view c = {}) {
        return writeAll(stream_,
                        std::array{asio::const_buffer(a.data(), a.size()),
                                   asio::const_buffer(b.data(), b.size()),
                                   asio::const_buffer(c.data(), c.size())},
                        deadline_, options_.requestTimeout);
    }

    asio::awaitable<error_code> writeChunk(std::string_view data) {
        chunkHead_.clear();
        appendChunkSize(chunkHead_, data.size());
        return writeClient(chunkHead_, data, kCrlf);
    }

    asio::awaitable<bool> writeLocal(LocalResponse& original, bool keepAlive, bool headRequest,
                                     ExchangeObserver* observer, Clock::time_point start,
                                     std::uint64_t requestBytes, bool gated = true) {
        LocalResponse* response = &original;
        LocalResponse refused;
        if (!original.streamed && observer != nullptr && gated) {
            ExchangeOutcome planned;
            planned.status = original.status;
            planned.requestBytes = requestBytes;
            planned.responseBytes = headRequest ? 0 : original.file ? original.file->size() : original.body.size();
            planned.duration = Clock::now() - start;
            if (!co_await passGate(observer->beforeFinish(original.body, planned), *observer)) {
                refused = observer->onFinishRefused();
                if (original.continuesStream) {
                    // The client already reads an event stream: the refusal ends it as an event.
                    refused.body = asEvent(refused.body, true);
                    refused.continuesStream = true;
                    refused.closeConnection = true;
                }
                response = &refused;
            }
        }
        LocalResponse& local = *response;
        if (local.closeConnection) keepAlive = false;
        co_await sleep(local.headDelay);
        ExchangeOutcome outcome;
        outcome.status = local.status;
        outcome.requestBytes = requestBytes;
        error_code ec;
        head_.clear();
        if (local.continuesStream) {
            // The head went out with the heartbeat: the body ends the stream.
            outcome.responseBytes = local.body.size();
            if (!local.body.empty()) ec = co_await writeChunk(local.body);
            if (!ec) ec = co_await writeClient(kLastChunk);
        } else if (!local.streamed && local.file) {
            // A file body: read and written a piece at a time, at the pace the client reads.
            const auto size = local.file->size();
            appendHead(head_, local.status, local.headers, size, keepAlive);
            ec = co_await writeClient(head_);
            std::string piece;
            for (std::uint64_t sent = 0; !ec && !headRequest && sent < size;) {
                piece.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kFilePiece, size - sent)));
                // (A local file just written, usually in the page cache: read on this thread.)
                auto n = ::pread(local.file->fd(), piece.data(), piece.size(), static_cast<off_t>(sent));
                while (n < 0 && errno == EINTR) n = ::pread(local.file->fd(), piece.data(), piece.size(), static_cast<off_t>(sent));
                if (n <= 0) {
                    // The file shrank or cannot be read: the length promised cannot be kept,
                    // so the connection is dropped (the client sees a short body, not a wrong one).
                    ec = asio::error::make_error_code(asio::error::eof);
                    break;
                }
                piece.resize(static_cast<std::size_t>(n));
                ec = co_await writeClient(piece);
                if (!ec) sent += piece.size();
                outcome.responseBytes = sent;
            }
        } else if (!local.streamed) {
            appendHead(head_, local.status, local.headers, local.body.size(), keepAlive);
            outcome.responseBytes = headRequest ? 0 : local.body.size();
            ec = co_await writeClient(head_, headRequest ? std::string_view() : local.body);
        } else {
            appendHead(head_, local.status, local.headers, std::nullopt, keepAlive);
            ec = co_await writeClient(head_);
            for (auto& step : local.steps) {
                if (ec) break;
                co_await sleep(step.delay);
                if (step.data.empty()) continue;  // an empty chunk would end the body
                ec = co_await writeChunk(step.data);
                outcome.responseBytes += step.data.size();
            }
            if (!ec && local.ending == LocalResponse::Ending::ResetConnection) {
                error_code ignored;
                auto& socket = lowestSocket(stream_);
                socket.set_option(asio::socket_base::linger(true, 0), ignored);
                socket.close(ignored);
                keepAlive = false;
            } else if (!ec) {
                ec = co_await writeClient(kLastChunk);
            }
        }
        if (ec) {
            keepAlive = false;
            outcome.clientAborted = true;
        }
        outcome.duration = Clock::now() - start;
        if (observer != nullptr) observer->onComplete(outcome);
        co_return keepAlive;
    }

    // min(timeout, time left until the deadline), and whether the deadline is the limit.
    static std::pair<std::chrono::milliseconds, bool> bounded(std::chrono::milliseconds timeout,
                                                              Clock::time_point deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - Clock::now());
        if (left < timeout) return {std::max(left, std::chrono::milliseconds(1)), true};
        return {timeout, false};
    }

    void buildUpstreamHead(const http::request<http::string_body>& request,
                           const ForwardRequest& forward) {
        head_.clear();
        head_ += toStd(request.method_string());
        head_ += ' ';
        head_ += forward.target;
        head_ += " HTTP/1.1\r\n";
        appendHeader(head_, "Host", worker_.shared.upstreamHostHeader[forward.upstream]);
        const auto connectionValue = joinedFieldValues(request);
        for (const auto& field : request) {
            const auto name = toStd(field.name_string());
            if (isHopByHopOrFramingField(name)) continue;
            if (!connectionValue.empty() && listedInHeaderList(connectionValue, name)) {
                continue;
            }
            bool dropped = false;
            for (const auto& drop : forward.dropHeaders) {
                if (equalsIgnoreCase(drop, name)) {
                    dropped = true;
                    break;
                }
            }
            if (!dropped) appendHeader(head_, name, toStd(field.value()));
        }
        if (!forward.credentialHeader.empty()) {
            appendHeader(head_, "Authorization", forward.credentialHeader);
        }
        for (const auto& h : forward.setHeaders) appendHeader(head_, h.name, h.value);
        const auto method = request.method();
        const auto bodySize = forward.body ? forward.body->size() : request.body().size();
        if (bodySize > 0 || method == http::verb::post || method == http::verb::put || method == http::verb::patch) {
            appendContentLength(head_, bodySize);
        }
        head_ += kCrlf;
    }

    asio::awaitable<std::pair<error_code, std::unique_ptr<UpstreamConnection>>> connectUpstream(
        std::size_t index, std::chrono::milliseconds timeout) {
        const auto& upstream = options_.upstreams[index];
        tcp::resolver resolver(stream_.get_executor());
        auto [rec, endpoints] =
            co_await resolver.async_resolve(upstream.host, std::to_string(upstream.port), useNothrow);
        if (rec) co_return std::make_pair(rec, std::unique_ptr<UpstreamConnection>());
        auto connection =
            upstream.https
                ? makeTlsUpstreamConnection(worker_.ioc, worker_.watchdog,
                                            *worker_.shared.upstreamTls[index], upstream.host)
                : makePlainUpstreamConnection(worker_.ioc, worker_.watchdog);
        auto ec = co_await connection->connect(endpoints, timeout);
        co_return std::make_pair(ec, std::move(connection));
    }

    // A request the upstream may receive twice with the effect of once.
    static bool repeatable(const http::request<http::string_body>& request) {
        switch (request.method()) {
            case http::verb::get:
            case http::verb::head:
            case http::verb::options:
            case http::verb::put:
            case http::verb::delete_:
                return true;
            default:
                return request.find("idempotency-key") != request.end();
        }
    }

    // Reads from the upstream until `done(parser)`.
    template <class Parser, class Done>
    asio::awaitable<error_code> readUpstream(UpstreamConnection& connection, Parser& parser,
                                             Done done, std::chrono::milliseconds timeout) {
        for (;;) {
            auto ec = parseBuffered(parser, connection.buffer(), done);
            if (ec != http::error::need_more) co_return ec;
            ec = co_await connection.readMore(timeout);
            if (ec == asio::error::eof) {
                // Closed before a byte of the response: no answer at all (Beast's put_eof
                // would complete a default 200 head from nothing).
                if (!parser.got_some()) co_return error_code(asio::error::eof);
                error_code eofEc;
                parser.put_eof(eofEc);
                co_return done(parser) ? error_code{} : error_code(asio::error::eof);
            }
            if (ec) co_return ec;
        }
    }

    // A JSON answer as one SSE event, for a stream whose head was already sent.
    static std::string asEvent(std::string_view body, bool error) {
        std::string event = error ? "event: error\ndata: " : "data: ";
        for (const char c : body) event += (c == '\n' || c == '\r') ? ' ' : c;
        event += "\n\n";
        return event;
    }

    asio::awaitable<bool> failBeforeHead(const ForwardFailure& failure, ExchangeObserver& observer,
                                         bool keepAlive, Clock::time_point start,
                                         std::uint64_t requestBytes, bool continuesStream = false) {
        auto local = observer.onFailureBeforeHead(failure);
        if (continuesStream) {
            local.body = asEvent(local.body, true);
            local.continuesStream = true;
        }
        co_return co_await writeLocal(local, keepAlive, false, &observer, start, requestBytes);
    }

    asio::awaitable<bool> forward(const http::request<http::string_body>& request, Action& action,
                                  bool keepAlive, bool headRequest, Clock::time_point start) {
        const ForwardRequest& fwd = action.forward;
        ExchangeObserver& observer = *action.observer;
        const auto& upstream = options_.upstreams[fwd.upstream];
        const auto deadline = start + upstream.totalTimeout;
        const std::uint64_t requestBytes = request.body().size();
        buildUpstreamHead(request, fwd);

        std::unique_ptr<UpstreamConnection> connection;
        std::optional<http::response_parser<http::string_body>> response;
        for (int attempt = 0;; ++attempt) {
            connection = worker_.pool.take(fwd.upstream);
            ForwardPhase phase = ForwardPhase::Connect;
            auto limit = bounded(upstream.connectTimeout, deadline);
            error_code ec;
            if (!connection) {
                auto [cec, fresh] = co_await connectUpstream(fwd.upstream, limit.first);
                ec = cec;
                connection = std::move(fresh);
            }
            if (!ec) {
                phase = ForwardPhase::Send;
                limit = bounded(upstream.firstByteTimeout, deadline);
                ec = co_await connection->write(head_, fwd.body ? std::string_view(*fwd.body) : std::string_view(request.body()),
                                                limit.first);
            }
            bool answered = false;  // any byte of a response (an interim one too) arrived
            if (!ec) {
                phase = ForwardPhase::ResponseHead;
                // Interim responses (103 Early Hints, an unasked 100 Continue) are read and
                // dropped until the final one (RFC 9110 15.2): taken for the answer, the real
                // one would stay unread on the connection for the next caller.
                for (int interim = 0;; ++interim) {
                    response.emplace();
                    response->header_limit(64 * 1024);
                    response->body_limit(options_.maxResponseBytes);
                    if (headRequest) response->skip(true);
                    ec = co_await readUpstream(*connection, *response,
                                               [](const auto& p) { return p.is_header_done(); },
                                               limit.first);
                    answered = answered || response->got_some();
                    if (ec || response->get().result_int() / 100 != 1) break;
                    if (response->get().result_int() == 101 || interim == 16) {
                        ec = http::error::bad_status;  // no upgrade was asked for; no end of hints
                        break;
                    }
                }
            }
            if (!ec) break;
            // Sent again only when the upstream cannot have acted on it: the request did not
            // go out whole, or, for a request that may be repeated (RFC 9110 9.2.2, or one
            // carrying an Idempotency-Key), a reused connection closed without a byte of
            // answer. A POST the upstream may have run is not sent twice.
            const bool staleKeepAlive = connection && connection->reused && attempt == 0 &&
                                        ec != beast::error::timeout &&
                                        (phase == ForwardPhase::Send || (!answered && repeatable(request)));
            if (connection) connection->close();
            if (staleKeepAlive) continue;  // the upstream closed an idle connection: once more
            co_return co_await failBeforeHead(
                classifyForwardError(ec, phase, limit.first, limit.second, upstream.name), observer,
                keepAlive, start, requestBytes, fwd.continuesStream);
        }

        const auto& upstreamHead = response->get();
        // The request offered no TE, so chunked is the only transfer coding an upstream may use.
        // Any other ("gzip, chunked") would reach the client still encoded, its bytes past
        // masking and recorded as something no one can read.
        if (!framingAccepted(upstreamHead)) {
            connection->close();
            // (Built before the co_await: GCC 12 destroys some temporaries of a co_await
            // expression twice.)
            const ForwardFailure failure{DetailsCode::UpstreamBadResponse,
                                         upstream.name + " answered with Transfer-Encoding '" +
                                             joinedFieldValues(upstreamHead, http::field::transfer_encoding) +
                                             "'; the gateway asked for no transfer coding but chunked, and passes on no other"};
            co_return co_await failBeforeHead(failure, observer, keepAlive, start, requestBytes, fwd.continuesStream);
        }
        int status = static_cast<int>(upstreamHead.result_int());
        Headers headers;
        headers.reserve(16);
        bool streaming = false;
        const auto upstreamConnection = joinedFieldValues(upstreamHead);
        for (const auto& field : upstreamHead) {
            const auto name = toStd(field.name_string());
            if (isHopByHopOrFramingField(name)) continue;
            // Fields the upstream's Connection names are for this hop only (RFC 9110 7.6.1).
            if (!upstreamConnection.empty() && listedInHeaderList(upstreamConnection, name)) continue;
            if (field.name() == http::field::content_type) {
                const auto value = toStd(field.value());
                streaming = value.size() >= 17 && equalsIgnoreCase(value.substr(0, 17),
                                                                   "text/event-stream");
            }
            headers.push_back({std::string(name), std::string(toStd(field.value()))});
        }
        observer.onResponseHead(status, headers, streaming);

        ExchangeOutcome outcome;
        outcome.status = status;
        outcome.requestBytes = requestBytes;
        if (!streaming || headRequest || (fwd.continuesStream && status >= 300)) {
            const auto limit = bounded(upstream.idleTimeout, deadline);
            const auto ec = co_await readUpstream(*connection, *response,
                                                  [](const auto& p) { return p.is_done(); },
                                                  limit.first);
            if (ec) {
                connection->close();
                co_return co_await failBeforeHead(
                    classifyForwardError(ec, ForwardPhase::ResponseBody, limit.first, limit.second,
                                         upstream.name),
                    observer, keepAlive, start, requestBytes, fwd.continuesStream);
            }
            std::string out;
            observer.onResponseData(response->get().body(), out);
            observer.onResponseEnd(out);
            if (response->keep_alive()) {
                worker_.pool.put(fwd.upstream, std::move(connection));
            } else {
                connection->close();
            }
            outcome.responseBytes = headRequest ? 0 : out.size();
            outcome.duration = Clock::now() - start;
            if (!co_await passGate(observer.beforeFinish(out, outcome), observer, fwd.continuesStream)) {
                auto refused = observer.onFinishRefused();
                // A verdict is answered once recorded; if it cannot be, the observer says so instead.
                if (!co_await passGate(observer.refusalRecorded(), observer)) {
                    refused = observer.onFinishRefused();
                    refused.closeConnection = true;
                }
                if (fwd.continuesStream) {
                    refused.body = asEvent(refused.body, true);
                    refused.continuesStream = true;
                }
                co_return co_await writeLocal(refused, keepAlive, false, &observer, start, requestBytes, false);
            }
            error_code ec2;
            if (fwd.continuesStream) {
                // The client already has a 200 event stream: the answer becomes its last event.
                const auto event = asEvent(out, status >= 300);
                ec2 = co_await writeChunk(event);
                if (!ec2) ec2 = co_await writeClient(kLastChunk);
            } else {
                head_.clear();
                appendHead(head_, status, headers, out.size(), keepAlive);
                ec2 = co_await writeClient(head_, headRequest ? std::string_view() : out);
            }
            if (ec2) {
                keepAlive = false;
                outcome.clientAborted = true;
            }
            outcome.duration = Clock::now() - start;
            observer.onComplete(outcome);
            co_return keepAlive;
        }

        // Streaming: send the head now, then every piece as it arrives.
        http::response_parser<http::buffer_body> body{std::move(*response)};
        body.body_limit(boost::none);
        bool clientGone = false;
        if (!fwd.continuesStream) {
            head_.clear();
            appendHead(head_, status, headers, std::nullopt, keepAlive);
            clientGone = static_cast<bool>(co_await writeClient(head_));
        }
        std::optional<ForwardFailure> midStream;
        std::string out;
        auto& input = connection->buffer();
        while (!clientGone && !body.is_done()) {
            body.get().body().data = relayBuffer_.data();
            body.get().body().size = relayBuffer_.size();
            body.get().body().more = true;
            error_code ec;
            std::size_t consumed = 0;
            if (input.size() > 0) {
                consumed = body.put(input.data(), ec);
                input.consume(consumed);
            }
            const std::size_t got = relayBuffer_.size() - body.get().body().size;
            if (got > 0) {
                out.clear();
                observer.onResponseData(std::string_view(relayBuffer_.data(), got), out);
                if (!out.empty()) {
                    clientGone = static_cast<bool>(co_await writeChunk(out));
                    if (!clientGone) outcome.responseBytes += out.size();
                }
                if (auto failure = observer.streamFailure()) {
                    midStream = std::move(failure);
                    break;
                }
            }
            if (ec == http::error::need_buffer || body.is_done()) continue;
            if (ec && ec != http::error::need_more) {
                midStream = classifyForwardError(ec, ForwardPhase::ResponseBody, upstream.idleTimeout,
                                                 false, upstream.name);
                break;
            }
            if (consumed > 0 && input.size() > 0 && !ec) continue;  // more to parse
            const auto limit = bounded(upstream.idleTimeout, deadline);
            ec = co_await connection->readMore(limit.first);
            if (ec == asio::error::eof) {
                error_code eofEc;
                body.put_eof(eofEc);
                if (body.is_done()) break;
            }
            if (ec) {
                midStream = classifyForwardError(ec, ForwardPhase::ResponseBody, limit.first,
                                                 limit.second, upstream.name);
                break;
            }
        }
        bool finishRefused = false;
        if (!clientGone) {
            out.clear();
            if (midStream) {
                observer.onFailureMidStream(*midStream, out);
            } else {
                observer.onResponseEnd(out);
            }
            ExchangeOutcome planned = outcome;
            planned.responseBytes += out.size();
            if (midStream) planned.code = midStream->code;
            planned.duration = Clock::now() - start;
            if (!co_await passGate(observer.beforeFinish(out, planned), observer, true)) {
                // A verdict (an output review's denial) ends the stream with its error event,
                // once recorded. Not recorded: the stream must not end as if complete. Say why,
                // then drop the connection without the last chunk, so the client sees it cut short.
                out.clear();
                const bool verdict = observer.onFinishRefusedMidStream(out);
                finishRefused = !verdict || !co_await passGate(observer.refusalRecorded(), observer);
            }
            if (!out.empty()) {
                clientGone = static_cast<bool>(co_await writeChunk(out));
                if (!clientGone) outcome.responseBytes += out.size();
            }
            if (!clientGone && !finishRefused) clientGone = static_cast<bool>(co_await writeClient(kLastChunk));
        }
        if (!midStream && !clientGone && !finishRefused && body.is_done() && body.keep_alive()) {
            worker_.pool.put(fwd.upstream, std::move(connection));
        } else {
            connection->close();  // an unfinished response cannot be reused
        }
        if (midStream) outcome.code = midStream->code;
        outcome.clientAborted = clientGone;
        outcome.duration = Clock::now() - start;
        observer.onComplete(outcome);
        co_return keepAlive && !clientGone && !finishRefused;
    }

    asio::awaitable<void> closeGracefully() {
        error_code ec;
        auto& socket = lowestSocket(stream_);
        if constexpr (kTls) {
            deadline_.arm(std::chrono::seconds(2));
            auto [sec] = co_await stream_.async_shutdown(useNothrow);
            (void)sec;
            deadline_.disarm();
        }
        socket.shutdown(tcp::socket::shutdown_send, ec);
        if (lingerOnClose_ && !ec) {
            // The client may still be sending the request we refused: read and discard it
            // for a moment, or closing with unread bytes sends an RST that can destroy the
            // error response before the client reads it (lingering close, as nginx does).
            const auto until = Clock::now() + std::chrono::seconds(2);
            std::size_t drained = 0;
            beast::flat_buffer scratch;
            while (Clock::now() < until && drained < 4 * 1024 * 1024) {
                scratch.clear();
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
                if (co_await readMore(socket, scratch, deadline_, left)) break;
                drained += scratch.size();
            }
        }
        socket.close(ec);
    }

    Worker& worker_;
    const ServerOptions& options_;
    Stream stream_;
    Deadline deadline_;
    beast::flat_buffer buffer_;
    std::string clientAddress_;
    std::vector<HeaderView> headerViews_;
    RequestView view_;
    std::string head_;       // message head being written (reused)
    std::string chunkHead_;  // chunk size line being written (reused)
    std::array<char, 16 * 1024> relayBuffer_{};
    bool idle_ = false;
    bool closing_ = false;
    bool lingerOnClose_ = false;
    bool partialRequest_ = false;  // the last read failed with part of a request read
    std::string framingProblem_;   // why a request's framing was refused, when the parser cannot say
};

template <class Session>
void spawnSession(Worker& worker, std::shared_ptr<Session> session) {
    asio::co_spawn(worker.ioc, session->run(), [](const std::exception_ptr& e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            observe::LogLine(observe::LogLevel::Error, "connection failed").str("error", ex.what());
        }
    });
}

}  // namespace vigil::net

#pragma once

// The HTTP/1.1 session with one client and the proxy engine behind it. A template over
// the stream (plain TCP or TLS), instantiated in client_session_plain.cpp and
// client_session_tls.cpp.

#include <array>
#include <optional>

#include "net/forward_errors.h"
#include "net/worker.h"
#include "observe/log.h"

namespace vigil::net {

// Fields that describe one connection, not the message (RFC 9110 7.6.1), plus those the
// proxy sets itself.
bool isHopByHopOrFramingField(std::string_view name);
// True when `name` appears in a Connection header value ("keep-alive, x-foo").
bool listedInConnectionHeader(std::string_view connectionValue, std::string_view name);
std::string_view toStd(beast::string_view s);

template <class Stream>
class ClientSession final : public SessionBase,
                            public std::enable_shared_from_this<ClientSession<Stream>> {
public:
    static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

    template <class... Args>
    explicit ClientSession(Worker& worker, Args&&... args)
        : worker_(worker), options_(worker.shared.options), stream_(std::forward<Args>(args)...) {
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
            lowest().socket().close(ec);
        }
    }

    asio::awaitable<void> run() {
        auto self = this->shared_from_this();
        {
            error_code ec;
            lowest().socket().set_option(tcp::no_delay(true), ec);
            const auto endpoint = lowest().socket().remote_endpoint(ec);
            if (!ec) clientAddress_ = endpoint.address().to_string();
        }
        if constexpr (kTls) {
            idle_ = true;
            lowest().expires_after(options_.requestTimeout);
            auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, useNothrow);
            idle_ = false;
            if (ec) {
                observe::LogLine(observe::LogLevel::Debug, "tls handshake failed")
                    .str("client", clientAddress_)
                    .str("error", ec.message());
                co_return;
            }
        }
        bool first = true;
        while (!closing_) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(options_.maxHeaderBytes));
            parser.body_limit(options_.maxBodyBytes);
            idle_ = true;
            lowest().expires_after(first ? options_.requestTimeout : options_.keepAliveTimeout);
            auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, useNothrow);
            idle_ = false;
            first = false;
            if (ec) {
                co_await rejectUnreadable(ec, parser);
                break;
            }
            const auto start = Clock::now();
            auto& request = parser.get();
            if (beast::iequals(request[http::field::expect], "100-continue") && !parser.is_done()) {
                http::response<http::empty_body> proceed{http::status::continue_, request.version()};
                lowest().expires_after(options_.requestTimeout);
                auto [wec, wn] = co_await http::async_write(stream_, proceed, useNothrow);
                if (wec) break;
            }
            if (!parser.is_done()) {
                lowest().expires_after(options_.requestTimeout);
                auto [bec, bn] = co_await http::async_read(stream_, buffer_, parser, useNothrow);
                if (bec) {
                    co_await rejectUnreadable(bec, parser);
                    break;
                }
            }
            const bool keepAlive = request.keep_alive() && !closing_ &&
                                   !worker_.shared.draining.load(std::memory_order_relaxed);
            const bool again = co_await serve(parser.release(), keepAlive, start);
            if (!again) break;
        }
        co_await closeGracefully();
    }

private:
    auto& lowest() { return beast::get_lowest_layer(stream_); }

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
        } else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
                   ec != http::error::end_of_stream && ec != http::error::partial_message) {
            code = DetailsCode::MalformedRequest;
            message = "malformed HTTP request: " + ec.message();
        }
        if (!code) co_return;  // closed, reset or timed out: nobody to answer
        const RequestView* view = nullptr;
        if (parser.is_header_done() || ec == http::error::body_limit) {
            fillView(parser.get());
            view_.body = {};
            view = &view_;
        }
        auto response = worker_.shared.handler->rejected(*code, message, view);
        response.closeConnection = true;
        lingerOnClose_ = true;
        co_await writeLocal(response, 11, false, nullptr, Clock::now(), 0);
    }

    asio::awaitable<bool> serve(http::request<http::string_body> request, bool keepAlive,
                                Clock::time_point start) {
        fillView(request);
        Action action = worker_.shared.handler->handle(view_);
        if (action.kind == Action::Kind::Local) {
            co_return co_await writeLocal(action.local, request.version(), keepAlive,
                                          action.observer.get(), start, request.body().size());
        }
        co_return co_await forward(std::move(request), action, keepAlive, start);
    }

    asio::awaitable<void> sleep(std::chrono::milliseconds delay) {
        if (delay.count() <= 0) co_return;
        asio::steady_timer timer(stream_.get_executor());
        timer.expires_after(delay);
        co_await timer.async_wait(useNothrow);
    }

    template <class Message>
    asio::awaitable<error_code> writeToClient(Message& message) {
        lowest().expires_after(options_.requestTimeout);
        auto [ec, n] = co_await http::async_write(stream_, message, useNothrow);
        co_return ec;
    }

    asio::awaitable<error_code> writeChunk(std::string_view data) {
        lowest().expires_after(options_.requestTimeout);
        auto [ec, n] = co_await asio::async_write(
            stream_, http::make_chunk(asio::buffer(data.data(), data.size())), useNothrow);
        co_return ec;
    }

    asio::awaitable<error_code> writeLastChunk() {
        lowest().expires_after(options_.requestTimeout);
        auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk_last(), useNothrow);
        co_return ec;
    }

    template <class Body>
    static void applyHeaders(http::response<Body>& response, const Headers& headers) {
        for (const auto& h : headers) response.insert(h.name, h.value);
    }

    asio::awaitable<bool> writeLocal(LocalResponse& local, unsigned version, bool keepAlive,
                                     ExchangeObserver* observer, Clock::time_point start,
                                     std::uint64_t requestBytes) {
        if (local.closeConnection) keepAlive = false;
        co_await sleep(local.headDelay);
        ExchangeOutcome outcome;
        outcome.status = local.status;
        outcome.requestBytes = requestBytes;
        error_code ec;
        if (!local.streamed) {
            http::response<http::string_body> response;
            response.result(static_cast<unsigned>(local.status));
            response.version(version);
            applyHeaders(response, local.headers);
            outcome.responseBytes = local.body.size();
            response.body() = std::move(local.body);
            response.prepare_payload();
            response.keep_alive(keepAlive);
            ec = co_await writeToClient(response);
        } else {
            http::response<http::empty_body> response;
            response.result(static_cast<unsigned>(local.status));
            response.version(version);
            applyHeaders(response, local.headers);
            response.chunked(true);
            response.keep_alive(keepAlive);
            http::response_serializer<http::empty_body> serializer{response};
            lowest().expires_after(options_.requestTimeout);
            auto [hec, hn] = co_await http::async_write_header(stream_, serializer, useNothrow);
            ec = hec;
            for (auto& step : local.steps) {
                if (ec) break;
                co_await sleep(step.delay);
                if (step.data.empty()) continue;  // an empty chunk would end the body
                ec = co_await writeChunk(step.data);
                outcome.responseBytes += step.data.size();
            }
            if (!ec && local.ending == LocalResponse::Ending::ResetConnection) {
                error_code ignored;
                lowest().socket().set_option(asio::socket_base::linger(true, 0), ignored);
                lowest().socket().close(ignored);
                keepAlive = false;
            } else if (!ec) {
                ec = co_await writeLastChunk();
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

    http::request<http::string_body> upstreamRequest(http::request<http::string_body>& request,
                                                     const ForwardRequest& forward) {
        http::request<http::string_body> out;
        out.method_string(request.method_string());
        out.target(forward.target);
        out.version(11);
        const auto connectionValue = toStd(request[http::field::connection]);
        for (const auto& field : request) {
            const auto name = toStd(field.name_string());
            if (isHopByHopOrFramingField(name)) continue;
            if (!connectionValue.empty() && listedInConnectionHeader(connectionValue, name)) {
                continue;
            }
            bool dropped = false;
            for (const auto& drop : forward.dropHeaders) {
                if (equalsIgnoreCase(drop, name)) {
                    dropped = true;
                    break;
                }
            }
            if (!dropped) out.insert(field.name_string(), field.value());
        }
        out.set(http::field::host, worker_.shared.upstreamHostHeader[forward.upstream]);
        if (!forward.credentialHeader.empty()) {
            out.set(http::field::authorization, forward.credentialHeader);
        }
        for (const auto& h : forward.setHeaders) out.set(h.name, h.value);
        out.body() = std::move(request.body());
        out.prepare_payload();
        out.keep_alive(true);
        return out;
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
                ? makeTlsUpstreamConnection(stream_.get_executor(),
                                            *worker_.shared.upstreamTls[index], upstream.host)
                : makePlainUpstreamConnection(stream_.get_executor());
        auto ec = co_await connection->connect(endpoints, timeout);
        co_return std::make_pair(ec, std::move(connection));
    }

    asio::awaitable<bool> failBeforeHead(const ForwardFailure& failure, ExchangeObserver& observer,
                                         unsigned version, bool keepAlive, Clock::time_point start,
                                         std::uint64_t requestBytes) {
        auto local = observer.onFailureBeforeHead(failure);
        co_return co_await writeLocal(local, version, keepAlive, &observer, start, requestBytes);
    }

    asio::awaitable<bool> forward(http::request<http::string_body> request, Action& action,
                                  bool keepAlive, Clock::time_point start) {
        const ForwardRequest& fwd = action.forward;
        ExchangeObserver& observer = *action.observer;
        const auto& upstream = options_.upstreams[fwd.upstream];
        const auto deadline = start + upstream.totalTimeout;
        const unsigned version = request.version();
        const std::uint64_t requestBytes = request.body().size();
        auto outbound = upstreamRequest(request, fwd);

        std::unique_ptr<UpstreamConnection> connection;
        std::optional<http::response_parser<http::empty_body>> head;
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
                ec = co_await connection->write(outbound, limit.first);
            }
            if (!ec) {
                phase = ForwardPhase::ResponseHead;
                head.emplace();
                head->header_limit(64 * 1024);
                limit = bounded(upstream.firstByteTimeout, deadline);
                ec = co_await connection->readHeader(*head, limit.first);
            }
            if (!ec) break;
            const bool staleKeepAlive = connection && connection->reused && attempt == 0 &&
                                        ec != beast::error::timeout;
            if (connection) connection->close();
            if (staleKeepAlive) continue;  // the upstream closed an idle connection: once more
            co_return co_await failBeforeHead(
                classifyForwardError(ec, phase, limit.first, limit.second, upstream.name), observer,
                version, keepAlive, start, requestBytes);
        }

        const auto& upstreamHead = head->get();
        const int status = static_cast<int>(upstreamHead.result_int());
        Headers headers;
        headers.reserve(16);
        bool streaming = false;
        for (const auto& field : upstreamHead) {
            const auto name = toStd(field.name_string());
            if (isHopByHopOrFramingField(name)) continue;
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
        if (!streaming) {
            http::response_parser<http::string_body> body{std::move(*head)};
            body.body_limit(options_.maxResponseBytes);
            while (!body.is_done()) {
                const auto limit = bounded(upstream.idleTimeout, deadline);
                const auto ec = co_await connection->readSome(body, limit.first);
                if (ec) {
                    connection->close();
                    co_return co_await failBeforeHead(
                        classifyForwardError(ec, ForwardPhase::ResponseBody, limit.first,
                                             limit.second, upstream.name),
                        observer, version, keepAlive, start, requestBytes);
                }
            }
            const bool upstreamKeepAlive = body.get().keep_alive();
            std::string out;
            observer.onResponseData(body.get().body(), out);
            observer.onResponseEnd(out);
            if (upstreamKeepAlive) {
                worker_.pool.put(fwd.upstream, std::move(connection));
            } else {
                connection->close();
            }
            http::response<http::string_body> response;
            response.result(static_cast<unsigned>(status));
            response.version(version);
            applyHeaders(response, headers);
            outcome.responseBytes = out.size();
            response.body() = std::move(out);
            response.prepare_payload();
            response.keep_alive(keepAlive);
            const auto ec = co_await writeToClient(response);
            if (ec) {
                keepAlive = false;
                outcome.clientAborted = true;
            }
            outcome.duration = Clock::now() - start;
            observer.onComplete(outcome);
            co_return keepAlive;
        }

        // Streaming: send the head now, then every piece as it arrives.
        http::response_parser<http::buffer_body> body{std::move(*head)};
        body.body_limit(boost::none);
        http::response<http::empty_body> response;
        response.result(static_cast<unsigned>(status));
        response.version(version);
        applyHeaders(response, headers);
        response.chunked(true);
        response.keep_alive(keepAlive);
        http::response_serializer<http::empty_body> serializer{response};
        lowest().expires_after(options_.requestTimeout);
        auto [hec, hn] = co_await http::async_write_header(stream_, serializer, useNothrow);
        bool clientGone = static_cast<bool>(hec);
        std::optional<ForwardFailure> midStream;
        std::string out;
        while (!clientGone && !body.is_done()) {
            body.get().body().data = relayBuffer_.data();
            body.get().body().size = relayBuffer_.size();
            body.get().body().more = true;
            const auto limit = bounded(upstream.idleTimeout, deadline);
            auto ec = co_await connection->readSome(body, limit.first);
            if (ec == http::error::need_buffer) ec = {};
            const std::size_t got = relayBuffer_.size() - body.get().body().size;
            if (got > 0) {
                out.clear();
                observer.onResponseData(std::string_view(relayBuffer_.data(), got), out);
                if (!out.empty()) {
                    clientGone = static_cast<bool>(co_await writeChunk(out));
                    if (!clientGone) outcome.responseBytes += out.size();
                }
            }
            if (ec) {
                midStream = classifyForwardError(ec, ForwardPhase::ResponseBody, limit.first,
                                                 limit.second, upstream.name);
                break;
            }
        }
        if (!clientGone) {
            out.clear();
            if (midStream) {
                observer.onFailureMidStream(*midStream, out);
            } else {
                observer.onResponseEnd(out);
            }
            if (!out.empty()) {
                clientGone = static_cast<bool>(co_await writeChunk(out));
                if (!clientGone) outcome.responseBytes += out.size();
            }
            if (!clientGone) clientGone = static_cast<bool>(co_await writeLastChunk());
        }
        if (!midStream && !clientGone && body.is_done() && body.get().keep_alive()) {
            worker_.pool.put(fwd.upstream, std::move(connection));
        } else {
            connection->close();  // an unfinished response cannot be reused
        }
        if (midStream) outcome.code = midStream->code;
        outcome.clientAborted = clientGone;
        outcome.duration = Clock::now() - start;
        observer.onComplete(outcome);
        co_return keepAlive && !clientGone;
    }

    asio::awaitable<void> closeGracefully() {
        error_code ec;
        if constexpr (kTls) {
            lowest().expires_after(std::chrono::seconds(2));
            auto [sec] = co_await stream_.async_shutdown(useNothrow);
            (void)sec;
        }
        lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
        if (lingerOnClose_ && !ec) {
            // The client may still be sending the request we refused: read and discard it
            // for a moment, or closing with unread bytes sends an RST that can destroy the
            // error response before the client reads it (lingering close, as nginx does).
            const auto until = Clock::now() + std::chrono::seconds(2);
            std::size_t drained = 0;
            while (Clock::now() < until && drained < 4 * 1024 * 1024) {
                lowest().expires_at(until);
                auto [rec, n] = co_await lowest().async_read_some(asio::buffer(relayBuffer_), useNothrow);
                if (rec) break;
                drained += n;
            }
        }
        lowest().socket().close(ec);
    }

    Worker& worker_;
    const ServerOptions& options_;
    Stream stream_;
    beast::flat_buffer buffer_;
    std::string clientAddress_;
    std::vector<HeaderView> headerViews_;
    RequestView view_;
    std::array<char, 16 * 1024> relayBuffer_{};
    bool idle_ = false;
    bool closing_ = false;
    bool lingerOnClose_ = false;
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

#include "net/server.h"

#include <openssl/ssl.h>

#include <boost/asio/signal_set.hpp>
#include <thread>

#include "net/worker.h"
#include "observe/log.h"
#include "observe/thread_name.h"

namespace vigil::net {
namespace {

std::unique_ptr<ssl::context> makeServerTlsContext(const ListenerOptions& listener) {
    auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
    error_code ec;
    context->use_certificate_chain_file(listener.certFile->string(), ec);
    if (ec) {
        throw std::runtime_error("cannot load certificate '" + listener.certFile->string() +
                                 "': " + ec.message());
    }
    context->use_private_key_file(listener.keyFile->string(), ssl::context::pem, ec);
    if (ec) {
        throw std::runtime_error("cannot load private key '" + listener.keyFile->string() +
                                 "': " + ec.message());
    }
    return context;
}

std::unique_ptr<ssl::context> makeClientTlsContext(const UpstreamOptions& upstream) {
    auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
    context->set_verify_mode(ssl::verify_peer);
    error_code ec;
    if (upstream.caFile) {
        context->load_verify_file(upstream.caFile->string(), ec);
        if (ec) {
            throw std::runtime_error("upstream '" + upstream.name + "': cannot load CA file '" +
                                     upstream.caFile->string() + "': " + ec.message());
        }
    } else {
        context->set_default_verify_paths(ec);
        if (ec) {
            throw std::runtime_error("upstream '" + upstream.name +
                                     "': cannot load the system CA store: " + ec.message());
        }
    }
    return context;
}

std::string hostHeader(const UpstreamOptions& upstream) {
    const bool ipv6 = upstream.host.find(':') != std::string::npos;
    std::string host = ipv6 ? "[" + upstream.host + "]" : upstream.host;
    const bool defaultPort = upstream.port == (upstream.https ? 443 : 80);
    if (!defaultPort) host += ":" + std::to_string(upstream.port);
    return host;
}

}  // namespace

struct HttpServer::Impl {
    struct Listener {
        tcp::acceptor acceptor;
        std::unique_ptr<ssl::context> tls;
    };

    ServerShared shared;
    std::vector<std::unique_ptr<Worker>> workers;
    std::vector<std::unique_ptr<Listener>> listeners;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::unique_ptr<asio::signal_set> signals;
    std::size_t nextWorker = 0;

    Worker& main() { return *workers.front(); }

    asio::awaitable<void> acceptLoop(Listener& listener) {
        for (;;) {
            Worker& worker = *workers[nextWorker++ % workers.size()];
            auto [ec, socket] = co_await listener.acceptor.async_accept(worker.ioc, useNothrow);
            if (ec) {
                if (ec == asio::error::operation_aborted || !listener.acceptor.is_open()) co_return;
                observe::LogLine(observe::LogLevel::Warn, "accept failed").str("error", ec.message());
                asio::steady_timer pause(main().ioc, std::chrono::milliseconds(50));
                co_await pause.async_wait(useNothrow);
                continue;
            }
            // Sessions are created on their own worker's thread: the session set is per thread.
            asio::post(worker.ioc, [&worker, tls = listener.tls.get(),
                                    s = std::move(socket)]() mutable {
                if (tls != nullptr) {
                    startTlsSession(worker, std::move(s), *tls);
                } else {
                    startPlainSession(worker, std::move(s));
                }
            });
        }
    }

    void waitForSignal() {
        signals->async_wait([this](const error_code& ec, int) {
            if (ec) return;
            if (shared.draining.load()) {
                observe::LogLine(observe::LogLevel::Warn, "second signal: stopping now");
                stopAll();
                return;
            }
            beginShutdown();
            waitForSignal();
        });
    }

    void beginShutdown() {
        if (shared.draining.exchange(true)) return;
        observe::LogLine(observe::LogLevel::Info, "shutdown started")
            .num("grace_ms", shared.options.shutdownGrace.count())
            .num("connections", shared.liveSessions.load());
        shared.handler->onShutdownStarted();
        for (auto& listener : listeners) {
            error_code ec;
            listener->acceptor.close(ec);
        }
        for (auto& worker : workers) {
            asio::post(worker->ioc, [w = worker.get()] {
                const std::vector<SessionBase*> sessions(w->sessions.begin(), w->sessions.end());
                for (auto* session : sessions) session->closeIfIdle();
            });
        }
        asio::co_spawn(main().ioc, drain(), asio::detached);
    }

    asio::awaitable<void> drain() {
        const auto deadline = Clock::now() + shared.options.shutdownGrace;
        asio::steady_timer timer(main().ioc);
        while (shared.liveSessions.load() > 0 && Clock::now() < deadline) {
            timer.expires_after(std::chrono::milliseconds(20));
            co_await timer.async_wait(useNothrow);
        }
        const int left = shared.liveSessions.load();
        if (left > 0) {
            observe::LogLine(observe::LogLevel::Warn, "grace period over: closing connections")
                .num("connections", left);
        }
        observe::LogLine(observe::LogLevel::Info, "shutdown complete");
        stopAll();
    }

    void stopAll() {
        for (auto& guard : guards) guard.reset();
        for (auto& worker : workers) worker->ioc.stop();
    }
};

HttpServer::HttpServer(ServerOptions options, std::shared_ptr<RequestHandler> handler)
    : impl_(std::make_unique<Impl>()) {
    impl_->shared.options = std::move(options);
    impl_->shared.handler = std::move(handler);
}

HttpServer::~HttpServer() = default;

std::vector<BoundListener> HttpServer::bind() {
    auto& impl = *impl_;
    auto& options = impl.shared.options;
    for (const auto& upstream : options.upstreams) {
        impl.shared.upstreamTls.push_back(upstream.https ? makeClientTlsContext(upstream) : nullptr);
        impl.shared.upstreamHostHeader.push_back(hostHeader(upstream));
    }
    int threads = options.threads;
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < threads; ++i) {
        impl.workers.push_back(std::make_unique<Worker>(impl.shared));
        impl.guards.push_back(asio::make_work_guard(impl.workers.back()->ioc));
    }
    std::vector<BoundListener> bound;
    for (std::size_t i = 0; i < options.listeners.size(); ++i) {
        const auto& spec = options.listeners[i];
        const std::string where = "listeners[" + std::to_string(i) + "] (" + spec.address + ":" +
                                  std::to_string(spec.port) + ")";
        error_code ec;
        const auto address = asio::ip::make_address(spec.address, ec);
        if (ec) throw std::runtime_error(where + ": not an IP address");
        auto listener = std::make_unique<Impl::Listener>(
            Impl::Listener{tcp::acceptor(impl.main().ioc), nullptr});
        if (spec.certFile && spec.keyFile) {
            try {
                listener->tls = makeServerTlsContext(spec);
            } catch (const std::exception& e) {
                throw std::runtime_error(where + ": " + e.what());
            }
        }
        const tcp::endpoint endpoint(address, spec.port);
        auto& acceptor = listener->acceptor;
        acceptor.open(endpoint.protocol(), ec);
        if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor.bind(endpoint, ec);
        if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) throw std::runtime_error(where + ": cannot listen: " + ec.message());
        const auto port = acceptor.local_endpoint().port();
        const std::string host = address.is_v6() ? "[" + spec.address + "]" : spec.address;
        bound.push_back({std::string(listener->tls ? "https" : "http") + "://" + host + ":" +
                             std::to_string(port),
                         port});
        impl.listeners.push_back(std::move(listener));
    }
    impl.signals = std::make_unique<asio::signal_set>(impl.main().ioc, SIGINT, SIGTERM);
    return bound;
}

void HttpServer::run() {
    auto& impl = *impl_;
    for (auto& listener : impl.listeners) {
        asio::co_spawn(impl.main().ioc, impl.acceptLoop(*listener), asio::detached);
    }
    impl.waitForSignal();
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < impl.workers.size(); ++i) {
        threads.emplace_back([&ioc = impl.workers[i]->ioc, i] {
            observe::nameThisThread("vigil-io-" + std::to_string(i));
            ioc.run();
        });
    }
    impl.main().ioc.run();
    for (auto& t : threads) t.join();
    for (auto& worker : impl.workers) worker->pool.clear();
}

void HttpServer::shutdown() {
    asio::post(impl_->main().ioc, [impl = impl_.get()] { impl->beginShutdown(); });
}

}  // namespace vigil::net

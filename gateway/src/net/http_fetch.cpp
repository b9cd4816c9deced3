#include "net/http_fetch.h"

#include <map>
#include <mutex>
#include <thread>

#include <boost/asio/ssl/host_name_verification.hpp>
#include <openssl/ssl.h>

#include "config/gateway_config.h"
#include "net/beast_common.h"
#include "observe/log.h"
#include "observe/thread_name.h"

namespace vigil::net {

struct HttpFetcher::Impl {
    asio::io_context ioc{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(ioc);
    std::map<std::string, std::unique_ptr<ssl::context>> tlsContexts;  // by CA file ("" = system)
    std::thread thread;

    ssl::context* tlsContext(const FetchOptions& options, std::string& error) {
        const std::string key = options.caFile ? options.caFile->string() : std::string();
        auto& slot = tlsContexts[key];
        if (!slot) {
            auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
            SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
            context->set_verify_mode(ssl::verify_peer);
            error_code ec;
            if (options.caFile) {
                context->load_verify_file(key, ec);
            } else {
                context->set_default_verify_paths(ec);
            }
            if (ec) {
                error = "cannot load CA certificates: " + ec.message();
                tlsContexts.erase(key);
                return nullptr;
            }
            slot = std::move(context);
        }
        return slot.get();
    }

    template <class Stream>
    asio::awaitable<FetchResult> exchange(Stream& stream, const config::UpstreamUrl& url,
                                          const std::string& target, const FetchOptions& options) {
        FetchResult result;
        http::request<http::empty_body> request{http::verb::get, target, 11};
        // RFC 9110 7.2: the port belongs in Host unless it is the scheme's default (issuers
        // such as oidc-provider build their jwks_uri from it).
        std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
        if (url.port != (url.https ? 443 : 80)) host += ":" + std::to_string(url.port);
        request.set(http::field::host, host);
        request.set(http::field::user_agent, "vigil-gateway");
        request.set(http::field::accept, "application/json");
        request.keep_alive(false);
        beast::get_lowest_layer(stream).expires_after(options.timeout);
        auto [wec, wn] = co_await http::async_write(stream, request, useNothrow);
        if (wec) {
            result.error = "sending the request failed: " + wec.message();
            co_return result;
        }
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(options.maxBodyBytes);
        auto [rec, rn] = co_await http::async_read(stream, buffer, parser, useNothrow);
        if (rec) {
            result.error = "reading the response failed: " + rec.message();
            co_return result;
        }
        result.status = static_cast<int>(parser.get().result_int());
        result.body = std::move(parser.get().body());
        co_return result;
    }

    asio::awaitable<void> fetch(std::string urlText, FetchOptions options,
                                std::function<void(FetchResult)> done) {
        FetchResult result;
        std::string urlError;
        auto url = config::parseUpstreamUrl(urlText.substr(0, urlText.find_first_of("?#")), urlError);
        if (!url) {
            result.error = "invalid URL '" + urlText + "': " + urlError;
            done(std::move(result));
            co_return;
        }
        std::string target = url->pathPrefix.empty() ? "/" : url->pathPrefix;
        if (const auto q = urlText.find('?'); q != std::string::npos) target += urlText.substr(q);
        tcp::resolver resolver(ioc);
        auto [rec, endpoints] = co_await resolver.async_resolve(url->host, std::to_string(url->port), useNothrow);
        if (rec) {
            result.error = "cannot resolve " + url->host + ": " + rec.message();
            done(std::move(result));
            co_return;
        }
        if (!url->https) {
            beast::tcp_stream stream(ioc);
            stream.expires_after(options.timeout);
            auto [cec, ep] = co_await stream.async_connect(endpoints, useNothrow);
            if (cec) {
                result.error = "cannot connect to " + url->host + ": " + cec.message();
            } else {
                result = co_await exchange(stream, *url, target, options);
            }
            done(std::move(result));
            co_return;
        }
        ssl::context* context = tlsContext(options, result.error);
        if (context == nullptr) {
            done(std::move(result));
            co_return;
        }
        beast::ssl_stream<beast::tcp_stream> stream(ioc, *context);
        error_code ignored;
        asio::ip::make_address(url->host, ignored);
        if (ignored) {
            SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                     const_cast<char*>(url->host.c_str()));
        }
        stream.set_verify_callback(ssl::host_name_verification(url->host));
        beast::get_lowest_layer(stream).expires_after(options.timeout);
        auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(endpoints, useNothrow);
        if (cec) {
            result.error = "cannot connect to " + url->host + ": " + cec.message();
            done(std::move(result));
            co_return;
        }
        auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, useNothrow);
        if (hec) {
            result.error = "TLS with " + url->host + " failed: " + hec.message();
            done(std::move(result));
            co_return;
        }
        result = co_await exchange(stream, *url, target, options);
        done(std::move(result));
    }
};

HttpFetcher::HttpFetcher() : impl_(std::make_unique<Impl>()) {
    impl_->thread = std::thread([impl = impl_.get()] {
        observe::nameThisThread("vigil-fetch");
        impl->ioc.run();
    });
}

HttpFetcher::~HttpFetcher() {
    impl_->guard.reset();
    impl_->ioc.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

namespace {

// A callback that throws must neither vanish inside the detached coroutine (its caller would
// wait for ever) nor end the fetcher's thread: it is logged, and callers that keep state
// catch their own exceptions to settle it (OidcIssuer does).
void logThrownCallback(std::string_view what, std::string_view url, const char* error) {
    observe::LogLine(observe::LogLevel::Error, "fetch callback failed")
        .str("callback", what)
        .str("url", url)
        .str("error", error);
}

}  // namespace

void HttpFetcher::get(const std::string& url, const FetchOptions& options,
                      std::function<void(FetchResult)> done) {
    auto guarded = [url, done = std::move(done)](FetchResult result) {
        try {
            done(std::move(result));
        } catch (const std::exception& e) {
            logThrownCallback("get", url, e.what());
        }
    };
    asio::co_spawn(impl_->ioc, impl_->fetch(url, options, std::move(guarded)), asio::detached);
}

void HttpFetcher::after(std::chrono::milliseconds delay, std::function<void()> fn) {
    auto timer = std::make_shared<asio::steady_timer>(impl_->ioc, delay);
    timer->async_wait([timer, fn = std::move(fn)](const error_code& ec) {
        if (ec) return;
        try {
            fn();
        } catch (const std::exception& e) {
            logThrownCallback("after", "", e.what());
        }
    });
}

}  // namespace vigil::net

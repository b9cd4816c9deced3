#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace vigil::net {

struct FetchResult {
    int status = 0;     // 0: no response (see error)
    std::string body;
    std::string error;  // why there is no response
};

struct FetchOptions {
    std::optional<std::filesystem::path> caFile;  // https: else the system CA store
    std::chrono::milliseconds timeout{10'000};
    std::size_t maxBodyBytes = 1024 * 1024;
};

// A small HTTP/1.1 client with its own thread, for work off the request path (OpenID
// discovery and JWKS). GET only; https is verified (certificate chain and host name).
// Callbacks run on the fetcher's thread.
class HttpFetcher {
public:
    HttpFetcher();
    ~HttpFetcher();  // stops the thread; pending callbacks are dropped
    HttpFetcher(const HttpFetcher&) = delete;
    HttpFetcher& operator=(const HttpFetcher&) = delete;

    void get(const std::string& url, const FetchOptions& options,
             std::function<void(FetchResult)> done);
    // Runs `fn` on the fetcher's thread after `delay`.
    void after(std::chrono::milliseconds delay, std::function<void()> fn);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::net

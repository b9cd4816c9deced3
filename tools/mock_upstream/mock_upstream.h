#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "net/http_types.h"

namespace vigil::mock {

enum class Fault { None, SlowFirstByte, ResetMidStream, ServerError, LeakKey };

std::optional<Fault> faultFromName(std::string_view name);

struct MockOptions {
    std::string apiKey;  // requests without "Authorization: Bearer <apiKey>" get 401
    std::string reply = "Hello from the Vigil mock upstream.";
    bool echo = false;   // reply with the last user message instead
    std::chrono::milliseconds tokenDelay{0};       // between two streamed tokens
    std::chrono::milliseconds firstByteDelay{3000};  // for Fault::SlowFirstByte
    Fault fault = Fault::None;
    std::string model = "mock-gpt";
    std::size_t chunkBytes = 0;       // stream the reply in pieces of this many bytes (0: word by word)
    std::string contentEncoding;      // claimed in the reply's headers (tests of what cannot be inspected)
    std::string transferCoding;       // claimed before chunked in a streamed reply ("gzip": "gzip, chunked")
};

// An OpenAI-compatible model server for tests and the demo. Every option can be overridden
// per request with a header (X-Mock-Reply, X-Mock-Echo, X-Mock-Token-Delay-Ms,
// X-Mock-First-Byte-Delay-Ms, X-Mock-Fault, X-Mock-Chunk-Bytes, X-Mock-Content-Encoding,
// X-Mock-Transfer-Coding, X-Mock-Content-Type, X-Mock-Body-Encoding, X-Mock-Header), which the gateway
// forwards like any header.
// GET /_mock/last-request shows the last request as the mock received it (headers and body).
class MockUpstream final : public net::RequestHandler {
public:
    explicit MockUpstream(MockOptions options) : options_(std::move(options)) {}

    net::Action handle(const net::RequestView& request) override;
    net::Action rejected(DetailsCode code, std::string_view message, const net::RequestView* request,
                         std::string_view clientAddress) override;

private:
    net::LocalResponse chatCompletions(const net::RequestView& request, const MockOptions& o);
    net::LocalResponse embeddings(const net::RequestView& request);
    net::LocalResponse models() const;
    net::LocalResponse lastRequest();
    void remember(const net::RequestView& request);

    MockOptions options_;
    std::mutex mutex_;
    std::string lastRequestJson_ = "null";
    std::uint64_t counter_ = 0;
};

// Splits text into the pieces a model would stream: each word with the spaces before it.
std::vector<std::string> splitTokens(std::string_view text);
std::string base64Encode(std::string_view bytes);

}  // namespace vigil::mock

#include "mock_upstream.h"

#include <cmath>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

namespace vigil::mock {
namespace {

// UTF-8 as UTF-16 little-endian with a byte order mark (the mock's own replies are valid UTF-8).
std::string utf16le(std::string_view utf8) {
    std::string out("\xFF\xFE", 2);
    const auto unit = [&](std::uint32_t u) {
        out += static_cast<char>(u & 0xFF);
        out += static_cast<char>(u >> 8);
    };
    for (std::size_t i = 0; i < utf8.size();) {
        const auto lead = static_cast<unsigned char>(utf8[i]);
        const std::size_t n = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        std::uint32_t cp = n == 1 ? lead : lead & (0x7F >> n);
        for (std::size_t k = 1; k < n && i + k < utf8.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
        i += n;
        if (cp >= 0x10000) {
            unit(0xD800 | ((cp - 0x10000) >> 10));
            unit(0xDC00 | ((cp - 0x10000) & 0x3FF));
        } else {
            unit(cp);
        }
    }
    return out;
}

using json = nlohmann::json;

net::LocalResponse jsonReply(int status, const json& body) {
    net::LocalResponse r;
    r.status = status;
    r.headers = {{"Content-Type", "application/json"}};
    r.body = body.dump();
    return r;
}

net::LocalResponse openAiError(int status, std::string_view message, std::string_view type,
                               const char* code) {
    json error = {{"message", message}, {"type", type}, {"param", nullptr}};
    error["code"] = code == nullptr ? json(nullptr) : json(code);
    return jsonReply(status, json{{"error", error}});
}

std::string textOf(const json& content) {
    if (content.is_string()) return content.get<std::string>();
    std::string text;
    if (content.is_array()) {
        for (const auto& part : content) {
            if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
                part["text"].is_string()) {
                if (!text.empty()) text += ' ';
                text += part["text"].get<std::string>();
            }
        }
    }
    return text;
}

std::uint64_t fnv1a(std::string_view s, std::uint64_t seed) {
    std::uint64_t h = 1469598103934665603ULL ^ seed;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

int estimateTokens(std::string_view text) {
    return static_cast<int>((text.size() + 3) / 4);
}


}  // namespace

std::optional<Fault> faultFromName(std::string_view name) {
    if (name == "none") return Fault::None;
    if (name == "slow-first-byte") return Fault::SlowFirstByte;
    if (name == "reset-mid-stream") return Fault::ResetMidStream;
    if (name == "500") return Fault::ServerError;
    if (name == "leak-key") return Fault::LeakKey;
    return std::nullopt;
}

std::vector<std::string> splitTokens(std::string_view text) {
    std::vector<std::string> tokens;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t j = i;
        while (j < text.size() && (text[j] == ' ' || text[j] == '\n')) ++j;
        while (j < text.size() && text[j] != ' ' && text[j] != '\n') ++j;
        tokens.emplace_back(text.substr(i, j - i));
        i = j;
    }
    return tokens;
}

std::string base64Encode(std::string_view bytes) {
    static constexpr char kTable[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const auto n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
        out += kTable[(n >> 18) & 63];
        out += kTable[(n >> 12) & 63];
        out += kTable[(n >> 6) & 63];
        out += kTable[n & 63];
    }
    if (i < bytes.size()) {
        unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        out += kTable[(n >> 18) & 63];
        out += kTable[(n >> 12) & 63];
        out += i + 1 < bytes.size() ? kTable[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

void MockUpstream::remember(const net::RequestView& request) {
    json headers = json::object();
    for (const auto& h : request.headers) {
        std::string name(h.name);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        headers[name] = std::string(h.value);
    }
    json record = {{"method", request.method}, {"target", request.target}, {"headers", headers},
                   {"body_bytes", request.body.size()}, {"body", std::string(request.body)}};
    std::lock_guard lock(mutex_);
    lastRequestJson_ = record.dump(-1, ' ', false, json::error_handler_t::replace);
}

net::LocalResponse MockUpstream::lastRequest() {
    net::LocalResponse r;
    r.headers = {{"Content-Type", "application/json"}};
    std::lock_guard lock(mutex_);
    r.body = lastRequestJson_;
    return r;
}

net::Action MockUpstream::handle(const net::RequestView& request) {
    net::Action action;
    const auto path = request.path();
    if (path == "/_mock/last-request") {
        action.local = lastRequest();
        return action;
    }
    if (path == "/healthz") {
        action.local = jsonReply(200, json{{"status", "ok"}});
        return action;
    }
    remember(request);

    MockOptions o = options_;
    if (const auto v = request.header("x-mock-reply"); !v.empty()) o.reply = std::string(v);
    if (const auto v = request.header("x-mock-echo"); !v.empty()) o.echo = (v == "1" || v == "true");
    if (const auto v = request.header("x-mock-token-delay-ms"); !v.empty()) {
        o.tokenDelay = std::chrono::milliseconds(std::atoi(std::string(v).c_str()));
    }
    if (const auto v = request.header("x-mock-first-byte-delay-ms"); !v.empty()) {
        o.firstByteDelay = std::chrono::milliseconds(std::atoi(std::string(v).c_str()));
    }
    if (const auto v = request.header("x-mock-fault"); !v.empty()) {
        if (auto f = faultFromName(v)) o.fault = *f;
    }
    if (const auto v = request.header("x-mock-chunk-bytes"); !v.empty()) {
        o.chunkBytes = static_cast<std::size_t>(std::max(0, std::atoi(std::string(v).c_str())));
    }
    if (const auto v = request.header("x-mock-content-encoding"); !v.empty()) o.contentEncoding = std::string(v);
    if (const auto v = request.header("x-mock-transfer-coding"); !v.empty()) o.transferCoding = std::string(v);

    const auto auth = request.header("authorization");
    if (o.fault == Fault::LeakKey) {
        // Like upstreams that quote the key they were given in an error message.
        action.local = openAiError(401,
                                   "Incorrect API key provided: " +
                                       std::string(auth.starts_with("Bearer ") ? auth.substr(7) : auth),
                                   "invalid_request_error", "invalid_api_key");
        action.local.headers.push_back({"X-Echo-Key", std::string(auth)});
        return action;
    }
    if (auth != "Bearer " + o.apiKey) {
        action.local = openAiError(401,
                                   auth.empty() ? "You didn't provide an API key."
                                                : "Incorrect API key provided.",
                                   "invalid_request_error", "invalid_api_key");
        return action;
    }
    if (o.fault == Fault::ServerError) {
        action.local = openAiError(500, "The server had an error while processing your request.",
                                   "server_error", nullptr);
        return action;
    }

    if (path == "/v1/models" && request.method == "GET") {
        action.local = models();
    } else if (path == "/v1/chat/completions" && request.method == "POST") {
        action.local = chatCompletions(request, o);
    } else if (path == "/v1/embeddings" && request.method == "POST") {
        action.local = embeddings(request);
    } else {
        action.local = openAiError(404, "Unknown request URL: " + std::string(request.method) +
                                            " " + std::string(path) + ".",
                                   "invalid_request_error", "unknown_url");
    }
    if (o.fault == Fault::SlowFirstByte) action.local.headDelay = o.firstByteDelay;
    if (!o.contentEncoding.empty()) action.local.headers.push_back({"Content-Encoding", o.contentEncoding});
    // A data API's labels: "X-Mock-Content-Type: application/octet-stream" relabels a buffered
    // reply; "X-Mock-Body-Encoding: utf-16le" sends it as UTF-16 LE with a byte order mark.
    if (const auto v = request.header("x-mock-content-type"); !v.empty() && !action.local.streamed) {
        for (auto& h : action.local.headers) {
            if (h.name == "Content-Type") h.value = std::string(v);
        }
    }
    // "X-Mock-Header: NAME: VALUE" adds a field to the reply (a data API's file name, say).
    if (const auto v = request.header("x-mock-header"); v.find(": ") != std::string_view::npos) {
        action.local.headers.push_back({std::string(v.substr(0, v.find(": "))), std::string(v.substr(v.find(": ") + 2))});
    }
    if (request.header("x-mock-body-encoding") == "utf-16le" && !action.local.streamed) action.local.body = utf16le(action.local.body);
    // A streamed reply is sent with "Transfer-Encoding: chunked" after these fields: the two
    // fields make one list, "gzip, chunked".
    if (!o.transferCoding.empty() && action.local.streamed) action.local.headers.push_back({"Transfer-Encoding", o.transferCoding});
    if (const auto v = request.header("x-mock-hop-header"); !v.empty()) {
        // A field meant for the next hop only, named in a second Connection field: a proxy
        // must not pass it on (RFC 9110 7.6.1).
        action.local.headers.push_back({"Connection", "keep-alive"});
        action.local.headers.push_back({"Connection", std::string(v)});
        action.local.headers.push_back({std::string(v), "for the gateway's hop only"});
    }
    return action;
}

net::LocalResponse MockUpstream::models() const {
    json data = json::array();
    for (const auto* id : {"mock-gpt", "mock-gpt-mini", "mock-embedding"}) {
        data.push_back({{"id", id}, {"object", "model"}, {"created", 1700000000}, {"owned_by", "vigil-mock"}});
    }
    return jsonReply(200, json{{"object", "list"}, {"data", data}});
}

net::LocalResponse MockUpstream::chatCompletions(const net::RequestView& request,
                                                 const MockOptions& o) {
    json body = json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        return openAiError(400,
                           "We could not parse the JSON body of your request. (HINT: This likely "
                           "means you aren't using your HTTP library correctly.)",
                           "invalid_request_error", nullptr);
    }
    if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
        return openAiError(400, "Missing required parameter: 'messages'.", "invalid_request_error",
                           "missing_required_parameter");
    }
    if (!body.contains("model") || !body["model"].is_string()) {
        return openAiError(400, "Missing required parameter: 'model'.", "invalid_request_error",
                           "missing_required_parameter");
    }
    const std::string model = body["model"].get<std::string>();
    std::string prompt;
    std::string lastUser;
    for (const auto& m : body["messages"]) {
        if (!m.is_object()) continue;
        const auto text = m.contains("content") ? textOf(m["content"]) : std::string();
        prompt += text;
        if (m.value("role", "") == "user") lastUser = text;
    }
    const std::string reply = o.echo ? lastUser : o.reply;
    const bool stream = body.value("stream", false);
    const bool includeUsage = body.contains("stream_options") && body["stream_options"].is_object() &&
                              body["stream_options"].value("include_usage", false);
    std::uint64_t n;
    {
        std::lock_guard lock(mutex_);
        n = ++counter_;
    }
    const std::string id = "chatcmpl-mock-" + std::to_string(n);
    const auto created = static_cast<std::int64_t>(std::time(nullptr));
    const int promptTokens = estimateTokens(prompt);
    std::vector<std::string> tokens;
    if (o.chunkBytes > 0) {
        for (std::size_t i = 0; i < reply.size(); i += o.chunkBytes) tokens.push_back(reply.substr(i, o.chunkBytes));
    } else {
        tokens = splitTokens(reply);
    }
    const int completionTokens = static_cast<int>(tokens.size());
    const json usage = {{"prompt_tokens", promptTokens},
                        {"completion_tokens", completionTokens},
                        {"total_tokens", promptTokens + completionTokens}};

    if (!stream) {
        json message = {{"role", "assistant"}, {"content", reply}, {"refusal", nullptr}};
        json choice = {{"index", 0}, {"message", message}, {"logprobs", nullptr}, {"finish_reason", "stop"}};
        json out = {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model},
                    {"choices", json::array({choice})}, {"usage", usage},
                    {"system_fingerprint", "fp_vigil_mock"}};
        auto response = jsonReply(200, out);
        if (o.fault == Fault::ResetMidStream) {
            // Half the body, then a TCP reset.
            response.streamed = true;
            response.steps = {{std::chrono::milliseconds(0), response.body.substr(0, response.body.size() / 2)}};
            response.ending = net::LocalResponse::Ending::ResetConnection;
        }
        return response;
    }

    auto chunk = [&](const json& delta, const json& finish) {
        json choice = {{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish}};
        json c = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                  {"system_fingerprint", "fp_vigil_mock"}, {"choices", json::array({choice})}};
        if (includeUsage) c["usage"] = nullptr;
        return "data: " + c.dump() + "\n\n";
    };
    net::LocalResponse response;
    response.status = 200;
    response.streamed = true;
    response.headers = {{"Content-Type", "text/event-stream; charset=utf-8"},
                        {"Cache-Control", "no-cache"}};
    response.steps.push_back({std::chrono::milliseconds(0),
                              chunk(json{{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}},
                                    nullptr)});
    const std::size_t resetAfter = o.fault == Fault::ResetMidStream ? tokens.size() / 2 : tokens.size();
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (i == resetAfter) break;
        response.steps.push_back({o.tokenDelay, chunk(json{{"content", tokens[i]}}, nullptr)});
    }
    if (o.fault == Fault::ResetMidStream) {
        // Half of one more event, so the gateway sees a stream cut inside an event.
        response.steps.push_back({o.tokenDelay, "data: {\"id\":\"" + id + "\",\"obje"});
        response.ending = net::LocalResponse::Ending::ResetConnection;
        return response;
    }
    response.steps.push_back({o.tokenDelay, chunk(json::object(), "stop")});
    if (includeUsage) {
        json c = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                  {"system_fingerprint", "fp_vigil_mock"}, {"choices", json::array()}, {"usage", usage}};
        response.steps.push_back({std::chrono::milliseconds(0), "data: " + c.dump() + "\n\n"});
    }
    response.steps.push_back({std::chrono::milliseconds(0), "data: [DONE]\n\n"});
    return response;
}

net::LocalResponse MockUpstream::embeddings(const net::RequestView& request) {
    json body = json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("input")) {
        return openAiError(400, "Missing required parameter: 'input'.", "invalid_request_error",
                           "missing_required_parameter");
    }
    std::vector<std::string> inputs;
    const auto& input = body["input"];
    if (input.is_string()) {
        inputs.push_back(input.get<std::string>());
    } else if (input.is_array()) {
        for (const auto& item : input) inputs.push_back(item.is_string() ? item.get<std::string>() : item.dump());
    } else {
        return openAiError(400, "'input' must be a string or an array.", "invalid_request_error", nullptr);
    }
    const bool base64 = body.value("encoding_format", "float") == "base64";
    constexpr int kDimensions = 16;
    json data = json::array();
    int tokens = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        std::vector<float> v(kDimensions);
        double norm = 0;
        for (int d = 0; d < kDimensions; ++d) {
            const auto h = fnv1a(inputs[i], static_cast<std::uint64_t>(d));
            v[static_cast<std::size_t>(d)] = static_cast<float>(static_cast<double>(h % 2001) / 1000.0 - 1.0);
            norm += v[static_cast<std::size_t>(d)] * v[static_cast<std::size_t>(d)];
        }
        norm = std::sqrt(norm);
        for (auto& x : v) x = static_cast<float>(x / (norm == 0 ? 1 : norm));
        json embedding;
        if (base64) {
            std::string bytes(v.size() * sizeof(float), '\0');
            std::memcpy(bytes.data(), v.data(), bytes.size());
            embedding = base64Encode(bytes);
        } else {
            embedding = v;
        }
        data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", embedding}});
        tokens += estimateTokens(inputs[i]);
    }
    return jsonReply(200, json{{"object", "list"}, {"data", data}, {"model", body.value("model", "mock-embedding")},
                               {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

net::Action MockUpstream::rejected(DetailsCode code, std::string_view message, const net::RequestView*, std::string_view) {
    net::Action action;
    action.local = openAiError(detailsCodeInfo(code).httpStatus, message, "invalid_request_error",
                               std::string(detailsCodeName(code)).c_str());
    return action;
}

}  // namespace vigil::mock

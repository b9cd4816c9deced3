#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/gateway_config.h"
#include "vigil/details_code.h"

namespace vigil::inspect {

// What the policy needs to know about one request, read from its OpenAI-style body.
struct RequestFacts {
    enum class Api { ChatCompletions, Completions, Embeddings, Responses, Other };
    struct Message {
        std::string role;  // "system", "user", "assistant", "tool"; "prompt"/"input" otherwise
        std::string text;  // every text part of the message, joined with newlines
    };

    // What of the request is not in `messages` (the text the policy reads): media and file
    // parts, tool calls and their arguments, tool definitions, other input items. Approvers
    // are shown these beside the prompt. `detail` is the part as compact JSON, long strings
    // cut ("...(N bytes)").
    struct Part {
        std::string where;   // "messages[1].content[2]", "tools[0]"
        std::string kind;    // its "type", or the member's name ("tool_calls")
        std::string detail;
    };
    static constexpr std::size_t kMaxParts = 500;  // more are counted in partsOmitted
    // Set before inspecting to have otherParts filled (a review's draft does; the request
    // path does not pay for it).
    bool collectParts = false;

    Api api = Api::Other;
    std::string model;
    std::vector<Message> messages;
    std::vector<Part> otherParts;
    std::size_t partsOmitted = 0;
    std::vector<std::string> tools;  // names of the tools/functions offered to the model
    bool stream = false;
    std::optional<std::int64_t> maxTokens;  // max_tokens, max_completion_tokens, max_output_tokens
    std::int64_t estimatedPromptTokens = 0;
    double estimatedCost = 0.0;  // in the price table's currency; 0 when the model has no price
};


struct InspectError {
    DetailsCode code;     // InvalidJson or InvalidRequest
    std::string message;  // names the field: "messages[2].content: must be ..."
};

// The API path rules and inspection go by: `path` (from /v1 on, canonical, see
// route::canonicalPath) in lower case, without path parameters (";x", which some servers
// drop) and without a trailing slash, so that "/v1/Chat/completions/" and
// "/v1/chat/completions;x" are read as the chat completions they may well be upstream.
std::string apiPath(std::string_view path);

// Reads the facts of a request to `path` (an apiPath). Bodies of the four OpenAI
// APIs are checked for the shape of the fields the gateway reads; other paths yield
// Api::Other with no facts. Unknown fields are left to the upstream.
std::optional<InspectError> inspectRequest(std::string_view method, std::string_view path,
                                           std::string_view body,
                                           const std::vector<config::ModelPrice>& prices,
                                           RequestFacts& facts);

// The prompt-token estimate (see docs/token-estimate.md): words, numbers and punctuation
// of the text counted the way byte-pair tokenizers split them.
std::int64_t estimateTokens(std::string_view text);

}  // namespace vigil::inspect

#include "inspect/request_facts.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "vigil/json_text.h"

namespace vigil::inspect {
namespace {

using json = nlohmann::json;

// Parses `body`, noting the first member name that one object gives twice. Parsers differ
// on such a body (this one keeps the last value; simdjson-style lookups and some others
// the first), so the upstream could read another prompt than the policy did: I-JSON (RFC
// 7493) forbids it, and so does the gateway. Names are collected with the object they
// belong to and compared once sorted, so that a body of many names costs n log n.
json parseRejectingDuplicateNames(std::string_view body, std::string& duplicate) {
    std::vector<std::pair<std::uint32_t, std::string>> names;
    std::vector<std::uint32_t> open;
    std::uint32_t objects = 0;
    auto callback = [&](int, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
                open.push_back(objects++);
                break;
            case json::parse_event_t::key:
                names.emplace_back(open.back(), parsed.get_ref<const std::string&>());
                break;
            case json::parse_event_t::object_end:
                open.pop_back();
                break;
            default:
                break;
        }
        return true;
    };
    json parsed = json::parse(body, callback, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || names.size() < 2) return parsed;
    std::sort(names.begin(), names.end());
    const auto twice = std::adjacent_find(names.begin(), names.end());
    if (twice != names.end()) duplicate = twice->second;
    return parsed;
}

// Per-message framing of the chat format (role markers), as the OpenAI cookbook counts it.
constexpr std::int64_t kTokensPerMessage = 4;

// The first shape error found; once set, the readers below stop reading (no exceptions on
// the request path).
struct Shape {
    std::string error;
    bool failed() const { return !error.empty(); }
    void fail(std::string message) {
        if (error.empty())
            error = std::move(message);
    }
};

std::string joinedPath(const std::string& base, const std::string& key) {
    return base.empty() ? key : base + "." + key;
}

const json* field(const json& object, const char* name) {
    auto it = object.find(name);
    return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string requireString(Shape& s, const json& object, const char* name,
                          const std::string& where) {
    const json* v = field(object, name);
    if (v == nullptr) {
        s.fail(joinedPath(where, name) + ": is required");
        return {};
    }
    if (!v->is_string()) {
        s.fail(joinedPath(where, name) + ": must be a string");
        return {};
    }
    return v->get<std::string>();
}

std::optional<std::int64_t> optionalCount(Shape& s, const json& object, const char* name) {
    const json* v = field(object, name);
    if (v == nullptr)
        return std::nullopt;
    if (!v->is_number_integer() || v->get<std::int64_t>() < 0) {
        {
            s.fail(std::string(name) + ": must be a non-negative integer");
            return std::nullopt;
        }
    }
    return v->get<std::int64_t>();
}

bool optionalFlag(Shape& s, const json& object, const char* name) {
    const json* v = field(object, name);
    if (v == nullptr)
        return false;
    if (!v->is_boolean()) {
        s.fail(std::string(name) + ": must be true or false");
        return false;
    }
    return v->get<bool>();
}

// `value` as compact JSON with every string longer than `maxString` bytes cut, and what is
// nested deeper than kPartDepth levels summarised (the walk and dump() recurse: a body of
// a few KB nested 20,000 deep must not exhaust the stack).
constexpr int kPartDepth = 64;

json cutStrings(const json& value, std::size_t maxString, int depth = 0) {
    if ((value.is_array() || value.is_object()) && depth >= kPartDepth) {
        return "...(" + std::string(value.is_array() ? "an array" : "an object") + " nested deeper than " +
               std::to_string(kPartDepth) + " levels)";
    }
    if (value.is_string()) {
        const auto& text = value.get_ref<const std::string&>();
        if (text.size() <= maxString) return value;
        return std::string(utf8Prefix(text, maxString)) + "...(" + std::to_string(text.size()) + " bytes)";
    }
    if (value.is_array()) {
        json out = json::array();
        for (const auto& v : value) out.push_back(cutStrings(v, maxString, depth + 1));
        return out;
    }
    if (value.is_object()) {
        json out = json::object();
        for (const auto& [k, v] : value.items()) out[k] = cutStrings(v, maxString, depth + 1);
        return out;
    }
    return value;
}

// Media and file data are summarised; names, URLs, arguments and descriptions are kept
// (long ones cut).
constexpr std::size_t kPartStringBytes = 4096;

void addPart(RequestFacts& facts, std::string where, std::string kind, const json& value) {
    if (!facts.collectParts) return;
    if (facts.otherParts.size() >= RequestFacts::kMaxParts) {
        ++facts.partsOmitted;
        return;
    }
    facts.otherParts.push_back({std::move(where), std::move(kind),
                                cutStrings(value, kPartStringBytes).dump(-1, ' ', false, json::error_handler_t::replace)});
}

std::string typeOf(const json& object, const char* fallback) {
    const json* type = object.is_object() ? field(object, "type") : nullptr;
    return type != nullptr && type->is_string() ? type->get<std::string>() : std::string(fallback);
}

// A message content: a string, or an array of parts whose text parts are joined; the
// other parts go to facts.otherParts.
std::string contentText(Shape& s, const json& content, const std::string& where, RequestFacts& facts) {
    if (content.is_string())
        return content.get<std::string>();
    if (!content.is_array()) {
        s.fail(where + ": must be a string or an array of content parts");
        return {};
    }
    std::string text;
    for (std::size_t i = 0; i < content.size(); ++i) {
        const auto& part = content[i];
        const std::string at = where + "[" + std::to_string(i) + "]";
        if (part.is_string()) {  // the Responses API accepts plain strings in places
            text += (text.empty() ? "" : "\n") + part.get<std::string>();
            continue;
        }
        if (!part.is_object()) {
            s.fail(at + ": must be an object");
            return text;
        }
        const json* t = field(part, "text");
        if (t != nullptr) {
            if (!t->is_string()) {
                s.fail(at + ".text: must be a string");
                return text;
            }
            text += (text.empty() ? "" : "\n") + t->get<std::string>();
        } else {
            addPart(facts, at, typeOf(part, "part"), part);
        }
    }
    return text;
}

void readTools(Shape& s, const json& body, RequestFacts& facts) {
    if (const json* tools = field(body, "tools")) {
        if (!tools->is_array()) {
            s.fail("tools: must be an array");
            return;
        }
        for (std::size_t i = 0; i < tools->size(); ++i) {
            const auto& tool = (*tools)[i];
            const std::string at = "tools[" + std::to_string(i) + "]";
            if (!tool.is_object()) {
                s.fail(at + ": must be an object");
                return;
            }
            addPart(facts, at, typeOf(tool, "tool"), tool);  // its description and parameters
            // Chat: {"type":"function","function":{"name":...}}; Responses:
            // {"type":...,"name":...}.
            if (const json* fn = field(tool, "function"); fn != nullptr && fn->is_object()) {
                facts.tools.push_back(requireString(s, *fn, "name", at + ".function"));
            } else if (const json* name = field(tool, "name");
                       name != nullptr && name->is_string()) {
                facts.tools.push_back(name->get<std::string>());
            } else if (const json* type = field(tool, "type");
                       type != nullptr && type->is_string()) {
                facts.tools.push_back(
                    type->get<std::string>());  // built-in tools: "web_search", ...
            } else {
                {
                    s.fail(at + ": must name a function or a tool type");
                    return;
                }
            }
        }
    }
    if (const json* functions = field(body, "functions")) {  // the legacy form
        if (!functions->is_array()) {
            s.fail("functions: must be an array");
            return;
        }
        for (std::size_t i = 0; i < functions->size(); ++i) {
            const auto& fn = (*functions)[i];
            if (!fn.is_object()) {
                s.fail("functions[" + std::to_string(i) + "]: must be an object");
                return;
            }
            addPart(facts, "functions[" + std::to_string(i) + "]", "function", fn);
            facts.tools.push_back(
                requireString(s, fn, "name", "functions[" + std::to_string(i) + "]"));
        }
    }
}

// "prompt"/"input" of completions and embeddings: a string, strings, or token arrays.
void readPlainInput(Shape& s, const json& body, const char* name, RequestFacts& facts) {
    const json* input = field(body, name);
    if (input == nullptr) {
        s.fail(std::string(name) + ": is required");
        return;
    }
    auto add = [&](const json& item, const std::string& at) {
        if (item.is_string()) {
            facts.messages.push_back({name, item.get<std::string>()});
        } else if (item.is_array()) {  // token ids: counted, not read
            for (const auto& token : item) {
                if (!token.is_number_integer()) {
                    s.fail(at + ": token arrays hold integers");
                    return;
                }
            }
            facts.estimatedPromptTokens += static_cast<std::int64_t>(item.size());
        } else {
            {
                s.fail(at + ": must be a string or an array of token ids");
                return;
            }
        }
    };
    if (input->is_string()) {
        add(*input, name);
    } else if (input->is_array()) {
        const bool tokenIds = !input->empty() && (*input)[0].is_number_integer();
        if (tokenIds) {
            add(*input, name);
        } else {
            for (std::size_t i = 0; i < input->size(); ++i)
                add((*input)[i], std::string(name) + "[" + std::to_string(i) + "]");
        }
    } else {
        {
            s.fail(std::string(name) + ": must be a string or an array");
            return;
        }
    }
}

void readChat(Shape& s, const json& body, RequestFacts& facts) {
    const json* messages = field(body, "messages");
    if (messages == nullptr) {
        s.fail("messages: is required");
        return;
    }
    if (!messages->is_array() || messages->empty()) {
        s.fail("messages: must be a non-empty array");
        return;
    }
    for (std::size_t i = 0; i < messages->size(); ++i) {
        const auto& m = (*messages)[i];
        const std::string at = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) {
            s.fail(at + ": must be an object");
            return;
        }
        RequestFacts::Message message;
        message.role = requireString(s, m, "role", at);
        if (const json* content = field(m, "content"))
            message.text = contentText(s, *content, at + ".content", facts);
        // Tool calls with their arguments, a legacy function call, audio and the like.
        if (facts.collectParts) {
            for (const auto& [key, value] : m.items()) {
                if (key != "role" && key != "content" && key != "name") addPart(facts, at + "." + key, key, value);
            }
        }
        facts.messages.push_back(std::move(message));
        facts.estimatedPromptTokens += kTokensPerMessage;
    }
    facts.maxTokens = optionalCount(s, body, "max_completion_tokens");
    if (!facts.maxTokens)
        facts.maxTokens = optionalCount(s, body, "max_tokens");
    readTools(s, body, facts);
}

void readResponses(Shape& s, const json& body, RequestFacts& facts) {
    if (const json* instructions = field(body, "instructions")) {
        if (!instructions->is_string()) {
            s.fail("instructions: must be a string");
            return;
        }
        facts.messages.push_back({"system", instructions->get<std::string>()});
    }
    const json* input = field(body, "input");
    if (input == nullptr) {
        s.fail("input: is required");
        return;
    }
    if (input->is_string()) {
        facts.messages.push_back({"user", input->get<std::string>()});
    } else if (input->is_array()) {
        for (std::size_t i = 0; i < input->size(); ++i) {
            const auto& item = (*input)[i];
            const std::string at = "input[" + std::to_string(i) + "]";
            if (!item.is_object()) {
                s.fail(at + ": must be an object");
                return;
            }
            RequestFacts::Message message;
            const json* role = field(item, "role");
            message.role =
                role != nullptr && role->is_string() ? role->get<std::string>() : "input";
            const json* content = field(item, "content");
            if (content != nullptr) {
                message.text = contentText(s, *content, at + ".content", facts);
            } else {
                // Not a message: a function call, its output, a reasoning item...
                addPart(facts, at, typeOf(item, "item"), item);
            }
            facts.messages.push_back(std::move(message));
            facts.estimatedPromptTokens += kTokensPerMessage;
        }
    } else {
        {
            s.fail("input: must be a string or an array of input items");
            return;
        }
    }
    facts.maxTokens = optionalCount(s, body, "max_output_tokens");
    readTools(s, body, facts);
}

bool isWordByte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
bool isDigit(unsigned char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

std::int64_t estimateTokens(std::string_view text) {
    // Byte-pair tokenizers (cl100k, o200k) keep common words whole with their leading
    // space, split long or rare words into pieces, numbers into groups of up to three
    // digits, merge short runs of punctuation, and spend about one token per CJK
    // character. This counts those units; docs/token-estimate.md gives its error on a
    // sample against both tokenizers.
    std::int64_t tokens = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (isWordByte(c)) {
            std::size_t j = i;
            std::size_t letters = 0;
            std::size_t wide = 0;  // characters of three or more UTF-8 bytes (CJK and the like)
            while (j < text.size() && isWordByte(static_cast<unsigned char>(text[j]))) {
                const auto b = static_cast<unsigned char>(text[j]);
                if ((b & 0xC0) != 0x80) ++letters;
                if (b >= 0xE0) ++wide;
                ++j;
            }
            const std::size_t narrow = letters - wide;
            tokens += static_cast<std::int64_t>(wide);
            if (narrow > 0) tokens += 1 + static_cast<std::int64_t>(narrow > 10 ? (narrow - 6) / 5 : 0);
            i = j;
        } else if (isDigit(c)) {
            std::size_t j = i;
            while (j < text.size() && isDigit(static_cast<unsigned char>(text[j]))) ++j;
            tokens += static_cast<std::int64_t>((j - i + 2) / 3);
            i = j;
        } else if (c == ' ' || c == '\t') {
            ++i;  // spaces ride with the next word
        } else if (c == '\n' || c == '\r') {
            std::size_t j = i;
            while (j < text.size() && (text[j] == '\n' || text[j] == '\r' || text[j] == ' ')) ++j;
            ++tokens;  // a line break and the indentation after it
            i = j;
        } else {
            std::size_t j = i;
            while (j < text.size()) {
                const auto d = static_cast<unsigned char>(text[j]);
                if (isWordByte(d) || isDigit(d) || d == ' ' || d == '\t' || d == '\n' || d == '\r') break;
                ++j;
            }
            tokens += static_cast<std::int64_t>((j - i + 1) / 2);  // "({", "});", "->" merge
            i = j;
        }
    }
    return tokens;
}

std::string apiPath(std::string_view path) {
    std::string out;
    out.reserve(path.size());
    bool inParameters = false;
    for (const char c : path) {
        if (c == '/') inParameters = false;
        if (c == ';') inParameters = true;
        if (!inParameters) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
}

std::optional<InspectError> inspectRequest(std::string_view method, std::string_view path,
                                           std::string_view body,
                                           const std::vector<config::ModelPrice>& prices,
                                           RequestFacts& facts) {
    if (path == "/v1/chat/completions") {
        facts.api = RequestFacts::Api::ChatCompletions;
    } else if (path == "/v1/completions") {
        facts.api = RequestFacts::Api::Completions;
    } else if (path == "/v1/embeddings") {
        facts.api = RequestFacts::Api::Embeddings;
    } else if (path == "/v1/responses") {
        facts.api = RequestFacts::Api::Responses;
    } else {
        facts.api = RequestFacts::Api::Other;
        return std::nullopt;
    }
    // Whatever the method, a body sent to an inspected API is read: an upstream (or a
    // framework in front of it) may honour a PUT, or an override header, as the POST.
    if (method != "POST" && body.empty()) return std::nullopt;  // a listing, say: no prompt

    std::string duplicate;
    json parsed = parseRejectingDuplicateNames(body, duplicate);
    if (parsed.is_discarded()) {
        return InspectError{DetailsCode::InvalidJson, "the request body is not valid JSON"};
    }
    if (!duplicate.empty()) {
        return InspectError{DetailsCode::InvalidJson,
                            "the request body gives the member \"" + duplicate +
                                "\" twice in one object: parsers disagree on which value counts (RFC 7493 2.3)"};
    }
    if (!parsed.is_object())
        return InspectError{DetailsCode::InvalidRequest, "the request body must be a JSON object"};
    Shape s;
    {
        facts.model = requireString(s, parsed, "model", "");
        facts.stream = optionalFlag(s, parsed, "stream");
        switch (facts.api) {
            case RequestFacts::Api::ChatCompletions:
                readChat(s, parsed, facts);
                break;
            case RequestFacts::Api::Completions:
                readPlainInput(s, parsed, "prompt", facts);
                facts.maxTokens = optionalCount(s, parsed, "max_tokens");
                break;
            case RequestFacts::Api::Embeddings:
                readPlainInput(s, parsed, "input", facts);
                break;
            case RequestFacts::Api::Responses:
                readResponses(s, parsed, facts);
                break;
            case RequestFacts::Api::Other:
                break;
        }
    }
    if (s.failed())
        return InspectError{DetailsCode::InvalidRequest, s.error};
    for (const auto& m : facts.messages)
        facts.estimatedPromptTokens += estimateTokens(m.text);
    if (facts.api == RequestFacts::Api::ChatCompletions)
        facts.estimatedPromptTokens += 3;  // reply priming
    for (const auto& price : prices) {
        if (price.model != facts.model)
            continue;
        facts.estimatedCost =
            static_cast<double>(facts.estimatedPromptTokens) * price.inputPerMillion / 1e6 +
            static_cast<double>(facts.maxTokens.value_or(0)) * price.outputPerMillion / 1e6;
        break;
    }
    return std::nullopt;
}

}  // namespace vigil::inspect

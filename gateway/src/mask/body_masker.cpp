#include "mask/body_masker.h"

#include "mask/wide_text.h"
#include "vigil/json_text.h"

namespace vigil::mask {
namespace {

bool looksLikeJsonDocument(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) ++i;
    return i < text.size() && (text[i] == '{' || text[i] == '[');
}

std::string mediaType(std::string_view contentType) {
    auto type = contentType.substr(0, contentType.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
    std::string lower(type);
    for (auto& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return lower;
}

bool isJsonContentType(std::string_view contentType) {
    const auto type = mediaType(contentType);
    return type == "application/json" || (type.starts_with("application/") && type.ends_with("+json")) ||
           type == "text/json";
}

// Types whose bodies are text a detector can read. Binary bodies (audio, images, uploads,
// archives) are passed on as they are: rewriting bytes inside them would corrupt them
// without masking anything.
bool isTextualType(std::string_view type) {
    // Any type naming JSON is read as text: SDKs parse "application/json-x" as JSON too.
    if (type.starts_with("text/") || type.find("json") != std::string_view::npos || type.ends_with("+xml")) return true;
    for (const char* t : {"application/xml", "application/javascript", "application/x-www-form-urlencoded", "application/csv",
                          "application/yaml", "application/x-yaml"}) {
        if (type == t) return true;
    }
    return false;
}

// Types that say nothing of the content: no type, or "octet-stream" (a data API's download,
// or JSON from a server that labels everything so). Such a body is text when it reads as
// text: valid UTF-8 without zero bytes (which text has none of, and most binary formats do).
bool isGenericType(std::string_view type) {
    for (const char* t : {"", "application/octet-stream", "binary/octet-stream", "application/unknown", "application/x-unknown",
                          "unknown/unknown", "application/binary"}) {
        if (type == t) return true;
    }
    return false;
}

bool readsAsText(std::string_view body) { return body.find('\0') == std::string_view::npos && isValidUtf8(body); }

std::string join(std::string_view where, const std::vector<PathToken>& path) {
    auto tail = describePath(path);
    if (where.empty()) return tail;
    if (tail.empty()) return std::string(where);
    return std::string(where) + (tail.front() == '[' ? "" : ".") + tail;
}

}  // namespace

std::optional<ParsedJson> parseForMasking(std::string_view text, int maxDepth) {
    using Event = nlohmann::detail::parse_event_t;
    auto attempt = [maxDepth](std::string_view input, ParsedJson& parsed) {
        bool tooDeep = false;
        std::vector<std::size_t> names;  // member names read so far, per open object
        OrderedJson::parser_callback_t callback = [&](int depth, Event event, OrderedJson& value) {
            switch (event) {
                case Event::object_start:
                    names.push_back(0);
                    [[fallthrough]];
                case Event::array_start:
                    if (depth >= maxDepth) tooDeep = true;
                    break;
                case Event::key:
                    if (!names.empty()) ++names.back();
                    break;
                case Event::object_end:
                    if (!names.empty()) {
                        if (value.size() != names.back()) parsed.lossy = true;  // a name given twice
                        names.pop_back();
                    }
                    break;
                default:
                    break;
            }
            return true;
        };
        parsed.value = OrderedJson::parse(input, callback, /*allow_exceptions=*/false);
        return !parsed.value.is_discarded() && !tooDeep;
    };
    ParsedJson parsed;
    if (maxDepth <= 0) return std::nullopt;
    if (attempt(text, parsed)) return parsed;
    if (isValidUtf8(text) && text.find("\\u") == std::string_view::npos) return std::nullopt;
    const std::string repaired = repairJsonText(text);
    if (repaired == text) return std::nullopt;
    parsed = ParsedJson{};
    if (!attempt(repaired, parsed)) return std::nullopt;
    parsed.lossy = true;
    return parsed;
}

std::string dumpJson(const OrderedJson& value, int indent) {
    return value.dump(indent, ' ', false, nlohmann::detail::error_handler_t::replace);
}

BodyMasker::BodyMasker(std::shared_ptr<const Profile> profile, std::string hashKey)
    : profile_(std::move(profile)), hashKey_(std::move(hashKey)) {}

void BodyMasker::maskJson(OrderedJson& document, std::string_view where) {
    std::vector<PathToken> path;
    walk(document, path, 0, std::string(where));
}

std::size_t BodyMasker::walk(OrderedJson& value, std::vector<PathToken>& path, std::size_t root,
                             const std::string& where) {
    std::size_t masked = 0;
    // A field rule replaces the whole value, whatever its type.
    const std::span<const PathToken> relative(path.data() + root, path.size() - root);
    for (std::size_t r = 0; r < profile_->fieldPaths().size(); ++r) {
        if (!profile_->fieldPaths()[r].matches(relative)) continue;
        const auto& rule = profile_->spec().fields[r];
        std::string replacement;
        profile_->replace(rule.entity, value.is_string() ? value.get_ref<const std::string&>() : dumpJson(value),
                          hashKey_, replacement);
        value = std::move(replacement);
        summary_.add(rule.entity, join(where, path));
        return 1;
    }
    if (value.is_object()) {
        // Log probabilities spell out the raw text token by token.
        if (const auto logprobs = value.find("logprobs"); dropLogprobs_ && logprobs != value.end() && !logprobs->is_null()) {
            *logprobs = nullptr;
            summary_.add("LOGPROBS_REMOVED", join(where, path));
        }
        // Names are data too ({"jane@example.com": {...}}), and the path below uses them.
        masked += maskKeys(value, path, where);
        for (auto it = value.begin(); it != value.end(); ++it) {
            path.emplace_back(std::string_view(it.key()));
            masked += walk(it.value(), path, root, where);
            path.pop_back();
        }
    } else if (value.is_array()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            path.emplace_back(i);
            masked += walk(value[i], path, root, where);
            path.pop_back();
        }
    } else if (value.is_number()) {
        // A model writes numbers as well as strings: {"card_number": 4111111111111111}.
        std::string out;
        const auto n = profile_->maskText(dumpJson(value), out, hashKey_, &summary_, join(where, path));
        if (n > 0) value = std::move(out);
        masked += n;
    } else if (value.is_string()) {
        const auto& text = value.get_ref<const std::string&>();
        if (looksLikeJsonDocument(text)) {
            // Too deep for the walk's own depth is masked as text below.
            auto inner = parseForMasking(text, kMaxMaskedJsonDepth - static_cast<int>(path.size()));
            if (inner) {
                const auto before = summary_.total();
                const auto innerRoot = path.size();
                walk(inner->value, path, innerRoot, where);
                if (summary_.total() != before || inner->lossy) {
                    value = dumpJson(inner->value, text.find('\n') != std::string::npos ? 2 : -1);
                    ++rewrites_;
                }
                return static_cast<std::size_t>(summary_.total() - before);
            }
        }
        std::string out;
        const auto n = profile_->maskText(text, out, hashKey_, &summary_, join(where, path));
        if (n > 0) value = std::move(out);
        masked += n;
    }
    return masked;
}

std::size_t BodyMasker::maskKeys(OrderedJson& object, const std::vector<PathToken>& path, const std::string& where) {
    if (object.empty()) return 0;
    // One scan of all the names (a line each) finds whether any needs masking at all.
    std::string names;
    for (auto it = object.begin(); it != object.end(); ++it) {
        names += it.key();
        names += '\n';
    }
    std::string probe;
    if (profile_->maskText(names, probe, hashKey_, nullptr, {}) == 0) return 0;
    std::size_t masked = 0;
    const std::string place = join(where, path);
    OrderedJson renamed = OrderedJson::object();
    for (auto it = object.begin(); it != object.end(); ++it) {
        std::string name;
        const auto n = profile_->maskText(it.key(), name, hashKey_, &summary_, place);
        if (n == 0) name = it.key();
        masked += n;
        // Two names masked alike must stay two members.
        std::string unique = name;
        for (int k = 2; renamed.contains(unique); ++k) unique = name + " #" + std::to_string(k);
        renamed[unique] = std::move(it.value());
    }
    object = std::move(renamed);
    return masked;
}

std::size_t BodyMasker::maskBody(std::string_view contentType, std::string_view body, std::string& out) {
    const auto type = mediaType(contentType);
    const bool textual = isTextualType(type);
    if (!textual && !isGenericType(type)) {
        out.append(body);
        return 0;
    }
    // UTF-8 without zero bytes is what every reader sees, whatever the charset says: JSON
    // readers (json.loads, fetch, Go) ignore the label, and UTF-16 or UTF-32 text of any
    // ASCII character (digits, '@') has zero bytes.
    if (readsAsText(body)) return maskUtf8(contentType, body, out);
    if (const auto wide = wideEncoding(contentType, type, body)) {
        // UTF-16 or UTF-32 (readers such as Python's requests decode JSON so): masked as its
        // reading, sent back in its own encoding, byte order and mark.
        const auto text = wideToUtf8(body, *wide);
        // Only when it decodes cleanly (encoding it again gives its bytes), or the type says
        // it is text (a lone surrogate is then read as U+FFFD, as lenient readers do).
        std::string again;
        if (!textual) appendWide(again, text, *wide);
        if (textual || (again == body.substr(wide->bomBytes) && text.find('\0') == std::string::npos)) {
            std::string masked;
            const auto n = maskUtf8(contentType, text, masked);
            if (masked == text) {
                out.append(body);  // nothing masked: the bytes as they came
            } else {
                out.append(body.substr(0, wide->bomBytes));
                appendWide(out, masked, *wide);
            }
            return n;
        }
    }
    // Declared text, or no type at all, that is UTF-8 with zero bytes or not UTF-8: masked as
    // text still (what a reader can make out of it). An octet-stream that reads as neither is
    // binary.
    if (textual || (type.empty() && isValidUtf8(body))) return maskUtf8(contentType, body, out);
    out.append(body);
    return 0;
}

std::size_t BodyMasker::maskUtf8(std::string_view contentType, std::string_view body, std::string& out) {
    const auto before = summary_.total();
    if (isJsonContentType(contentType) || looksLikeJsonDocument(body)) {
        if (auto document = parseForMasking(body)) {
            const auto rewritesBefore = rewrites_;
            maskJson(document->value);
            if (summary_.total() == before && rewrites_ == rewritesBefore && !document->lossy) {
                out.append(body);  // nothing masked: the bytes as they came
            } else {
                out += dumpJson(document->value);
            }
            return static_cast<std::size_t>(summary_.total() - before);
        }
    }
    return maskText(body, out, "body");
}

std::size_t BodyMasker::maskText(std::string_view text, std::string& out, std::string_view where) {
    return profile_->maskText(text, out, hashKey_, &summary_, where);
}

}  // namespace vigil::mask

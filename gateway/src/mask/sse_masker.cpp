#include "mask/sse_masker.h"

#include <vector>

namespace vigil::mask {
namespace {

std::size_t indexOr(const OrderedJson& object, const char* key, std::size_t fallback) {
    const auto it = object.find(key);
    if (it != object.end() && it->is_number_unsigned()) return it->get<std::size_t>();
    if (it != object.end() && it->is_number_integer() && it->get<std::int64_t>() >= 0) {
        return static_cast<std::size_t>(it->get<std::int64_t>());
    }
    return fallback;
}

// The envelope of a chat or completions chunk: everything but its choices and usage.
OrderedJson envelopeOf(const OrderedJson& chunk) {
    OrderedJson envelope = OrderedJson::object();
    for (auto it = chunk.begin(); it != chunk.end(); ++it) {
        if (it.key() != "choices" && it.key() != "usage") envelope[it.key()] = it.value();
    }
    return envelope;
}

}  // namespace

bool looksLikeEventStream(std::string_view body) {
    if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
    for (const std::string_view field : {"data:", "event:", "id:", "retry:", ":"}) {
        if (body.starts_with(field)) return true;
    }
    return false;
}

SseMasker::Channel& SseMasker::channel(const std::string& key, const std::string& where) {
    auto [it, fresh] = channels_.try_emplace(key);
    if (fresh) {
        auto& ch = it->second;
        ch.masker = std::make_unique<StreamMasker>(masker_.profile(), masker_.hashKey(), masker_.summary(), where);
        ch.where = where;
        if (!masker_.profile().fieldPaths().empty()) ch.mode = Channel::Mode::Undecided;
    }
    return it->second;
}

std::string SseMasker::feed(const std::string& key, const std::string& where, std::string_view text, bool finish) {
    auto& ch = channel(key, where);
    std::string out;
    if (ch.mode != Channel::Mode::Text) {
        ch.document.append(text);
        text = {};
        if (ch.mode == Channel::Mode::Undecided) {
            const auto first = ch.document.find_first_not_of(" \t\r\n");
            if (first != std::string::npos) {
                const char c = ch.document[first];
                ch.mode = c == '{' || c == '[' ? Channel::Mode::Document : Channel::Mode::Text;
            }
        }
        if (ch.mode == Channel::Mode::Document && ch.document.size() > kMaxHeldDocument) {
            // Too large to hold: streamed as text from here, the detectors still applying.
            masker_.summary().add("FIELD_RULES_NOT_APPLIED", ch.where);
            ch.mode = Channel::Mode::Text;
        }
        if (ch.mode == Channel::Mode::Text) {
            ch.masker->feed(ch.document, out);
            ch.document.clear();
        }
    }
    if (ch.mode == Channel::Mode::Text) ch.masker->feed(text, out);
    if (finish) finishChannel(ch, out);
    return out;
}

void SseMasker::finishChannel(Channel& ch, std::string& out) {
    if (ch.mode == Channel::Mode::Text) {
        ch.masker->finish(out);
        return;
    }
    if (ch.mode == Channel::Mode::Document) {
        maskDocument(ch, out);
    } else {
        out += ch.document;  // blanks only
    }
    ch.document.clear();
    ch.mode = Channel::Mode::Undecided;  // a later text in the same place is decided anew
}

void SseMasker::maskDocument(Channel& ch, std::string& out) {
    // As a buffered answer's structured output: field rules rooted at this document.
    auto parsed = parseForMasking(ch.document);
    if (!parsed || !(parsed->value.is_object() || parsed->value.is_array())) {
        masker_.maskText(ch.document, out, ch.where);  // cut short or not JSON after all
        return;
    }
    const auto before = masker_.summary().total();
    const auto rewrites = masker_.rewrites();
    masker_.maskJson(parsed->value, ch.where);
    if (masker_.summary().total() == before && masker_.rewrites() == rewrites && !parsed->lossy) {
        out += ch.document;
    } else {
        out += dumpJson(parsed->value, ch.document.find('\n') != std::string::npos ? 2 : -1);
    }
}

void SseMasker::writeEvent(std::string_view otherLines, const OrderedJson& data, std::string& out) {
    out.append(otherLines);
    out += "data: ";
    out += dumpJson(data);
    out += "\n\n";
}

void SseMasker::event(std::string_view event, std::string& out) {
    // A byte order mark before the first field is skipped by every SSE reader (HTML 9.2.5):
    // left there, it would hide the first "data:" line from the masker but not from them.
    if (!started_ && event.starts_with("\xEF\xBB\xBF")) event.remove_prefix(3);
    started_ = true;
    std::string other;
    std::string data;
    bool hasData = false;
    for (std::size_t at = 0; at < event.size();) {
        auto stop = event.find_first_of("\r\n", at);
        if (stop == std::string_view::npos) stop = event.size();
        const auto line = event.substr(at, stop - at);
        at = stop + (stop < event.size() && event[stop] == '\r' && stop + 1 < event.size() && event[stop + 1] == '\n' ? 2 : 1);
        if (line.empty()) break;
        if (line.starts_with("data:")) {
            auto value = line.substr(5);
            if (value.starts_with(' ')) value.remove_prefix(1);
            if (hasData) data += '\n';
            data.append(value);
            hasData = true;
        } else {
            other.append(line);
            other += '\n';
        }
    }
    if (!hasData) {
        // Comments, event names, ids, or lines no reader takes as data: a reader that shows
        // the raw stream still sees them, so they are masked as text.
        masker_.maskText(event, out, "stream");
        return;
    }
    if (data == "[DONE]") {
        flushAll(out);
        out.append(event);
        return;
    }
    // Read as lenient readers do (a lone surrogate or a stray byte does not stop them);
    // only what is not JSON to them either is masked as text.
    auto parsed = parseForMasking(data);
    if (!parsed || !parsed->value.is_object()) {
        std::string masked;
        if (masker_.maskText(data, masked, "stream") == 0) {
            out.append(event);
            return;
        }
        out += other;
        for (std::size_t at = 0; at <= masked.size();) {
            auto stop = masked.find('\n', at);
            if (stop == std::string::npos) stop = masked.size();
            out += "data: ";
            out.append(masked, at, stop - at);
            out += '\n';
            at = stop + 1;
        }
        out += '\n';
        return;
    }
    auto& json = parsed->value;
    std::string before;
    if (const auto choices = json.find("choices"); choices != json.end() && choices->is_array()) {
        lastChunk_ = envelopeOf(json);
        for (std::size_t i = 0; i < choices->size(); ++i) {
            if ((*choices)[i].is_object()) maskChoice((*choices)[i], i);
        }
    } else if (const auto type = json.find("type"); type != json.end() && type->is_string() &&
                                                    type->get_ref<const std::string&>().starts_with("response.")) {
        maskResponsesEvent(json, before);
    } else {
        masker_.maskJson(json, "stream");
    }
    out += before;
    writeEvent(other, json, out);
}

void SseMasker::events(std::string_view framed, std::string& out) {
    std::size_t start = 0;
    for (std::size_t at = 0; at < framed.size();) {
        const auto stop = framed.find_first_of("\r\n", at);
        if (stop == std::string_view::npos) break;
        const auto next = stop + (framed[stop] == '\r' && stop + 1 < framed.size() && framed[stop + 1] == '\n' ? 2 : 1);
        if (stop == at) {  // a blank line ends the event
            event(framed.substr(start, next - start), out);
            start = next;
        }
        at = next;
    }
    if (start < framed.size()) event(framed.substr(start), out);
}

void SseMasker::maskChoice(OrderedJson& choice, std::size_t position) {
    const auto index = indexOr(choice, "index", position);
    const std::string prefix = "choices[" + std::to_string(index) + "]";
    const std::string keyPrefix = "c" + std::to_string(index) + ".";
    const auto finishReason = choice.find("finish_reason");
    const bool finishing = finishReason != choice.end() && !finishReason->is_null();
    if (const auto logprobs = choice.find("logprobs"); logprobs != choice.end() && !logprobs->is_null()) {
        *logprobs = nullptr;
    }
    std::vector<std::string> touched;
    auto tailFor = [&](OrderedJson choiceTemplate) {
        OrderedJson tail = lastChunk_;
        choiceTemplate["index"] = index;
        choiceTemplate["finish_reason"] = nullptr;
        tail["choices"] = OrderedJson::array({std::move(choiceTemplate)});
        return tail;
    };
    auto stream = [&](const std::string& key, const std::string& where, OrderedJson& value, std::string field,
                      OrderedJson choiceTemplate) {
        auto& ch = channel(keyPrefix + key, where);
        if (ch.field.empty()) {
            ch.field = std::move(field);
            ch.tail = tailFor(std::move(choiceTemplate));
        }
        value = feed(keyPrefix + key, where, value.get_ref<const std::string&>(), finishing);
        touched.push_back(keyPrefix + key);
    };
    if (const auto delta = choice.find("delta"); delta != choice.end() && delta->is_object()) {
        for (auto it = delta->begin(); it != delta->end(); ++it) {
            const auto& name = it.key();
            if (name == "role") continue;
            if (it->is_string()) {
                stream(name, prefix + ".delta." + name, *it, "/choices/0/delta/" + name,
                       OrderedJson{{"delta", OrderedJson{{name, ""}}}});
            } else if (name == "tool_calls" && it->is_array()) {
                for (std::size_t t = 0; t < it->size(); ++t) {
                    auto& call = (*it)[t];
                    if (!call.is_object()) continue;
                    const auto k = indexOr(call, "index", t);
                    const auto function = call.find("function");
                    if (function == call.end() || !function->is_object()) continue;
                    const auto arguments = function->find("arguments");
                    if (arguments == function->end() || !arguments->is_string()) continue;
                    const auto where = prefix + ".delta.tool_calls[" + std::to_string(k) + "].function.arguments";
                    stream("tool" + std::to_string(k), where, *arguments, "/choices/0/delta/tool_calls/0/function/arguments",
                           OrderedJson{{"delta", OrderedJson{{"tool_calls", OrderedJson::array({OrderedJson{
                                                                             {"index", k},
                                                                             {"function", OrderedJson{{"arguments", ""}}}}})}}}});
                }
            } else if (it->is_object() && (name == "function_call" || name == "audio")) {
                // Text spelled out over events: the legacy function call's arguments and a
                // spoken reply's transcript. Other members (audio data, ids) as JSON.
                const char* member = name == "function_call" ? "arguments" : "transcript";
                for (auto field = it->begin(); field != it->end(); ++field) {
                    if (field.key() == member && field->is_string()) {
                        stream(name + "." + member, prefix + ".delta." + name + "." + member, *field,
                               "/choices/0/delta/" + name + "/" + member,
                               OrderedJson{{"delta", OrderedJson{{name, OrderedJson{{member, ""}}}}}});
                    } else {
                        masker_.maskJson(*field, prefix + ".delta." + name + "." + field.key());
                    }
                }
            } else if (it->is_object() || it->is_array()) {
                masker_.maskJson(*it, prefix + ".delta." + name);
            }
        }
    }
    if (const auto text = choice.find("text"); text != choice.end() && text->is_string()) {
        stream("text", prefix + ".text", *text, "/choices/0/text", OrderedJson{{"text", ""}});
    }
    if (const auto message = choice.find("message"); message != choice.end() && message->is_object()) {
        masker_.maskJson(*message, prefix + ".message");
    }
    if (!finishing) return;
    // The choice ends: everything its other fields still hold goes out in this event.
    for (auto& [key, ch] : channels_) {
        if (!key.starts_with(keyPrefix) || ch.held() == 0) continue;
        if (std::find(touched.begin(), touched.end(), key) != touched.end()) continue;
        std::string rest;
        finishChannel(ch, rest);
        auto& delta = choice["delta"];
        if (ch.field.starts_with("/choices/0/delta/tool_calls")) {
            const auto k = ch.tail["choices"][0]["delta"]["tool_calls"][0]["index"];
            if (!delta.contains("tool_calls") || !delta["tool_calls"].is_array()) delta["tool_calls"] = OrderedJson::array();
            delta["tool_calls"].push_back(OrderedJson{{"index", k}, {"function", OrderedJson{{"arguments", rest}}}});
        } else {
            // "/choices/0/delta/content" -> "/delta/content" in this choice.
            choice[OrderedJson::json_pointer(ch.field.substr(std::string_view("/choices/0").size()))] = rest;
        }
    }
}

void SseMasker::maskResponsesEvent(OrderedJson& event, std::string& before) {
    const std::string type = event["type"].get<std::string>();  // a copy: masking may rebuild the event
    const auto outputIndex = indexOr(event, "output_index", 0);
    std::string part = "." + std::to_string(indexOr(event, "content_index", indexOr(event, "summary_index", 0)));
    const auto keyFor = [&](std::string_view family) {
        return std::string(family) + "@" + std::to_string(outputIndex) + part;
    };
    if (type.ends_with(".delta")) {
        const auto delta = event.find("delta");
        if (delta != event.end() && delta->is_string()) {
            const auto family = std::string_view(type).substr(0, type.size() - 6);
            const auto key = keyFor(family);
            const auto where = std::string(type) + "[" + std::to_string(outputIndex) + part + "]";
            std::string text = std::move(delta->get_ref<std::string&>());
            // The rest of the event is masked on its own; its logprobs (asked for with
            // include: message.output_text.logprobs) spell the raw text out token by token.
            *delta = "";
            masker_.maskJson(event, type);
            auto& ch = channel(key, where);
            ch.field = "/delta";
            ch.tail = event;
            event["delta"] = feed(key, where, text, false);
            return;
        }
    }
    if (type.ends_with(".done")) {
        const auto family = std::string_view(type).substr(0, type.size() - 5);
        const auto it = channels_.find(keyFor(family));
        if (it != channels_.end() && it->second.held() > 0) {
            std::string rest;
            finishChannel(it->second, rest);
            auto tail = it->second.tail;
            tail["delta"] = rest;
            if (tail.contains("sequence_number")) tail.erase("sequence_number");
            writeEvent("event: " + tail.value("type", std::string()) + "\n", tail, before);
        }
    }
    // Whole texts (the .done events, response.completed): masked as they are.
    masker_.maskJson(event, type);
}

void SseMasker::flushAll(std::string& out) {
    for (auto& [key, ch] : channels_) {
        (void)key;
        if (ch.held() == 0) continue;
        std::string rest;
        finishChannel(ch, rest);
        auto tail = ch.tail;
        tail[OrderedJson::json_pointer(ch.field)] = rest;
        if (tail.contains("sequence_number")) tail.erase("sequence_number");
        const auto type = tail.value("type", std::string());
        writeEvent(type.empty() ? std::string() : "event: " + type + "\n", tail, out);
    }
}

void SseMasker::finish(std::string& out) { flushAll(out); }

}  // namespace vigil::mask

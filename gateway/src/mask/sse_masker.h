#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "mask/body_masker.h"
#include "mask/stream_masker.h"

namespace vigil::mask {

// Masks an OpenAI server-sent-event stream event by event, keeping its framing valid for
// the official SDKs. The text a stream spells out over many events (chat deltas'
// content, refusal and tool-call arguments; completions' text; Responses API output and
// argument deltas) runs through one StreamMasker per choice and field, so a value split
// over events is still masked; what a StreamMasker holds back is released with the next
// event, with the event that finishes the choice, or in one last event before [DONE].
// Any other event is masked as a JSON document on its own. Log probabilities spell out
// the raw text token by token, so they are dropped.
// A profile with field rules (json_paths): a streamed text that opens with '{' or '['
// (structured output, tool-call arguments) is held whole and masked as a JSON document when
// its choice or item finishes, so that the rules apply to it as in a buffered answer. The
// deltas meanwhile carry empty text. Past kMaxHeldDocument it is streamed as text (the
// detectors still apply; the summary says FIELD_RULES_NOT_APPLIED).
// A buffered body that reads as an event stream ("data:", "event:", "id:", "retry:" or a
// comment first, after an optional byte order mark): the SDKs stream such a reply whatever
// its content type says, so it is masked as a stream (values split over events).
bool looksLikeEventStream(std::string_view body);

class SseMasker {
public:
    explicit SseMasker(BodyMasker& masker) : masker_(masker) {}

    // `event` is one whole event as the framer cut it (ending with its blank line).
    void event(std::string_view event, std::string& out);
    // One or more whole events, as the framer released them.
    void events(std::string_view framed, std::string& out);
    // The upstream ended: appends what is still held back, as a last event.
    void finish(std::string& out);

    static constexpr std::size_t kMaxHeldDocument = 1024 * 1024;

private:
    struct Channel {
        // Text: through the stream masker. Undecided (field rules): only blanks so far.
        // Document: held whole in `document`, masked as JSON at the end.
        enum class Mode { Text, Undecided, Document };
        std::unique_ptr<StreamMasker> masker;
        OrderedJson tail;  // a template event for text released at the end
        std::string field;
        std::string where;
        Mode mode = Mode::Text;
        std::string document;
        std::size_t held() const { return mode == Mode::Text ? masker->held() : document.size(); }
    };
    Channel& channel(const std::string& key, const std::string& where);
    std::string feed(const std::string& key, const std::string& where, std::string_view text, bool finish);
    // Appends what the channel still holds, masked; it holds nothing after.
    void finishChannel(Channel& ch, std::string& out);
    void maskDocument(Channel& ch, std::string& out);
    void maskChoice(OrderedJson& choice, std::size_t position);
    void maskResponsesEvent(OrderedJson& event, std::string& before);
    void flushAll(std::string& out);
    static void writeEvent(std::string_view otherLines, const OrderedJson& data, std::string& out);

    BodyMasker& masker_;
    std::map<std::string, Channel> channels_;
    OrderedJson lastChunk_;  // the last chat/completions chunk, for the envelope of a final event
    bool started_ = false;   // a byte order mark may open the stream only
};

}  // namespace vigil::mask

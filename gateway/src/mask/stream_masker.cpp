#include "mask/stream_masker.h"

#include <algorithm>
#include <vector>

namespace vigil::mask {

StreamMasker::StreamMasker(const Profile& profile, std::string_view hashKey, Summary& summary, std::string where)
    : profile_(profile), hashKey_(hashKey), summary_(summary), where_(std::move(where)) {}

void StreamMasker::feed(std::string_view text, std::string& out) {
    window_.append(text);
    release(false, out);
}

void StreamMasker::finish(std::string& out) { release(true, out); }

void StreamMasker::release(bool final, std::string& out) {
    const std::string_view window(window_);
    thread_local std::vector<Span> spans;
    profile_.find(window, spans);
    // Values that began in the context were decided when it was released; only a value
    // that could not be decided then (longer than its hold) reaches past it: mask its rest.
    for (auto& span : spans) {
        if (span.begin < contextSize_) span.begin = std::min(contextSize_, span.end);
    }
    std::erase_if(spans, [](const Span& s) { return s.begin >= s.end; });

    std::size_t cut = window.size();
    if (!final) {
        cut = std::max(contextSize_, window.size() - std::min(window.size(), profile_.holdBack(window)));
        // A value that reaches the cut or the end may still grow: hold it whole.
        for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
            if (it->end > cut && it->begin < cut) cut = it->begin;
            else if (it->end == window.size()) cut = std::min(cut, it->begin);
        }
        // Never split a UTF-8 sequence: JSON strings must stay valid.
        while (cut > contextSize_ && cut < window.size() && (static_cast<unsigned char>(window[cut]) & 0xC0) == 0x80) --cut;
    }
    profile_.applySpans(window, contextSize_, cut, spans, out, hashKey_, &summary_, where_);

    // Keep the held text and up to kContext released bytes before it; inside a CSV table
    // with masked columns, its header line and last row instead (the rows that follow are
    // only read as the table's with its header in view).
    pending_.assign(window.substr(cut));
    std::string table = final ? std::string() : profile_.openTableContext(window.substr(0, cut));
    if (!table.empty()) {
        table += pending_;
        contextSize_ = table.size() - pending_.size();
        window_ = std::move(table);
    } else {
        const std::size_t keepFrom = cut > kContext ? cut - kContext : 0;
        window_.erase(0, keepFrom);
        contextSize_ = cut - keepFrom;
    }
    if (final) {
        window_.clear();
        contextSize_ = 0;
    }
}

}  // namespace vigil::mask

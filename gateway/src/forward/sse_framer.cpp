#include "forward/sse_framer.h"

namespace vigil::forward {

void SseFramer::feed(std::string_view data, std::string& out) {
    if (overflowed_) return;
    pending_.append(data);
    std::size_t eventEnd = 0;  // bytes of pending_ that form complete events
    for (std::size_t i = scanned_; i < pending_.size(); ++i) {
        const char c = pending_[i];
        if (c == '\n' && afterCr_) {
            // Second half of a CRLF whose CR already ended the line.
            afterCr_ = false;
            lineStart_ = i + 1;
            if (eventEnd == i) eventEnd = i + 1;
            continue;
        }
        afterCr_ = false;
        if (c != '\n' && c != '\r') continue;
        const bool emptyLine = (i == lineStart_);
        afterCr_ = (c == '\r');
        lineStart_ = i + 1;
        if (emptyLine) {
            // (pending_ starts where an event starts, so the event is pending_[eventEnd, i].)
            if (i + 1 - eventEnd > maxEvent_) {
                overflowed_ = true;
                break;
            }
            eventEnd = i + 1;
        }
    }
    if (!overflowed_ && pending_.size() - eventEnd > maxEvent_) overflowed_ = true;
    if (overflowed_) {
        out.append(pending_, 0, eventEnd);
        discardPartial();
        return;
    }
    scanned_ = pending_.size();
    if (eventEnd == 0) return;
    out.append(pending_, 0, eventEnd);
    pending_.erase(0, eventEnd);
    scanned_ -= eventEnd;
    lineStart_ -= eventEnd;
}

void SseFramer::flush(std::string& out) {
    out += pending_;
    pending_.clear();
    lineStart_ = 0;
    scanned_ = 0;
}

}  // namespace vigil::forward

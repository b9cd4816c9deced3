#pragma once

#include <string>
#include <string_view>

namespace vigil::forward {

// Splits a text/event-stream into whole events as bytes arrive, so the gateway relays the
// stream event by event and can end it cleanly (a partial event is never followed by the
// gateway's own error event). Bytes pass through unchanged; only where they are cut
// changes. Lines end with CRLF, LF or CR; an empty line ends an event (WHATWG HTML,
// "Server-sent events", 9.2.5).
class SseFramer {
public:
    // The largest event the framer holds whole (limits.max_response_bytes): past it, the
    // stream is refused (overflowed()) rather than buffered without end.
    void setMaxEventBytes(std::size_t bytes) { maxEvent_ = bytes; }
    // Appends to `out` every event completed by `data`; keeps the unfinished rest. Once an
    // event (whole or still unfinished) exceeds the limit, only the events before it are
    // appended, the rest is dropped, and overflowed() stays true: nothing more is taken.
    void feed(std::string_view data, std::string& out);
    bool overflowed() const { return overflowed_; }
    // End of stream: appends what is left (an event the upstream never terminated).
    void flush(std::string& out);
    // Drops an unfinished event (the stream failed in its middle).
    void discardPartial() {
        pending_.clear();
        lineStart_ = 0;
        scanned_ = 0;
    }
    bool hasPartial() const { return !pending_.empty(); }

private:
    std::string pending_;
    std::size_t lineStart_ = 0;  // start of the line being read, in pending_
    std::size_t scanned_ = 0;    // bytes of pending_ already examined
    bool afterCr_ = false;       // the previous byte was a CR: a following LF belongs to it
    std::size_t maxEvent_ = static_cast<std::size_t>(-1);
    bool overflowed_ = false;
};

}  // namespace vigil::forward

#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "record/chain.h"

namespace vigil::record {

// Streams every recorded event, once committed, to a SIEM as one JSON line shaped after
// OCSF (docs/evidence.md): to a file (appended), to stdout, or to syslog (RFC 5424) over
// UDP or TCP (RFC 6587 octet counting). A thread of its own writes, so a slow or absent
// SIEM never slows the recording: events wait in a bounded queue, and past the bound they
// are dropped and counted (the log says so); a TCP syslog reconnects by itself.
class SiemStream {
public:
    struct Options {
        enum class Sink { File, Stdout, Syslog };
        Sink sink = Sink::File;
        std::filesystem::path file;
        std::string host;
        std::uint16_t port = 514;
        bool tcp = false;
        std::size_t maxQueue = 100'000;
        std::string productVersion;
    };

    explicit SiemStream(Options options);
    ~SiemStream();  // writes what is queued (a few seconds at most), then stops
    SiemStream(const SiemStream&) = delete;
    SiemStream& operator=(const SiemStream&) = delete;

    // Thread-safe, never blocks.
    void publish(const Event& event);
    std::uint64_t dropped() const;

    // The OCSF-shaped JSON of one event (one line, no newline).
    static std::string toOcsf(const Event& event, const std::string& productVersion);

private:
    void run();
    bool deliver(const std::string& line);
    bool connectSocket();

    Options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::string> queue_;
    std::uint64_t dropped_ = 0;
    bool stopping_ = false;
    int fd_ = -1;
    std::FILE* file_ = nullptr;
    std::string hostname_;
    std::thread thread_;
};

}  // namespace vigil::record

#include "observe/log.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <ctime>

#include "vigil/json_text.h"

namespace vigil::observe {
namespace {

std::atomic<int> gLevel{static_cast<int>(LogLevel::Info)};

constexpr std::string_view levelName(LogLevel level) {
    switch (level) {
        case LogLevel::Debug: return "debug";
        case LogLevel::Info: return "info";
        case LogLevel::Warn: return "warn";
        case LogLevel::Error: return "error";
    }
    return "info";
}

void appendTimestamp(std::string& out) {
    const auto now = std::chrono::system_clock::now();
    const auto seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[32];
    const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    out.append(buf, n);
    char ms[8];
    const int len = std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(millis));
    out.append(ms, static_cast<std::size_t>(len));
}

}  // namespace

void setLogLevel(LogLevel level) { gLevel.store(static_cast<int>(level)); }

bool logEnabled(LogLevel level) {
    return static_cast<int>(level) >= gLevel.load(std::memory_order_relaxed);
}

LogLine::LogLine(LogLevel level, std::string_view message) : enabled_(logEnabled(level)) {
    if (!enabled_) return;
    line_.reserve(256);
    line_ += R"({"ts":")";
    appendTimestamp(line_);
    line_ += R"(","level":")";
    line_ += levelName(level);
    line_ += R"(","msg":)";
    appendJsonString(line_, message);
}

LogLine::~LogLine() {
    if (!enabled_) return;
    line_ += "}\n";
    const char* p = line_.data();
    std::size_t left = line_.size();
    while (left > 0) {
        const ssize_t n = ::write(STDOUT_FILENO, p, left);
        if (n <= 0) break;  // nowhere to report a failing log sink
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

void LogLine::key(std::string_view k) {
    line_ += ',';
    appendJsonString(line_, k);
    line_ += ':';
}

LogLine& LogLine::str(std::string_view k, std::string_view value) {
    if (!enabled_) return *this;
    key(k);
    appendJsonString(line_, value);
    return *this;
}

LogLine& LogLine::num(std::string_view k, std::int64_t value) {
    if (!enabled_) return *this;
    key(k);
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    line_.append(buf, r.ptr);
    return *this;
}

LogLine& LogLine::real(std::string_view k, double value) {
    if (!enabled_) return *this;
    key(k);
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, 3);
    line_.append(buf, r.ptr);
    return *this;
}

LogLine& LogLine::flag(std::string_view k, bool value) {
    if (!enabled_) return *this;
    key(k);
    line_ += value ? "true" : "false";
    return *this;
}

}  // namespace vigil::observe

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::observe {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void setLogLevel(LogLevel level);
bool logEnabled(LogLevel level);

// One structured log line: a JSON object written with a single write(2) when the builder
// goes out of scope, so concurrent lines never interleave. Callers never pass credentials,
// headers or bodies; the fields are chosen one by one.
//
//   LogLine(LogLevel::Info, "request").str("request_id", id).num("status", 200);
class LogLine {
public:
    LogLine(LogLevel level, std::string_view message);
    ~LogLine();
    LogLine(const LogLine&) = delete;
    LogLine& operator=(const LogLine&) = delete;

    LogLine& str(std::string_view key, std::string_view value);
    LogLine& num(std::string_view key, std::int64_t value);
    LogLine& real(std::string_view key, double value);
    LogLine& flag(std::string_view key, bool value);

private:
    void key(std::string_view k);

    bool enabled_;
    std::string line_;
};

}  // namespace vigil::observe

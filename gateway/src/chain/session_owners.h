#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace vigil::chain {

// Who started each session a client names with X-Vigil-Session: a conversation belongs to
// the caller that began it, and another caller may not add requests to it. The owners of
// recent sessions are kept in memory (bounded, oldest first out); older ones are looked up
// in the store's sessions index, which holds every session's first subject. Thread-safe.
class SessionOwners {
public:
    // The subject that started `sessionId`, from the store; nullopt when it has none.
    using Lookup = std::function<std::optional<std::string>(const std::string& sessionId)>;

    explicit SessionOwners(Lookup lookup, std::size_t capacity = 65'536);

    // True when `subject` may record into `sessionId`: the session is new (it is now
    // theirs) or already theirs. False when another subject started it.
    bool claim(const std::string& sessionId, const std::string& subject);

private:
    void remember(const std::string& sessionId, const std::string& subject);

    Lookup lookup_;
    std::size_t capacity_;
    std::mutex mutex_;
    std::unordered_map<std::string, std::string> owners_;
    std::deque<std::string> order_;  // oldest first
};

}  // namespace vigil::chain

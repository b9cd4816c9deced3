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
// in the store's sessions index, which holds each session's first caller (its caller key,
// auth::callerKey; only its subject for sessions recorded before). Thread-safe.
class SessionOwners {
public:
    // Who started `sessionId`, from the store: the subject of its first request and its
    // caller key (empty for sessions recorded before the key was kept); nullopt when the
    // store has no such session. Throws when the store cannot be read.
    struct Stored {
        std::string subject;
        std::string owner;
    };
    using Lookup = std::function<std::optional<Stored>(const std::string& sessionId)>;

    explicit SessionOwners(Lookup lookup, std::size_t capacity = 65'536);

    enum class Claim {
        Granted,      // the session is new (now the caller's) or already the caller's
        Conflict,     // another caller began it
        Unavailable,  // the store could not be read: nothing is granted
    };
    // `owner`: who is asking (the caller's subject, qualified by its issuer when it has one).
    // `storedSubject`: how the store's sessions index names that caller (its subject).
    Claim claim(const std::string& sessionId, const std::string& owner, const std::string& storedSubject);

private:
    struct Owner {
        std::string key;         // the owner key, or (bySubject) the subject the store has
        bool bySubject = false;  // an old session: the store knows its subject only
    };
    std::optional<Claim> known(const std::string& sessionId, const std::string& owner, const std::string& storedSubject);
    void remember(const std::string& sessionId, Owner owner);

    Lookup lookup_;
    std::size_t capacity_;
    std::mutex mutex_;
    std::unordered_map<std::string, Owner> owners_;
    std::deque<std::string> order_;  // oldest first
};

}  // namespace vigil::chain

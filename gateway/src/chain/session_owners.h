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
    // Throws when the store cannot be read.
    using Lookup = std::function<std::optional<std::string>(const std::string& sessionId)>;

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
        std::string key;         // the owner key, or (fromStore) the subject the store has
        bool fromStore = false;
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

#include "chain/session_owners.h"

namespace vigil::chain {

SessionOwners::SessionOwners(Lookup lookup, std::size_t capacity) : lookup_(std::move(lookup)), capacity_(capacity) {}

bool SessionOwners::claim(const std::string& sessionId, const std::string& subject) {
    {
        std::lock_guard lock(mutex_);
        if (const auto it = owners_.find(sessionId); it != owners_.end()) return it->second == subject;
    }
    // Not recent: the store knows it if it is older than the memory. (Looked up outside the
    // lock; two first claims racing on one new id both pass the lookup, and the first to
    // be remembered wins below.)
    const auto stored = lookup_ ? lookup_(sessionId) : std::nullopt;
    std::lock_guard lock(mutex_);
    if (const auto it = owners_.find(sessionId); it != owners_.end()) return it->second == subject;
    const auto& owner = stored ? *stored : subject;
    remember(sessionId, owner);
    return owner == subject;
}

void SessionOwners::remember(const std::string& sessionId, const std::string& subject) {
    owners_.emplace(sessionId, subject);
    order_.push_back(sessionId);
    while (order_.size() > capacity_) {
        owners_.erase(order_.front());
        order_.pop_front();
    }
}

}  // namespace vigil::chain

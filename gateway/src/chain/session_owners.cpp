#include "chain/session_owners.h"

namespace vigil::chain {

SessionOwners::SessionOwners(Lookup lookup, std::size_t capacity) : lookup_(std::move(lookup)), capacity_(capacity) {}

// Sessions the store recorded before it kept caller keys are known by subject only.
std::optional<SessionOwners::Claim> SessionOwners::known(const std::string& sessionId, const std::string& owner,
                                                         const std::string& storedSubject) {
    const auto it = owners_.find(sessionId);
    if (it == owners_.end()) return std::nullopt;
    const auto& o = it->second;
    if (o.bySubject) return o.key == storedSubject ? Claim::Granted : Claim::Conflict;
    return o.key == owner ? Claim::Granted : Claim::Conflict;
}

SessionOwners::Claim SessionOwners::claim(const std::string& sessionId, const std::string& owner, const std::string& storedSubject) {
    {
        std::lock_guard lock(mutex_);
        if (const auto k = known(sessionId, owner, storedSubject)) return *k;
    }
    // Not recent: the store knows it if it is older than the memory. (Looked up outside the
    // lock; two first claims racing on one new id both pass the lookup, and the first to
    // be remembered wins below.)
    std::optional<Stored> stored;
    try {
        if (lookup_) stored = lookup_(sessionId);
    } catch (const std::exception&) {
        return Claim::Unavailable;
    }
    std::lock_guard lock(mutex_);
    if (const auto k = known(sessionId, owner, storedSubject)) return *k;
    if (stored) {
        Owner o = stored->owner.empty() ? Owner{stored->subject, true} : Owner{stored->owner, false};
        remember(sessionId, o);
        return known(sessionId, owner, storedSubject).value_or(Claim::Conflict);
    }
    remember(sessionId, {owner, false});
    return Claim::Granted;
}

void SessionOwners::remember(const std::string& sessionId, Owner owner) {
    owners_.emplace(sessionId, std::move(owner));
    order_.push_back(sessionId);
    while (order_.size() > capacity_) {
        owners_.erase(order_.front());
        order_.pop_front();
    }
}

}  // namespace vigil::chain

#include "chain/session_owners.h"

namespace vigil::chain {

SessionOwners::SessionOwners(Lookup lookup, std::size_t capacity) : lookup_(std::move(lookup)), capacity_(capacity) {}

// An owner read from the store is known by subject only (the sessions index keeps no
// issuer), and stays so: upgrading it to the first claimant's full key could lock the real
// owner out when another issuer has a user with the same subject.
std::optional<SessionOwners::Claim> SessionOwners::known(const std::string& sessionId, const std::string& owner,
                                                         const std::string& storedSubject) {
    const auto it = owners_.find(sessionId);
    if (it == owners_.end()) return std::nullopt;
    const auto& o = it->second;
    if (o.fromStore) return o.key == storedSubject ? Claim::Granted : Claim::Conflict;
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
    std::optional<std::string> stored;
    try {
        if (lookup_) stored = lookup_(sessionId);
    } catch (const std::exception&) {
        return Claim::Unavailable;
    }
    std::lock_guard lock(mutex_);
    if (const auto k = known(sessionId, owner, storedSubject)) return *k;
    if (stored) {
        remember(sessionId, {*stored, true});
        return *stored == storedSubject ? Claim::Granted : Claim::Conflict;
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

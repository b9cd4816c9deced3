#include "net/upstream.h"

namespace vigil::net {

std::unique_ptr<UpstreamConnection> UpstreamPool::take(std::size_t upstream) {
    auto& list = idle_[upstream];
    while (!list.empty()) {
        auto connection = std::move(list.back());
        list.pop_back();
        // An upstream does not close a keep-alive connection within a second of answering
        // on it: skip the liveness peek (a syscall) for those; the stale-connection retry
        // in the session still covers the rare race.
        const bool recentlyUsed = Clock::now() - connection->idleSince < std::chrono::seconds(1);
        if (recentlyUsed || connection->stillOpen()) {
            connection->reused = true;
            return connection;
        }
    }
    return nullptr;
}

void UpstreamPool::put(std::size_t upstream, std::unique_ptr<UpstreamConnection> connection) {
    auto& list = idle_[upstream];
    if (list.size() >= maxIdle_) return;
    connection->idleSince = Clock::now();
    list.push_back(std::move(connection));
}

}  // namespace vigil::net

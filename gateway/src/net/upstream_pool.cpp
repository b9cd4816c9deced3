#include "net/upstream.h"

namespace vigil::net {

std::unique_ptr<UpstreamConnection> UpstreamPool::take(std::size_t upstream) {
    auto& list = idle_[upstream];
    while (!list.empty()) {
        auto connection = std::move(list.back());
        list.pop_back();
        // Every reuse peeks (one syscall): bytes nobody asked for, or a close, mean the
        // connection is not clean (a response left unread would reach the next caller). A
        // connection idle for 4 s or more is dropped: servers close idle ones from 5 s on
        // (uvicorn, Node), and a close already on its way is not seen by the peek; a POST
        // sent into it could not be sent again safely.
        const bool fresh = Clock::now() - connection->idleSince < std::chrono::seconds(4);
        if (fresh && connection->stillOpen()) {
            connection->reused = true;
            return connection;
        }
    }
    return nullptr;
}

void UpstreamPool::put(std::size_t upstream, std::unique_ptr<UpstreamConnection> connection) {
    auto& list = idle_[upstream];
    if (list.size() >= maxIdle_ || connection->buffer().size() > 0) return;  // bytes past the response: not clean
    connection->idleSince = Clock::now();
    list.push_back(std::move(connection));
}

}  // namespace vigil::net

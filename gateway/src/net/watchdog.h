#pragma once

#include <memory>
#include <vector>

#include "net/beast_common.h"

namespace vigil::net {

class Watchdog;

// The timeout of one socket's current operation. Arming is a store, not a timer: the
// worker's Watchdog checks every armed deadline on a coarse tick and cancels the socket of
// any that passed, so timeouts cost no timer-queue work or syscalls per read and write
// (the way nginx keeps its timers). Resolution: Watchdog::kTick.
class Deadline {
public:
    Deadline(Watchdog& watchdog, tcp::socket& socket);
    ~Deadline();
    Deadline(const Deadline&) = delete;
    Deadline& operator=(const Deadline&) = delete;

    void arm(std::chrono::milliseconds timeout) {
        at_ = Clock::now() + timeout;
        expired_ = false;
    }
    void disarm() { at_ = Clock::time_point::max(); }
    // True when the last armed deadline passed (the operation failed because of it).
    bool expired() const { return expired_; }

private:
    friend class Watchdog;
    void check(Clock::time_point now);

    Watchdog& watchdog_;
    tcp::socket& socket_;
    Clock::time_point at_ = Clock::time_point::max();
    bool expired_ = false;
    std::size_t index_ = 0;  // position in Watchdog::entries_
};

// One per worker thread; not thread-safe (a worker's sockets never leave its thread).
class Watchdog {
public:
    static constexpr std::chrono::milliseconds kTick{20};

    // A Watchdog is declared before its io_context (deadlines of connections destroyed
    // with the io_context must still unregister), so it is attached to it afterwards.
    void attach(asio::io_context& ioc) { ioc_ = &ioc; }

    // Drops the tick timer; call before the io_context is destroyed.
    void stop() {
        stopped_ = true;
        timer_.reset();
    }

private:
    friend class Deadline;
    void add(Deadline* deadline);
    void remove(Deadline* deadline);
    void schedule();

    asio::io_context* ioc_ = nullptr;
    std::unique_ptr<asio::steady_timer> timer_;
    std::vector<Deadline*> entries_;
    bool ticking_ = false;
    bool stopped_ = false;
};

}  // namespace vigil::net

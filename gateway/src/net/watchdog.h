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

    void arm(std::chrono::milliseconds timeout);
    void disarm();
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
// It sleeps until the earliest armed deadline: an idle keep-alive connection costs one
// wake-up when its keep-alive runs out, and the timer is re-armed only when a new deadline
// is earlier than the planned wake-up.
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
    // Wakes up at `at` (not sooner than one tick from now), unless already due sooner.
    void wakeBy(Clock::time_point at);
    void onTick(std::uint64_t generation);
    void armed(Clock::time_point at, bool wasArmed) {
        if (!wasArmed) ++armed_;
        if (!ticking_ || at < nextTick_) wakeBy(at);
    }
    void disarmed() { --armed_; }

    asio::io_context* ioc_ = nullptr;
    std::unique_ptr<asio::steady_timer> timer_;
    std::vector<Deadline*> entries_;
    std::size_t armed_ = 0;  // deadlines set now; the tick runs only while there are some
    bool ticking_ = false;
    bool stopped_ = false;
    Clock::time_point nextTick_{};
    std::uint64_t generation_ = 0;  // a tick scheduled before the latest wakeBy is stale
};

}  // namespace vigil::net

#include "net/watchdog.h"

namespace vigil::net {

Deadline::Deadline(Watchdog& watchdog, tcp::socket& socket) : watchdog_(watchdog), socket_(socket) {
    watchdog_.add(this);
}

Deadline::~Deadline() {
    disarm();
    watchdog_.remove(this);
}

void Deadline::arm(std::chrono::milliseconds timeout) {
    const bool wasArmed = at_ != Clock::time_point::max();
    at_ = Clock::now() + timeout;
    expired_ = false;
    watchdog_.armed(at_, wasArmed);
}

void Deadline::disarm() {
    if (at_ == Clock::time_point::max()) return;
    at_ = Clock::time_point::max();
    watchdog_.disarmed();
}

void Deadline::check(Clock::time_point now) {
    if (now < at_) return;
    disarm();
    expired_ = true;
    error_code ec;
    socket_.cancel(ec);
}

void Watchdog::add(Deadline* deadline) {
    deadline->index_ = entries_.size();
    entries_.push_back(deadline);
}

void Watchdog::remove(Deadline* deadline) {
    const std::size_t i = deadline->index_;
    entries_[i] = entries_.back();
    entries_[i]->index_ = i;
    entries_.pop_back();
}

void Watchdog::wakeBy(Clock::time_point at) {
    if (stopped_) return;
    if (!timer_) timer_ = std::make_unique<asio::steady_timer>(*ioc_);
    ticking_ = true;
    nextTick_ = std::max(at, Clock::now() + kTick);
    const auto generation = ++generation_;
    timer_->expires_at(nextTick_);
    timer_->async_wait([this, generation](const error_code& ec) {
        if (!ec) onTick(generation);
    });
}

void Watchdog::onTick(std::uint64_t generation) {
    if (generation != generation_ || stopped_) return;
    ticking_ = false;
    const auto now = Clock::now();
    auto earliest = Clock::time_point::max();
    // check() only cancels sockets; completions run later, so entries_ is stable here.
    for (auto* entry : entries_) {
        entry->check(now);
        earliest = std::min(earliest, entry->at_);
    }
    if (armed_ > 0) wakeBy(earliest);
}

}  // namespace vigil::net

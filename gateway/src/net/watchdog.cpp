#include "net/watchdog.h"

namespace vigil::net {

Deadline::Deadline(Watchdog& watchdog, tcp::socket& socket) : watchdog_(watchdog), socket_(socket) {
    watchdog_.add(this);
}

Deadline::~Deadline() { watchdog_.remove(this); }

void Deadline::check(Clock::time_point now) {
    if (now < at_) return;
    at_ = Clock::time_point::max();
    expired_ = true;
    error_code ec;
    socket_.cancel(ec);
}

void Watchdog::add(Deadline* deadline) {
    deadline->index_ = entries_.size();
    entries_.push_back(deadline);
    if (!ticking_) schedule();
}

void Watchdog::remove(Deadline* deadline) {
    const std::size_t i = deadline->index_;
    entries_[i] = entries_.back();
    entries_[i]->index_ = i;
    entries_.pop_back();
}

void Watchdog::schedule() {
    if (stopped_) return;
    ticking_ = true;
    if (!timer_) timer_ = std::make_unique<asio::steady_timer>(*ioc_);
    timer_->expires_after(kTick);
    timer_->async_wait([this](const error_code& ec) {
        ticking_ = false;
        if (ec || stopped_) return;
        const auto now = Clock::now();
        // check() only cancels sockets; completions run later, so entries_ is stable here.
        for (auto* entry : entries_) entry->check(now);
        if (!entries_.empty()) schedule();
    });
}

}  // namespace vigil::net

#include "net/http_types.h"

#include <unistd.h>

#include <algorithm>

namespace vigil::net {

FileBody::~FileBody() {
    if (fd_ >= 0) ::close(fd_);
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               const auto lx = (x >= 'A' && x <= 'Z') ? static_cast<char>(x + 32) : x;
               const auto ly = (y >= 'A' && y <= 'Z') ? static_cast<char>(y + 32) : y;
               return lx == ly;
           });
}

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && equalsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

std::string_view RequestView::header(std::string_view name) const {
    for (const auto& h : headers) {
        if (equalsIgnoreCase(h.name, name)) return h.value;
    }
    return {};
}

bool RequestView::hasHeader(std::string_view name) const {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const HeaderView& h) { return equalsIgnoreCase(h.name, name); });
}

void WakeSignal::setWaker(std::function<void()> waker) {
    std::unique_lock lock(mutex_);
    if (woken_) {
        lock.unlock();
        waker();
        return;
    }
    waker_ = std::move(waker);
}

void WakeSignal::wake() {
    std::function<void()> waker;
    {
        std::lock_guard lock(mutex_);
        if (woken_) return;
        woken_ = true;
        waker = std::move(waker_);
    }
    if (waker) waker();
}

}  // namespace vigil::net

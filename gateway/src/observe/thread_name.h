#pragma once

#include <pthread.h>

#include <string>

namespace vigil::observe {

// Names the calling thread, as `top -H`, `ps -L`, perf and gdb show it (Linux keeps the
// first 15 bytes). Every thread the gateway starts is named "vigil-<what it does>".
inline void nameThisThread(const std::string& name) {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace vigil::observe

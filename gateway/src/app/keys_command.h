#pragma once

#include <vector>
#include <string>

namespace vigil::app {

// `vigil-gateway keys create|list|revoke ...`; `args` are the words after "keys".
// Returns the process exit code.
int runKeysCommand(const std::vector<std::string>& args);

}  // namespace vigil::app

#pragma once

#include <string>
#include <vector>

namespace vigil::app {

// `vigil-gateway policy check FILE` and `vigil-gateway policy explain ...`; `args` are the
// words after "policy". Returns the process exit code.
int runPolicyCommand(const std::vector<std::string>& args);

}  // namespace vigil::app

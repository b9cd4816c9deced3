#pragma once

#include <string>
#include <vector>

namespace vigil::app {

// `vigil-gateway recording public-key --config FILE [--out FILE]`: prints (or writes) the
// public key that signs the recording's checkpoints, for `vigil verify --pubkey`. Creates
// the key pair when the gateway has not run yet. Exit code 0, 1 (failure) or 2 (usage).
int runRecordingCommand(const std::vector<std::string>& args);

}  // namespace vigil::app

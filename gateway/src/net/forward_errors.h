#pragma once

#include <string>

#include "net/beast_common.h"
#include "net/http_types.h"

namespace vigil::net {

enum class ForwardPhase { Connect, Send, ResponseHead, ResponseBody };

// Turns a failed upstream operation into the details code and message the client sees.
// `limit` is the timeout that applied, and `totalLimited` whether the total deadline (not
// the per-phase timeout) was the one that ran out.
ForwardFailure classifyForwardError(const error_code& ec, ForwardPhase phase,
                                    std::chrono::milliseconds limit, bool totalLimited,
                                    const std::string& upstreamName);

}  // namespace vigil::net

#include "forward/credential_scrubber.h"

namespace vigil::forward {

std::size_t CredentialScrubber::scrub(std::string& text) const { return scrubFrom(text, 0); }

std::size_t CredentialScrubber::scrubFrom(std::string& text, std::size_t from) const {
    if (!active()) return 0;
    std::size_t count = 0;
    for (auto pos = text.find(credential_, from); pos != std::string::npos;
         pos = text.find(credential_, pos + kReplacement.size())) {
        text.replace(pos, credential_.size(), kReplacement);
        ++count;
    }
    return count;
}

}  // namespace vigil::forward

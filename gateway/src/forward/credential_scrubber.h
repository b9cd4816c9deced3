#pragma once

#include <string>
#include <string_view>

namespace vigil::forward {

// Replaces every occurrence of a connection's credential in text bound for the client.
// Upstreams sometimes quote the key they received in an error; the caller must never see
// it. Credentials shorter than kMinLength are not scrubbed (they would match ordinary text).
class CredentialScrubber {
public:
    static constexpr std::size_t kMinLength = 8;
    static constexpr std::string_view kReplacement = "[REDACTED]";

    explicit CredentialScrubber(std::string credential) : credential_(std::move(credential)) {}

    bool active() const { return credential_.size() >= kMinLength; }
    // Scrubs `text` in place; returns how many occurrences were replaced.
    std::size_t scrub(std::string& text) const;
    // Scrubs the bytes of `text` from `from` on.
    std::size_t scrubFrom(std::string& text, std::size_t from) const;

private:
    std::string credential_;
};

}  // namespace vigil::forward

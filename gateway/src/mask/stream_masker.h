#pragma once

#include <string>
#include <string_view>

#include "mask/profile.h"

namespace vigil::mask {

// Masks one text that arrives in pieces (the content of a streamed model reply), so that a
// value split over several pieces is still masked. It releases at once everything that no
// value still growing can reach, and holds back only the tail a value could still occupy:
// the trailing run of bytes that a detector's values consist of, at most that detector's
// longest value (Profile::holdBack), and any found value touching the end. So plain prose
// is held back by at most its last word, while "4111 1111 11" waits for the rest of the
// number. The last bytes released before are kept (not sent again) as left context, so
// word boundaries and "Bearer " / "password=" prefixes still count.
class StreamMasker {
public:
    StreamMasker(const Profile& profile, std::string_view hashKey, Summary& summary, std::string where);

    // Appends to `out` the masked text that can be released now.
    void feed(std::string_view text, std::string& out);
    // End of the text: appends everything still held back, masked.
    void finish(std::string& out);
    std::size_t held() const { return pending_.size(); }

    static constexpr std::size_t kContext = 64;

private:
    void release(bool final, std::string& out);

    const Profile& profile_;
    std::string_view hashKey_;
    Summary& summary_;
    std::string where_;
    std::string window_;          // left context + held text (+ what just arrived)
    std::size_t contextSize_ = 0;  // bytes of window_ already released
    std::string pending_;          // held text, for held()
};

}  // namespace vigil::mask

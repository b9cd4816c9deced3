#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "record/event_store.h"

namespace vigil::record {

// The sessions index rows that the events imply (request.received with the identity and
// decision after it begins a request; request.completed, request.failed and
// request.interrupted end one): how the index is rebuilt at start for events committed
// after the last index write. Events of concurrent requests interleave: identity and
// decision go to the latest request begun in their session.
class IndexRebuilder {
public:
    void feed(const Event& event);
    std::vector<RequestIndex> take();  // every row found, in event order

private:
    std::vector<RequestIndex> rows_;
    std::unordered_map<std::string, std::size_t> lastBegin_;  // session -> row
};

}  // namespace vigil::record

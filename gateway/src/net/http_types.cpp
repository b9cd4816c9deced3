#include "net/http_types.h"

#include <algorithm>

namespace vigil::net {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               const auto lx = (x >= 'A' && x <= 'Z') ? static_cast<char>(x + 32) : x;
               const auto ly = (y >= 'A' && y <= 'Z') ? static_cast<char>(y + 32) : y;
               return lx == ly;
           });
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

}  // namespace vigil::net

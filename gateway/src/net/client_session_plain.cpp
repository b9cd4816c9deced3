#include "net/client_session_impl.h"

namespace vigil::net {

std::string_view toStd(beast::string_view s) { return {s.data(), s.size()}; }

bool isHopByHopOrFramingField(std::string_view name) {
    static constexpr std::string_view kFields[] = {
        "connection", "keep-alive",        "proxy-connection", "te",   "trailer",
        "upgrade",    "transfer-encoding", "content-length",   "host", "expect"};
    for (const auto f : kFields) {
        if (equalsIgnoreCase(f, name)) return true;
    }
    return false;
}

bool listedInConnectionHeader(std::string_view connectionValue, std::string_view name) {
    while (!connectionValue.empty()) {
        const auto comma = connectionValue.find(',');
        auto token = connectionValue.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
            token.remove_prefix(1);
        }
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
            token.remove_suffix(1);
        }
        if (equalsIgnoreCase(token, name)) return true;
        if (comma == std::string_view::npos) break;
        connectionValue.remove_prefix(comma + 1);
    }
    return false;
}

void startPlainSession(Worker& worker, tcp::socket socket) {
    spawnSession(worker, std::make_shared<ClientSession<PlainStream>>(worker, std::move(socket)));
}

}  // namespace vigil::net

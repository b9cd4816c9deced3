#include "net/http_wire.h"

#include <charconv>

#include <boost/beast/http/status.hpp>

namespace vigil::net {

std::string_view reasonPhrase(int status) {
    if (status == 499) return "Client Closed Request";  // nginx's name; Beast has none
    const auto reason = boost::beast::http::obsolete_reason(
        static_cast<boost::beast::http::status>(status));
    return {reason.data(), reason.size()};
}

void appendStatusLine(std::string& out, int status, bool http10) {
    out += http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    char buf[8];
    const auto r = std::to_chars(buf, buf + sizeof buf, status);
    out.append(buf, r.ptr);
    out += ' ';
    out += reasonPhrase(status);
    out += kCrlf;
}

void appendHeader(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += kCrlf;
}

void appendContentLength(std::string& out, std::size_t length) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, length);
    out += "Content-Length: ";
    out.append(buf, r.ptr);
    out += kCrlf;
}

void appendChunkSize(std::string& out, std::size_t size) {
    char buf[20];
    const auto r = std::to_chars(buf, buf + sizeof buf, size, 16);
    out.append(buf, r.ptr);
    out += kCrlf;
}

bool isHopByHopOrFramingField(std::string_view name) {
    static constexpr std::string_view kFields[] = {
        "connection", "keep-alive",        "proxy-connection", "te",   "trailer",
        "upgrade",    "transfer-encoding", "content-length",   "host", "expect"};
    for (const auto f : kFields) {
        if (equalsIgnoreCase(f, name)) return true;
    }
    return false;
}

bool listedInHeaderList(std::string_view connectionValue, std::string_view name) {
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

}  // namespace vigil::net

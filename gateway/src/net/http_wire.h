#pragma once

// HTTP/1.1 message heads and chunk framing, written by hand: a handful of appends into
// one string, sent with the body in a single gather write.

#include <string>
#include <string_view>

#include "net/http_types.h"

namespace vigil::net {

std::string_view reasonPhrase(int status);
void appendStatusLine(std::string& out, int status, bool http10);
void appendHeader(std::string& out, std::string_view name, std::string_view value);
void appendContentLength(std::string& out, std::size_t length);
// "1a\r\n" before a chunk's data; the data is followed by "\r\n".
void appendChunkSize(std::string& out, std::size_t size);
// Fields that describe one connection, not the message (RFC 9110 7.6.1), plus those the
// proxy sets itself: never copied from one side to the other.
bool isHopByHopOrFramingField(std::string_view name);
// True when `name` is one of the items of a comma-separated header value, case-insensitive
// (a Connection value "keep-alive, x-foo"; Upgrade "websocket").
bool listedInHeaderList(std::string_view connectionValue, std::string_view name);

inline constexpr std::string_view kCrlf = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace vigil::net

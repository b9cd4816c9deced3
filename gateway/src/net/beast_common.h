#pragma once

// Internal to gateway/src/net: the only place that includes Asio and Beast.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace vigil::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

// Completion token for coroutines that returns (error_code, results...) instead of
// throwing: no exceptions on the data path.
constexpr auto useNothrow = asio::as_tuple(asio::use_awaitable);

using Clock = std::chrono::steady_clock;

inline std::string_view toStd(beast::string_view s) { return {s.data(), s.size()}; }

}  // namespace vigil::net

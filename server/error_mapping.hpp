#pragma once
// The one place that turns a market::Errc into an HTTP status, and an Error into the errMsg a
// client reads.

#include <ostream>  // boost's string_view, used by status.hpp, needs it
#include <string>

#include <boost/beast/http/status.hpp>

#include "market/error.hpp"

namespace market::server {

boost::beast::http::status HttpStatusFor(Errc code);

// The errMsg for `error`: its message (the code's default when empty). A failure on the server's
// side (kUnavailable, kInternal) also names the request id, which the server's log lines about
// it carry: the client's report leads an operator to the detail that the message leaves out.
std::string ClientMessage(const Error& error);

}  // namespace market::server

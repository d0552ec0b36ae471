#pragma once
// The one place that turns a market::Errc into an HTTP status.

#include <ostream>  // boost's string_view, used by status.hpp, needs it

#include <boost/beast/http/status.hpp>

#include "market/error.hpp"

namespace market::server {

boost::beast::http::status HttpStatusFor(Errc code);

}  // namespace market::server

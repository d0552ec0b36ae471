#pragma once
// What the HTTP core hands a handler and what a handler gives back.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "market/identity.hpp"

namespace market::server {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

// A request header's value; empty when the request does not have it.
inline std::string_view HeaderValue(const HttpRequest& request, http::field field) {
  auto it = request.find(field);
  return it == request.end() ? std::string_view{} : std::string_view(it->value());
}
inline std::string_view HeaderValue(const HttpRequest& request, std::string_view name) {
  auto it = request.find(name);
  return it == request.end() ? std::string_view{} : std::string_view(it->value());
}

struct RequestContext {
  const HttpRequest& message;
  std::string_view path;   // target without the query string
  std::string_view query;  // after '?', still percent-encoded
  std::string request_id;
  std::string remote;               // peer address, for logs
  std::optional<std::string> user;  // the authenticated identity when authentication is on
  std::optional<Role> role;         // its role (set together with `user`)
};

// A body produced piece by piece (a followed build log). Pull runs on the blocking pool; when a
// pull brings nothing new, the connection waits PollInterval on a timer before the next one.
class ChunkSource {
 public:
  struct Piece {
    std::string data;
    bool done = false;
  };
  virtual ~ChunkSource() = default;
  virtual Piece Pull() = 0;
  virtual std::chrono::milliseconds PollInterval() const = 0;
  // Sent as the last piece when the server stops before the source is done.
  virtual std::string OnServerStopping() { return {}; }
};

struct HandlerResult {
  HttpResponse response;
  // Non-null: the response's headers go first, then the source's pieces as chunks.
  std::unique_ptr<ChunkSource> stream;
};

// How a handler gives its answer: once, from any thread (the HTTP core sends it from the
// connection's executor).
using Completion = std::function<void(HandlerResult)>;

// A route's handler. It may answer before returning (most do), or start work that answers
// later without blocking (the project reads), copying what it needs of the context.
using Handler = std::function<void(const RequestContext&, Completion)>;

}  // namespace market::server

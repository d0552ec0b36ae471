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

using Handler = std::function<HandlerResult(const RequestContext&)>;

// A handler that answers without blocking (its I/O waits on the event loop): it starts the work
// on the I/O thread, copying what it needs of the context, and calls the completion once, from
// any thread. It returns false, without calling the completion, when it cannot answer that way
// here; the route's blocking handler then runs on the pool.
using Completion = std::function<void(HandlerResult)>;
using AsyncHandler = std::function<bool(const RequestContext&, Completion&)>;

}  // namespace market::server

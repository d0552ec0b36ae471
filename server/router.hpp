#pragma once
// Method + path -> handler lookup over the route table (routes.cpp holds the table itself).

#include <string>
#include <string_view>
#include <vector>

#include "http_types.hpp"
#include "market/identity.hpp"
#include "responses.hpp"

namespace market::server {

// Where a handler runs: cheap ones (no store, registry or build calls) on the I/O thread, all
// others on the blocking pool.
enum class RunOn { kIoThread, kBlockingPool };

// Who may call a route when authentication is on: anyone (probes, static files), or a user with
// at least this role. With authentication off, every route is open (loopback only).
// The numbers are market::Role's, so a role compares with an access level directly.
enum class Access { kPublic = 0, kViewer = 1, kDeveloper = 2, kAdmin = 3 };

struct Route {
  http::verb method = http::verb::get;
  std::string path;     // exact, or a prefix when `prefix`
  bool prefix = false;  // "/static/" serves everything below it
  RunOn run_on = RunOn::kBlockingPool;
  Access access = Access::kViewer;
  Handler handler;
  AsyncHandler async_handler = nullptr;  // set: tried first, on the I/O thread
  ErrorShape error_shape = ErrorShape::kEnvelope;  // every error, whoever answers it
};

class Router {
 public:
  explicit Router(std::vector<Route> routes);

  struct Match {
    const Route* route = nullptr;  // null: see `allow`
    std::string allow;             // non-empty: the path exists with these methods (405)
    const Route* of_path = nullptr;  // with `allow`: the path's first route (metrics, access log)
  };
  // No route and empty `allow`: unknown path (404).
  Match Find(http::verb method, std::string_view path) const;
  const std::vector<Route>& Routes() const { return routes_; }
  // The error shape of `matched`, or, when a request was refused before routing (Host, Origin,
  // limits), of the route its method and path name; the envelope when none does.
  ErrorShape ErrorShapeOf(const Route* matched, std::string_view method,
                          std::string_view path) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace market::server

#pragma once
// Method + path -> handler lookup over the route table (routes.cpp holds the table itself).

#include <string>
#include <string_view>
#include <vector>

#include "http_types.hpp"
#include "market/identity.hpp"

namespace market::server {

// Where a handler runs: those that do not block (cheap ones, and the project reads, which
// answer from the reads' callback) on the I/O thread, all others on the blocking pool.
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
};

class Router {
 public:
  explicit Router(std::vector<Route> routes);

  struct Match {
    const Route* route = nullptr;  // null: see `allow`
    std::string allow;             // non-empty: the path exists with these methods (405)
  };
  // No route and empty `allow`: unknown path (404).
  Match Find(http::verb method, std::string_view path) const;
  const std::vector<Route>& Routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace market::server

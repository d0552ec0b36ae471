#pragma once
// Method + path -> handler lookup over the route table (routes.cpp holds the table itself).

#include <optional>
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
// at least a role. With authentication off, every route is open (loopback only).
class Access {
 public:
  static const Access kPublic;
  static const Access kViewer;
  static const Access kDeveloper;
  static const Access kAdmin;

  static constexpr Access AtLeast(Role role) { return Access(role); }
  constexpr bool IsPublic() const { return !minimum_.has_value(); }
  // The least role that may call; nullopt for a public route.
  constexpr std::optional<Role> MinimumRole() const { return minimum_; }
  // Whether a user with `role` may call (roles are ordered: market::Role).
  constexpr bool Admits(Role role) const { return !minimum_ || role >= *minimum_; }
  friend constexpr bool operator==(const Access&, const Access&) = default;

 private:
  constexpr Access() = default;
  constexpr explicit Access(Role role) : minimum_(role) {}
  std::optional<Role> minimum_;
};
inline constexpr Access Access::kPublic{};
inline constexpr Access Access::kViewer{Role::kViewer};
inline constexpr Access Access::kDeveloper{Role::kDeveloper};
inline constexpr Access Access::kAdmin{Role::kAdmin};

struct Route {
  http::verb method = http::verb::get;
  std::string path;     // exact, or a prefix when `prefix`
  bool prefix = false;  // "/static/" serves everything below it
  RunOn run_on = RunOn::kBlockingPool;
  Access access = Access::kViewer;
  Handler handler;
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

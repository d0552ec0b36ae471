#include "router.hpp"

namespace market::server {

Router::Router(std::vector<Route> routes) : routes_(std::move(routes)) {}

Router::Match Router::Find(http::verb method, std::string_view path) const {
  Match match;
  for (const Route& route : routes_) {
    bool path_matches = route.prefix ? path.starts_with(route.path) : path == route.path;
    if (!path_matches) continue;
    if (route.method == method) {
      match.route = &route;
      match.allow.clear();
      match.of_path = nullptr;
      return match;
    }
    if (match.of_path == nullptr) match.of_path = &route;
    std::string_view name = http::to_string(route.method);
    if (match.allow.find(name) == std::string::npos) {
      if (!match.allow.empty()) match.allow += ", ";
      match.allow += name;
    }
  }
  return match;
}

ErrorShape Router::ErrorShapeOf(const Route* matched, std::string_view method,
                                std::string_view path) const {
  if (matched == nullptr) matched = Find(http::string_to_verb(method), path).route;
  return matched != nullptr ? matched->error_shape : ErrorShape::kEnvelope;
}

}  // namespace market::server

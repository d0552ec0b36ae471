#pragma once
// The route table of market-server: every endpoint, in one visible list.

#include <vector>

#include "api.hpp"
#include "router.hpp"

namespace market::server {

std::vector<Route> MakeRoutes(Api& api);

}  // namespace market::server

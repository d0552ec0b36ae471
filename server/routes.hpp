#pragma once
// The route table of market-server: every endpoint, in one visible list.

#include <vector>

#include "api.hpp"
#include "router.hpp"

namespace market::server {

// `project_reads`: where project info and list run: the I/O thread when their reads do not
// block it (PostgreSQL's pipeline), the blocking pool when they do (SQLite).
std::vector<Route> MakeRoutes(Api& api, RunOn project_reads = RunOn::kIoThread);

}  // namespace market::server

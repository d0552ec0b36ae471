#pragma once
// AsyncProjectReads on PostgreSQL: a few PgReadChannels, each request on the next one.

#include "market/async_project_reads.hpp"
#include "sql/session_pool.hpp"

namespace market::sql {

AsyncProjectReadsPtr MakePgAsyncProjectReads(const ConnectionConfig& config,
                                             boost::asio::any_io_executor executor,
                                             int connections);

}  // namespace market::sql

#pragma once
// AsyncProjectReads on PostgreSQL: reads of bounded cost go down a few PgReadChannels (each
// request on the next one), the others to the blocking pool through the store.

#include <boost/asio/any_io_executor.hpp>

#include "market/async_project_reads.hpp"
#include "sql/project_queries.hpp"
#include "sql/session_pool.hpp"

namespace market::sql {

// A connection answers its reads in order, so a slow one holds up those behind it: the pipeline
// takes a listing only when its cost is bounded. A listing skipping more names than this (a page
// number far from the first, without a cursor) is not.
inline constexpr long long kPipelineMaxOffset = 1000;

// Whether the pipeline takes a listing: no name filter, and a cursor or an offset within
// kPipelineMaxOffset.
bool PipelineTakes(const ListPlan& plan);

AsyncProjectReadsPtr MakePgAsyncProjectReads(const ConnectionConfig& config,
                                             boost::asio::any_io_executor executor,
                                             int connections, ProjectStore& store,
                                             BlockingExecutor& blocking);

}  // namespace market::sql

#pragma once
// Project reads that do not block the calling thread, for services on an event loop: the
// answer comes to a callback instead of a return value, and no thread waits for the database
// meanwhile. PostgreSQL only (libpq's pipeline mode over a few connections of its own); SQLite
// reads are local calls with no round trip to wait for.

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "market/error.hpp"
#include "market/project.hpp"
#include "market/project_store.hpp"
#include "market/store.hpp"

namespace market {

class AsyncProjectReads {
 public:
  using GetCallback = std::function<void(Result<Project>)>;
  using ListCallback = std::function<void(Result<ProjectPage>)>;
  virtual ~AsyncProjectReads() = default;

  // What ProjectStore::Get answers (kNotFound when missing; kUnavailable when the database is
  // unreachable or too slow), given to `done` on the executor's threads. `done` must not block.
  virtual void Get(std::string name, GetCallback done) = 0;
  // A connection answers its reads in order, so a slow one holds up those behind it: only
  // reads whose cost is bounded are taken. A listing skipping more projects than this (a
  // page number far from the first, without a cursor) is not.
  static constexpr long long kMaxOffset = 1000;
  // Whether List takes `query`: no name filter, and a cursor or an offset within kMaxOffset.
  static bool Takes(const ProjectListQuery& query) {
    if (!query.name_filter.empty()) return false;
    if (query.after) return true;
    return (static_cast<long long>(query.page) - 1) * query.page_size <= kMaxOffset;
  }

  // What ProjectStore::List answers, for a query it Takes (others: kInvalid).
  virtual void List(ProjectListQuery query, ListCallback done) = 0;
};
using AsyncProjectReadsPtr = std::unique_ptr<AsyncProjectReads>;

// Reads over `connections` connections of their own, driven by `executor`; the schema must
// already be there (OpenStores migrates it). Null for a database without such reads (SQLite).
// kInvalid for a malformed URL or connection count. Connections open on first use; the reads
// must be destroyed before the executor's execution context.
Result<AsyncProjectReadsPtr> OpenAsyncProjectReads(const StoreOptions& options,
                                                   boost::asio::any_io_executor executor,
                                                   int connections);

}  // namespace market

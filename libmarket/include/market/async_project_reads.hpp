#pragma once
// Project reads whose answer comes to a callback instead of a return value, for services on an
// event loop: the calling thread never waits for the database. Every backend has them: SQLite
// runs the store's read on the caller's blocking pool; PostgreSQL sends it down a pipeline
// connection watched by the event loop, and sends the listings whose cost is unbounded (a name
// filter, a deep page) to the blocking pool instead, since a pipeline answers in order.

#include <functional>
#include <memory>
#include <string>

#include "market/error.hpp"
#include "market/project.hpp"
#include "market/project_store.hpp"
#include "market/store.hpp"

// The event loop is the embedder's io_context, named here only (no Asio header is needed to
// use this one): libmarket's PostgreSQL reads watch their sockets on it.
namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace market {

// Runs jobs on threads that may block (the server's pool for store and registry calls).
class BlockingExecutor {
 public:
  virtual ~BlockingExecutor() = default;
  // Queues `job`.
  virtual void Post(std::move_only_function<void()> job) = 0;
};

class AsyncProjectReads {
 public:
  using GetCallback = std::move_only_function<void(Result<Project>)>;
  using ListCallback = std::move_only_function<void(Result<ProjectPage>)>;
  virtual ~AsyncProjectReads() = default;

  // What ProjectStore::Get answers (kNotFound when missing; kUnavailable when the database is
  // unreachable or too slow), given to `done` once, on a thread of the event loop or of the
  // blocking pool. `done` must not block.
  virtual void Get(std::string name, GetCallback done) = 0;
  // What ProjectStore::List answers, given to `done` as Get's answer is.
  virtual void List(ProjectListQuery query, ListCallback done) = 0;
};
using AsyncProjectReadsPtr = std::unique_ptr<AsyncProjectReads>;

// The reads of the database `options` names. SQLite: `store`'s reads, run on `blocking`.
// PostgreSQL: over `connections` connections of their own on `loop` (the schema must already be
// there: OpenStores migrates it), with the costly listings run on `blocking` through `store`.
// kInvalid for a malformed URL or connection count. Connections open on first use. `store` and
// `blocking` must outlive every read in flight; the reads must be destroyed before `loop`.
Result<AsyncProjectReadsPtr> OpenAsyncProjectReads(const StoreOptions& options,
                                                   ProjectStore& store,
                                                   BlockingExecutor& blocking,
                                                   boost::asio::io_context& loop,
                                                   int connections);

}  // namespace market

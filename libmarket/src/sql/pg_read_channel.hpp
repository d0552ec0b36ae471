#pragma once
// One PostgreSQL connection in libpq's non-blocking pipeline mode, driven by an Asio executor.
// Queries are sent as they come, many may be on the wire at once, and each answer goes to its
// callback in order; no thread waits for the database. It is for short reads on an event loop
// (the HTTP server's I/O threads), where a blocking call would hold the thread for a round trip.
//
// The connection opens on first use and again after it broke; a query lost with its connection
// is sent once more on the next one, and fails with kUnavailable if that is lost too. A query
// waiting longer than the call timeout cuts the connection (as SessionPool's watchdog does)
// and fails. Only resolving a host name blocks (libpq
// resolves it inside PQconnectStart); an address or a local socket does not.

#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "market/error.hpp"
#include "sql/session_pool.hpp"

namespace market::sql {

// A statement the channel prepares on every connection it opens.
struct PgStatement {
  std::string name;  // the prepared statement's name
  std::string text;  // SQL with $1.. parameters
  int parameters = 0;
};

struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

class PgReadChannel : public std::enable_shared_from_this<PgReadChannel> {
 public:
  // The answer to one query: its result (PGRES_TUPLES_OK), or why there is none. Called on the
  // channel's strand; it must not block and should not throw (an exception is logged).
  using Callback = std::function<void(Result<PgResultPtr>)>;

  // More queries than this waiting on one channel: the next fails with kUnavailable at once
  // rather than queueing without bound behind a slow database.
  static constexpr std::size_t kMaxWaiting = 4096;

  // `config` is a PostgreSQL one; `statements` are prepared on each connection.
  static std::shared_ptr<PgReadChannel> Make(boost::asio::any_io_executor executor,
                                             ConnectionConfig config,
                                             std::vector<PgStatement> statements);
  ~PgReadChannel();
  PgReadChannel(const PgReadChannel&) = delete;
  PgReadChannel& operator=(const PgReadChannel&) = delete;

  // Thread-safe. Runs statements[statement] with `parameters` (text values).
  void Submit(std::size_t statement, std::vector<std::string> parameters, Callback done);

 private:
  // kPrepare: preparing statements_[statement]. kSync: the end of a batch (the server answers
  // a batch at once; an error skips the rest of its batch, which is then sent again).
  enum class Kind { kQuery, kPrepare, kSync };
  struct Waiting {
    Kind kind = Kind::kQuery;
    std::size_t statement = 0;  // an index into statements_
    bool retried = false;       // already sent again after its connection was lost
    std::vector<std::string> parameters;
    Callback done;
    std::chrono::steady_clock::time_point since;
    PgResultPtr result;  // the query's result, once read
  };
  enum class State { kClosed, kConnecting, kReady };

  PgReadChannel(boost::asio::any_io_executor executor, ConnectionConfig config,
                std::vector<PgStatement> statements);

  // Everything below runs on strand_.
  void Enqueue(Waiting waiting);
  void Connect();
  void ContinueConnecting(PostgresPollingStatusType status);
  void OnConnected();
  void Append(Waiting waiting);
  bool Send(Waiting& waiting);
  void Sync();
  void Flush();
  void WatchSocket();
  void WaitReadable();
  void WaitWritable();
  // One wait for the socket at a time per direction (`waiting` is reading_ or writing_). When
  // it fires: the next connecting step, or reading answers, or sending the rest.
  void Await(boost::asio::posix::descriptor_base::wait_type type, bool& waiting);
  void OnReadable();
  void ReadResults();
  void Finish(Waiting& waiting);
  void StartTicking();
  void Tick();
  // Ends the connection. Every waiting query fails with `error`, except, with `retry`, those
  // not yet retried: they go to a new connection.
  void Fail(const Error& error, bool retry);
  Error Lost(std::string_view what) const;
  // What libpq says about a query's failed `result` (null: none came), for db_failure.hpp.
  // Views into `result`: valid while it is.
  DriverFailure FailureOf(const PGresult* result) const;

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  ConnectionConfig config_;
  std::vector<PgStatement> statements_;
  State state_ = State::kClosed;
  std::chrono::steady_clock::time_point connect_started_;
  PGconn* conn_ = nullptr;
  std::optional<boost::asio::posix::stream_descriptor> socket_;  // PQsocket(conn_), not owned
  std::uint64_t generation_ = 0;  // bumped whenever socket_ changes: older waits are stale
  bool reading_ = false;
  bool writing_ = false;
  bool ticking_ = false;
  bool batch_open_ = false;  // a Sync is posted
  int unsynced_ = 0;         // statements sent since the last sync
  std::deque<Waiting> unsent_;  // while connecting
  std::deque<Waiting> sent_;    // sent, with their batches' syncs, in the order answers come
  boost::asio::steady_timer ticker_;
};

}  // namespace market::sql

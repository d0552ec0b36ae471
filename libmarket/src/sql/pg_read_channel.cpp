#include "sql/pg_read_channel.hpp"

#include <array>
#include <string_view>
#include <utility>

#include <boost/asio/dispatch.hpp>

#include "log.hpp"

namespace market::sql {

namespace net = boost::asio;

namespace {

// How often a channel with queries waiting checks them against the call timeout.
constexpr auto kTick = std::chrono::milliseconds(250);
// libpq ignores connect_timeout for PQconnectPoll, so the channel keeps its own.
constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxParameters = 8;

std::string_view Trimmed(const char* message) {
  std::string_view text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  return text;
}

}  // namespace

std::shared_ptr<PgReadChannel> PgReadChannel::Make(net::any_io_executor executor,
                                                   ConnectionConfig config,
                                                   std::vector<PgStatement> statements) {
  return std::shared_ptr<PgReadChannel>(
      new PgReadChannel(std::move(executor), std::move(config), std::move(statements)));
}

PgReadChannel::PgReadChannel(net::any_io_executor executor, ConnectionConfig config,
                             std::vector<PgStatement> statements)
    : strand_(net::make_strand(std::move(executor))),
      config_(std::move(config)),
      statements_(std::move(statements)),
      ticker_(strand_) {}

PgReadChannel::~PgReadChannel() {
  if (socket_) socket_->release();  // libpq owns the descriptor and closes it
  if (conn_ != nullptr) PQfinish(conn_);
}

void PgReadChannel::Submit(std::size_t statement, std::vector<std::string> parameters,
                           Callback done) {
  Waiting waiting;
  waiting.statement = statement;
  waiting.parameters = std::move(parameters);
  waiting.done = std::move(done);
  waiting.since = std::chrono::steady_clock::now();
  // Runs at once when called on an I/O thread and the strand is free; otherwise queued.
  net::dispatch(strand_, [self = shared_from_this(), waiting = std::move(waiting)]() mutable {
    self->Enqueue(std::move(waiting));
  });
}

void PgReadChannel::Enqueue(Waiting waiting) {
  if (unsent_.size() + sent_.size() >= kMaxWaiting) {
    waiting.done(std::unexpected(
        Error{Errc::kUnavailable, "the database is busy (too many reads waiting); retry"}));
    return;
  }
  StartTicking();
  if (state_ != State::kReady) {
    unsent_.push_back(std::move(waiting));
    if (state_ == State::kClosed) Connect();
    return;
  }
  Append(std::move(waiting));
}

void PgReadChannel::Append(Waiting waiting) {
  sent_.push_back(std::move(waiting));
  if (!Send(sent_.back())) return Fail(Lost("sending a query"), true);
  ++unsynced_;
  if (batch_open_) return;
  // The batch closes once the I/O thread has run what is ready now: the queries that other
  // connections' requests add meanwhile go out in the same write, and the server answers them
  // in one (it flushes its output at each sync).
  batch_open_ = true;
  net::post(strand_.get_inner_executor(), [self = shared_from_this()] {
    net::dispatch(self->strand_, [self] {
      self->batch_open_ = false;
      self->Sync();
    });
  });
}

void PgReadChannel::Sync() {
  if (state_ != State::kReady || unsynced_ == 0) return;
  if (PQpipelineSync(conn_) != 1) return Fail(Lost("sending a query"), true);
  unsynced_ = 0;
  Waiting sync;
  sync.kind = Kind::kSync;
  sync.since = std::chrono::steady_clock::now();
  sent_.push_back(std::move(sync));
  Flush();
  WaitReadable();
}

void PgReadChannel::Connect() {
  state_ = State::kConnecting;
  connect_started_ = std::chrono::steady_clock::now();
  conn_ = PQconnectStart(config_.connect_string.c_str());
  if (conn_ == nullptr) {
    MARKET_LOG_ERROR("database {}: cannot connect: no memory", config_.display);
    return Fail(Unavailable("connecting"), false);
  }
  if (PQstatus(conn_) == CONNECTION_BAD) return Fail(Lost("connecting"), true);
  PQsetNoticeProcessor(conn_, PgNotice, nullptr);
  // Before the first PQconnectPoll, libpq says to wait as if it had asked for writing.
  ContinueConnecting(PGRES_POLLING_WRITING);
}

void PgReadChannel::ContinueConnecting(PostgresPollingStatusType status) {
  switch (status) {
    case PGRES_POLLING_OK:
      return OnConnected();
    case PGRES_POLLING_READING:
      // Each step may have moved to a new socket (another address of the host): watch anew.
      WatchSocket();
      return WaitReadable();
    case PGRES_POLLING_WRITING:
      WatchSocket();
      return WaitWritable();
    default:
      return Fail(Lost("connecting"), true);
  }
}

void PgReadChannel::OnConnected() {
  if (PQsetnonblocking(conn_, 1) != 0 || PQenterPipelineMode(conn_) != 1) {
    return Fail(Lost("setting up the connection"), true);
  }
  state_ = State::kReady;
  WatchSocket();
  // The statements are prepared first, then what waited goes out, in one batch.
  for (std::size_t i = 0; i < statements_.size(); ++i) {
    const PgStatement& statement = statements_[i];
    Waiting prepare;
    prepare.statement = i;
    prepare.kind = Kind::kPrepare;
    prepare.since = std::chrono::steady_clock::now();
    sent_.push_back(std::move(prepare));
    if (PQsendPrepare(conn_, statement.name.c_str(), statement.text.c_str(), statement.parameters,
                      nullptr) != 1) {
      return Fail(Lost("preparing statements"), true);
    }
    ++unsynced_;
  }
  while (!unsent_.empty()) {
    sent_.push_back(std::move(unsent_.front()));
    unsent_.pop_front();
    if (!Send(sent_.back())) return Fail(Lost("sending a query"), true);
    ++unsynced_;
  }
  Sync();
}

bool PgReadChannel::Send(Waiting& waiting) {
  const PgStatement& statement = statements_[waiting.statement];
  std::array<const char*, kMaxParameters> values{};
  if (waiting.parameters.size() > kMaxParameters) return false;
  for (std::size_t i = 0; i < waiting.parameters.size(); ++i) {
    values[i] = waiting.parameters[i].c_str();
  }
  return PQsendQueryPrepared(conn_, statement.name.c_str(),
                             static_cast<int>(waiting.parameters.size()), values.data(), nullptr,
                             nullptr, 0) == 1;
}

void PgReadChannel::Flush() {
  int flushed = PQflush(conn_);
  if (flushed < 0) return Fail(Lost("sending a query"), true);
  if (flushed == 1) WaitWritable();  // the socket's buffer is full: the rest when it drains
}

void PgReadChannel::WatchSocket() {
  // libpq may replace the socket while connecting, and a new one can reuse the old number:
  // the old registration is dropped (its waits end as stale) and the socket registered again.
  if (socket_) socket_->release();
  socket_.reset();
  ++generation_;
  reading_ = writing_ = false;
  int fd = PQsocket(conn_);
  if (fd < 0) return;
  socket_.emplace(strand_, fd);
}

void PgReadChannel::WaitReadable() { Await(net::posix::descriptor_base::wait_read, reading_); }

void PgReadChannel::WaitWritable() { Await(net::posix::descriptor_base::wait_write, writing_); }

void PgReadChannel::Await(net::posix::descriptor_base::wait_type type, bool& waiting) {
  if (waiting || !socket_) return;
  waiting = true;
  socket_->async_wait(type, [self = shared_from_this(), generation = generation_, type,
                             &waiting](const boost::system::error_code& ec) {
    if (generation != self->generation_) return;  // the socket was replaced or dropped
    waiting = false;
    if (ec) return self->Fail(self->Lost("waiting for the server"), true);
    if (self->state_ == State::kConnecting) {
      return self->ContinueConnecting(PQconnectPoll(self->conn_));
    }
    if (type == net::posix::descriptor_base::wait_read) return self->OnReadable();
    self->Flush();
  });
}

void PgReadChannel::OnReadable() {
  if (PQconsumeInput(conn_) != 1) return Fail(Lost("reading an answer"), true);
  ReadResults();
  // Watched only while answers are owed: an idle channel leaves the event loop free to end.
  // A connection the server closed meanwhile fails its next query, which is then retried.
  if (state_ == State::kReady && !sent_.empty()) WaitReadable();
}

void PgReadChannel::ReadResults() {
  while (state_ == State::kReady && !sent_.empty() && PQisBusy(conn_) == 0) {
    PgResultPtr result(PQgetResult(conn_));
    Waiting& front = sent_.front();
    if (front.kind == Kind::kSync) {
      if (!result || PQresultStatus(result.get()) != PGRES_PIPELINE_SYNC) {
        // libpq and this queue disagree on what is owed: start over on a new connection.
        return Fail(Error{Errc::kInternal, "database: pipeline out of step; connection reset"},
                    true);
      }
      sent_.pop_front();
      continue;
    }
    if (result) {
      if (!front.result) front.result = std::move(result);
      continue;
    }
    // The end of the front query's results. Off the queue before its callback runs: the
    // callback may submit, or a failure clear the queue.
    Waiting done = std::move(front);
    sent_.pop_front();
    Finish(done);
  }
}

void PgReadChannel::Finish(Waiting& waiting) {
  const PgStatement& statement = statements_[waiting.statement];
  PGresult* result = waiting.result.get();
  ExecStatusType status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (waiting.kind == Kind::kPrepare) {
    if (status == PGRES_COMMAND_OK) return;
    // Preparing fails for good (kInternal) unless the connection is going away.
    DriverFailure failure = FailureOf(result);
    Error error = DatabaseFailure(config_.display, "preparing " + statement.name, failure);
    return Fail(error, Classify(failure) == FailureKind::kConnectionLost);
  }
  if (status == PGRES_PIPELINE_ABORTED) {
    // An earlier query of its batch failed; this one never ran. It goes out again.
    waiting.result.reset();
    return Append(std::move(waiting));
  }
  Result<PgResultPtr> answer;
  bool lost = false;
  if (status == PGRES_TUPLES_OK) {
    answer = std::move(waiting.result);
  } else {
    DriverFailure failure = FailureOf(result);
    lost = Classify(failure) == FailureKind::kConnectionLost;
    if (lost && !waiting.retried) {
      // The server is going away (shut down, or this session terminated): the read is tried
      // once more on a new connection.
      sent_.push_front(std::move(waiting));
      return Fail(Lost("reading an answer"), true);
    }
    answer = std::unexpected(DatabaseFailure(config_.display, statement.name, failure));
  }
  try {
    waiting.done(std::move(answer));
  } catch (const std::exception& e) {
    MARKET_LOG_ERROR("database read callback of {} failed: {}", statement.name, e.what());
  }
  if (lost) Fail(Lost("reading an answer"), true);
}

void PgReadChannel::StartTicking() {
  if (ticking_) return;
  ticking_ = true;
  ticker_.expires_after(kTick);
  ticker_.async_wait([self = shared_from_this()](const boost::system::error_code&) {
    self->Tick();
  });
}

void PgReadChannel::Tick() {
  ticking_ = false;
  if (unsent_.empty() && sent_.empty()) return;
  auto now = std::chrono::steady_clock::now();
  if (state_ == State::kConnecting && now - connect_started_ > kConnectTimeout) {
    MARKET_LOG_WARN("database {}: connecting took longer than {} s; giving up", config_.display,
                    kConnectTimeout.count());
    return Fail(Unavailable("connecting timed out"), false);
  }
  // The oldest query: the front of what was sent (a sync marker there is not a query), or of
  // what waits for the connection.
  const Waiting* oldest = nullptr;
  for (const Waiting& w : sent_) {
    if (w.kind == Kind::kQuery) {
      oldest = &w;
      break;
    }
  }
  if (!unsent_.empty() && (oldest == nullptr || unsent_.front().since < oldest->since)) {
    oldest = &unsent_.front();
  }
  if (oldest != nullptr && config_.call_timeout.count() > 0 &&
      now - oldest->since > config_.call_timeout) {
    // The same words as SessionPool's watchdog.
    MARKET_LOG_WARN("database {}: no answer within {} ms; connection cut", config_.display,
                    config_.call_timeout.count());
    return Fail(TimedOut(statements_[oldest->statement].name, config_.call_timeout), false);
  }
  StartTicking();
}

Error PgReadChannel::Lost(std::string_view what) const {
  // libpq's message names the server ("connection to server at ..."): the log's, not the caller's.
  std::string_view message = Trimmed(conn_ != nullptr ? PQerrorMessage(conn_) : nullptr);
  MARKET_LOG_WARN("database {}: connection lost {}: {}", config_.display, what,
                  message.empty() ? "connection closed" : message);
  return Unavailable("connection lost " + std::string(what));
}

DriverFailure PgReadChannel::FailureOf(const PGresult* result) const {
  DriverFailure failure;
  // No result at all for a query: libpq and the queue disagree, or the connection broke under
  // libpq. Either way the query's outcome is unknown, so it counts as lost (and is read again).
  failure.connection_bad =
      result == nullptr || conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK;
  if (result != nullptr) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    if (state != nullptr) failure.sqlstate = state;
    failure.detail = Trimmed(PQresultErrorMessage(result));
  } else {
    failure.detail = "the server sent no result";
  }
  return failure;
}

void PgReadChannel::Fail(const Error& error, bool retry) {
  // Reset first: a callback below may submit again, which then reconnects.
  std::deque<Waiting> waiting = std::move(sent_);
  for (Waiting& w : unsent_) waiting.push_back(std::move(w));
  sent_.clear();
  unsent_.clear();
  if (socket_) socket_->release();
  socket_.reset();
  ++generation_;
  reading_ = writing_ = false;
  unsynced_ = 0;  // a batch still open is closed by its pending Sync, which then finds nothing
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
  state_ = State::kClosed;
  // Reads change nothing, so one lost with its connection is tried again once, on a new one:
  // a restarted server or a connection it closed while idle costs no failed request.
  std::deque<Waiting> failed;
  for (Waiting& w : waiting) {
    if (w.kind != Kind::kQuery) continue;
    if (retry && !w.retried) {
      w.retried = true;
      w.result.reset();
      unsent_.push_back(std::move(w));
    } else {
      failed.push_back(std::move(w));
    }
  }
  if (!unsent_.empty()) Connect();
  for (Waiting& w : failed) {
    try {
      w.done(std::unexpected(error));
    } catch (const std::exception& e) {
      MARKET_LOG_ERROR("database read callback failed: {}", e.what());
    }
  }
}

}  // namespace market::sql

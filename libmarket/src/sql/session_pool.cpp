#include "sql/session_pool.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.hpp"

namespace market::sql {

namespace {

// Only called on sessions of a PostgreSQL pool. (SOCI exports no typeinfo for its session
// backends, so dynamic_cast cannot check that.)
PGconn* PgConnection(soci::session& session) {
  auto* backend = static_cast<soci::postgresql_session_backend*>(session.get_backend());
  return backend == nullptr ? nullptr : backend->conn_;
}

bool PgConnectionLost(soci::session& session) {
  PGconn* conn = PgConnection(session);
  return conn == nullptr || PQstatus(conn) != CONNECTION_OK;
}

}  // namespace

void PgNotice(void* /*arg*/, const char* message) {
  std::string_view text(message);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  MARKET_LOG_DEBUG("postgresql: {}", text);
}

bool IsUniqueViolation(const soci::soci_error& error) {
  if (const auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&error)) {
    return pg->sqlstate() == "23505";
  }
  if (const auto* lite = dynamic_cast<const soci::sqlite3_soci_error*>(&error)) {
    return lite->result() == SQLITE_CONSTRAINT &&
           error.get_error_message().find("UNIQUE") != std::string::npos;
  }
  return false;
}

// The watchdog's tick: how late after its deadline a stuck call is cut at most.
constexpr auto kWatchTick = std::chrono::milliseconds(250);

SessionPool::SessionPool(ConnectionConfig config) : config_(std::move(config)) {}

SessionPool::~SessionPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  for (Slot& slot : slots_) {
    if (slot.watch_fd >= 0) close(slot.watch_fd);
  }
}

Result<std::unique_ptr<SessionPool>> SessionPool::Open(ConnectionConfig config, int size) {
  std::unique_ptr<SessionPool> pool(new SessionPool(std::move(config)));
  pool->slots_.resize(static_cast<std::size_t>(size));
  for (std::size_t i = 0; i < pool->slots_.size(); ++i) {
    try {
      pool->Reconnect(pool->slots_[i], std::chrono::milliseconds::zero());
    } catch (const std::exception& e) {
      return Fail(Errc::kUnavailable, "database " + pool->config_.display +
                                          " cannot be opened: " + std::string(e.what()));
    }
    pool->free_.push_back(i);
  }
  if (pool->config_.call_timeout > std::chrono::milliseconds::zero()) {
    pool->watchdog_ = std::thread([p = pool.get()] { p->Watch(); });
  }
  return pool;
}

void SessionPool::Reconnect(Slot& slot, std::chrono::milliseconds timeout) {
  slot.statements.clear();  // before the session they were prepared on
  slot.session.reset();
  auto session = Connect();
  int fd = -1;
  if (is_postgres()) {
    PGconn* conn = PgConnection(*session);
    if (conn != nullptr && PQsocket(conn) >= 0) fd = fcntl(PQsocket(conn), F_DUPFD_CLOEXEC, 0);
  }
  std::lock_guard lock(mutex_);
  if (slot.watch_fd >= 0) close(slot.watch_fd);
  slot.watch_fd = fd;
  slot.session = std::move(session);
  slot.broken = false;
  // The lease's time starts now: a cut during a slow connect concerned the old connection.
  slot.cut = false;
  slot.deadline = timeout > std::chrono::milliseconds::zero() ? Clock::now() + timeout
                                                               : Clock::time_point::max();
}

void SessionPool::Watch() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto now = Clock::now();
    for (Slot& slot : slots_) {
      if (slot.cut || slot.deadline > now || slot.watch_fd < 0) continue;
      // Wakes the blocked libpq call with end-of-file; the session is then broken and is
      // replaced before its next use. The server rolls back whatever transaction was open.
      shutdown(slot.watch_fd, SHUT_RDWR);
      slot.cut = true;
      MARKET_LOG_WARN("database {}: no answer within {} ms; connection cut", config_.display,
                      config_.call_timeout.count());
    }
    stop_.wait_for(lock, kWatchTick);
  }
}

bool SessionPool::WasCut(std::size_t slot) {
  std::lock_guard lock(mutex_);
  return slots_[slot].cut;
}

std::optional<Error> SessionPool::LostDuring(std::size_t slot, std::string_view what,
                                             const Error& answer) {
  std::optional<Error> lost;
  if (WasCut(slot)) {
    lost = TimedOut(what, config_.call_timeout);
  } else if (is_postgres() && PgConnectionLost(*slots_[slot].session)) {
    lost = Unavailable(what);
  }
  if (lost) {
    MARKET_LOG_WARN("database {}: connection lost during {}; its answer {} ({}) is not trusted",
                    config_.display, what, static_cast<int>(answer.code), answer.message);
  }
  return lost;
}

std::unique_ptr<soci::session> SessionPool::Connect() const {
  if (config_.dialect == Dialect::kPostgres) {
    auto session =
        std::make_unique<soci::session>(*soci::factory_postgresql(), config_.connect_string);
    if (PGconn* conn = PgConnection(*session)) PQsetNoticeProcessor(conn, PgNotice, nullptr);
    // Sessions must see timestamps and text the same way whatever the server's defaults are.
    *session << "SET TIME ZONE 'UTC'";
    return session;
  }
  auto session = std::make_unique<soci::session>(*soci::factory_sqlite3(), config_.connect_string);
  // The busy timeout first: switching to WAL needs a lock another process may hold briefly.
  // PRAGMA takes no bound parameters; the value is an integer from the configuration.
  *session << ("PRAGMA busy_timeout = " + std::to_string(config_.busy_timeout_ms));
  std::string mode;
  *session << "PRAGMA journal_mode = WAL", soci::into(mode);
  *session << "PRAGMA foreign_keys = ON";
  *session << "PRAGMA synchronous = NORMAL";
  return session;
}

bool SessionPool::LooksAlive(soci::session& session) const {
  if (config_.dialect != Dialect::kPostgres) return true;
  PGconn* conn = PgConnection(session);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) return false;
  // Reads whatever the server sent while the session sat idle without waiting: a terminated
  // backend or a restarted server shows up here as a closed connection, so the caller gets a
  // fresh session instead of a failed request.
  // An idle healthy connection has nothing to read, so this costs one poll() and no round trip.
  // A killed one has the server's FATAL message and then end-of-file: two reads.
  for (int i = 0; i < 4; ++i) {
    pollfd fd{PQsocket(conn), POLLIN, 0};
    if (poll(&fd, 1, 0) <= 0) break;
    if (PQconsumeInput(conn) == 0) return false;
  }
  return PQstatus(conn) == CONNECTION_OK;
}

Result<std::size_t> SessionPool::Acquire(std::chrono::milliseconds timeout,
                                         std::string_view what) {
  std::size_t index = 0;
  {
    std::unique_lock lock(mutex_);
    ++waiting_;
    bool got = available_.wait_for(lock, kAcquireTimeout, [this] { return !free_.empty(); });
    --waiting_;
    if (!got) {
      MARKET_LOG_WARN("database {}: no free session within {} ms for {}", config_.display,
                      kAcquireTimeout.count(), what);
      return Fail(Errc::kUnavailable, "the database is busy (no free session within " +
                                          std::to_string(kAcquireTimeout.count()) + " ms); retry");
    }
    index = free_.back();
    free_.pop_back();
    if (timeout > std::chrono::milliseconds::zero()) {
      slots_[index].deadline = Clock::now() + timeout;
    }
  }
  Slot& slot = slots_[index];
  if (slot.broken || slot.session == nullptr || !LooksAlive(*slot.session)) {
    try {
      Reconnect(slot, timeout);
      MARKET_LOG_INFO("database {}: session reconnected", config_.display);
    } catch (const std::exception& e) {
      Release(index, true);
      // Whatever the driver said (refused, the server starting or shutting down, a file that
      // cannot be opened), there is no session to answer with.
      return std::unexpected(
          DatabaseFailure(config_.display, what, {.connection_bad = true, .detail = e.what()}));
    }
  }
  return index;
}

SessionPool::Slot*& SessionPool::CurrentSlot() {
  thread_local Slot* current = nullptr;
  return current;
}

SessionPool::Usage SessionPool::CurrentUsage() {
  std::lock_guard lock(mutex_);
  int size = static_cast<int>(slots_.size());
  return Usage{size, size - static_cast<int>(free_.size()), waiting_};
}

void SessionPool::Release(std::size_t slot, bool broken) {
  {
    std::lock_guard lock(mutex_);
    Slot& s = slots_[slot];
    // A call that finished just as the watchdog cut it still leaves a dead connection.
    if (broken || s.cut) s.broken = true;
    s.cut = false;
    s.deadline = Clock::time_point::max();
    free_.push_back(slot);
  }
  available_.notify_one();
}

Error SessionPool::Classify(std::string_view what, const std::exception& e, soci::session& session,
                            bool& broken) const {
  DriverFailure failure;
  failure.detail = e.what();
  std::string state;
  if (config_.dialect == Dialect::kPostgres) {
    if (const auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&e)) {
      state = pg->sqlstate();
      // SOCI pads a missing SQLSTATE with spaces.
      if (state.find_first_not_of(' ') == std::string::npos) state.clear();
    }
    failure.sqlstate = state;
    failure.connection_bad = PgConnectionLost(session);
  } else if (const auto* lite = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
    failure.sqlite_result = lite->result();
  }
  if (sql::Classify(failure) == FailureKind::kConnectionLost) broken = true;
  return DatabaseFailure(config_.display, what, failure);
}

Transaction::Transaction(soci::session& session, SessionPool& pool, Kind kind)
    : session_(session) {
  if (pool.dialect() == Dialect::kSqlite && kind == Kind::kWrite) {
    writer_ = std::unique_lock(pool.sqlite_writer());
    session_ << "BEGIN IMMEDIATE";
  } else {
    session_ << "BEGIN";
  }
}

Transaction::~Transaction() {
  if (!open_) return;
  try {
    session_ << "ROLLBACK";
  } catch (const std::exception&) {
    // The connection is gone or the transaction already ended; the pool replaces a broken
    // session, and an unterminated transaction dies with its connection.
  }
}

void Transaction::Commit() {
  session_ << "COMMIT";
  open_ = false;
  if (writer_.owns_lock()) writer_.unlock();
}

}  // namespace market::sql

#pragma once
// The database sessions both SQL stores share: a fixed-size pool that reconnects broken sessions,
// the transaction guard, and the one place where SOCI exceptions become market::Error values
// (through db_failure.hpp, as the non-blocking reads' failures do).

#include <soci/soci.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "market/error.hpp"
#include "sql/db_failure.hpp"

namespace market::sql {

enum class Dialect { kSqlite, kPostgres };

struct ConnectionConfig {
  Dialect dialect = Dialect::kSqlite;
  std::string connect_string;  // what SOCI's backend gets; may hold a password: never logged
  std::string display;         // safe to show: path, or host:port/dbname
  int busy_timeout_ms = 5000;
  // PostgreSQL: how long one Run may hold its session before the watchdog cuts the connection
  // (a stopped or hung server keeps TCP alive, so nothing else ends the wait). 0: no limit,
  // and always 0 for SQLite, whose calls wait at most the busy timeout.
  std::chrono::milliseconds call_timeout{0};
};

// Why a statement failed, as far as the stores' logic cares.
bool IsUniqueViolation(const soci::soci_error& error);
// libpq's notice processor for every connection: server notices (and the FATAL of a terminated
// session) go to the library's log, not stderr.
void PgNotice(void* arg, const char* message);

// A statement prepared once on a session and executed many times (SQLite skips the parse,
// PostgreSQL the parse and plan and a round trip). Subclasses hold the soci::statement and the
// variables it binds; they live with their session and go before it does.
class CachedStatement {
 public:
  virtual ~CachedStatement() = default;
};

class SessionPool {
 public:
  // How long a caller waits for a free session before kUnavailable.
  static constexpr std::chrono::milliseconds kAcquireTimeout{10000};

  // Connects `size` sessions; kUnavailable when the database cannot be opened.
  static Result<std::unique_ptr<SessionPool>> Open(ConnectionConfig config, int size);

  Dialect dialect() const { return config_.dialect; }
  // SQLite: held by this process's write transaction (see Transaction).
  std::mutex& sqlite_writer() { return sqlite_writer_; }
  bool is_postgres() const { return config_.dialect == Dialect::kPostgres; }

  // For monitoring: sessions in the pool, leased now, and callers waiting for one.
  struct Usage {
    int size = 0;
    int in_use = 0;
    int waiting = 0;
  };
  Usage CurrentUsage();

  // Runs `fn(soci::session&)` (which returns a Result) on a leased session. A SOCI exception
  // becomes kUnavailable (connection lost, lock timeout) or kInternal; a session whose
  // connection broke is replaced before its next use. An error value (kNotFound, ...) that
  // `fn` returns while its connection broke becomes kUnavailable too: the statements it rests
  // on may have failed without saying so, and a client must never hear "not found" for what
  // the database could not answer.
  // On PostgreSQL a call that outlasts the configured call timeout has its connection cut and
  // fails with kUnavailable; RunUnbounded is for work that may rightly take longer (migrations).
  template <class Fn>
  auto Run(std::string_view what, Fn&& fn) -> std::invoke_result_t<Fn&, soci::session&> {
    return RunWithin(config_.call_timeout, what, std::forward<Fn>(fn));
  }
  template <class Fn>
  auto RunUnbounded(std::string_view what, Fn&& fn)
      -> std::invoke_result_t<Fn&, soci::session&> {
    return RunWithin(std::chrono::milliseconds::zero(), what, std::forward<Fn>(fn));
  }

  // The statement `key` of the session this thread holds inside Run, made by `make()` on
  // first use. Only for `session`, the one Run passed in.
  template <class T, class Make>
  T& Prepared(soci::session& session, std::string_view key, Make&& make) {
    Slot* slot = CurrentSlot();
    if (slot == nullptr || slot->session.get() != &session) {
      throw std::logic_error("SessionPool::Prepared outside Run");
    }
    auto it = slot->statements.find(key);
    if (it == slot->statements.end()) {
      it = slot->statements.emplace(std::string(key), std::unique_ptr<CachedStatement>(make()))
               .first;
    }
    return static_cast<T&>(*it->second);
  }

  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;
  ~SessionPool();

 private:
  using Clock = std::chrono::steady_clock;

  struct Slot {
    std::unique_ptr<soci::session> session;
    bool broken = false;
    // After `session`: destroyed first, since the statements use it.
    std::map<std::string, std::unique_ptr<CachedStatement>, std::less<>> statements;
    // The watchdog's view, guarded by mutex_. `watch_fd` is a dup of the PostgreSQL socket: it
    // keeps the socket's number from being reused by anything else while the watchdog may
    // still shut it down, even after libpq closed its own descriptor.
    int watch_fd = -1;
    Clock::time_point deadline = Clock::time_point::max();  // max: idle or unbounded
    bool cut = false;  // the watchdog shut the connection down during this lease
  };

  template <class Fn>
  auto RunWithin(std::chrono::milliseconds timeout, std::string_view what, Fn&& fn)
      -> std::invoke_result_t<Fn&, soci::session&> {
    auto slot = Acquire(timeout, what);
    if (!slot) return std::unexpected(slot.error());
    bool broken = false;
    LeasedSlot leased(&slots_[*slot]);
    try {
      auto result = fn(*slots_[*slot].session);
      if (!result) {
        if (auto lost = LostDuring(*slot, what, result.error())) {
          result = std::unexpected(std::move(*lost));
          broken = true;
        }
      }
      Release(*slot, broken);
      return result;
    } catch (const std::exception& e) {
      Error error = Classify(what, e, *slots_[*slot].session, broken);
      if (WasCut(*slot)) error = TimedOut(what, config_.call_timeout);
      // A statement that threw may be mid-result: prepare afresh next time.
      slots_[*slot].statements.clear();
      Release(*slot, broken);
      return std::unexpected(std::move(error));
    }
  }
  // The slot this thread leased in Run (nested Runs restore the outer one).
  static Slot*& CurrentSlot();
  class LeasedSlot {
   public:
    explicit LeasedSlot(Slot* slot) : previous_(CurrentSlot()) { CurrentSlot() = slot; }
    ~LeasedSlot() { CurrentSlot() = previous_; }
    LeasedSlot(const LeasedSlot&) = delete;
    LeasedSlot& operator=(const LeasedSlot&) = delete;

   private:
    Slot* previous_;
  };

  explicit SessionPool(ConnectionConfig config);

  // A connected session with the per-connection settings applied; throws soci_error.
  std::unique_ptr<soci::session> Connect() const;
  // Leases a slot, reconnecting it first when it is broken or its server went away, and arms
  // the watchdog for `timeout` (0: not at all). `what` names the call for its error.
  Result<std::size_t> Acquire(std::chrono::milliseconds timeout, std::string_view what);
  // Gives the slot back; a slot the watchdog cut is reconnected before its next use.
  void Release(std::size_t slot, bool broken);
  // Replaces the slot's session with a new connection (called outside mutex_) and arms the
  // watchdog for `timeout` from now (0: not at all). Throws soci_error.
  void Reconnect(Slot& slot, std::chrono::milliseconds timeout);
  bool WasCut(std::size_t slot);
  // After `fn` returned `answer` as an error value: the error the caller gets instead when the
  // slot's connection was cut or lost meanwhile (nullopt: the answer stands).
  std::optional<Error> LostDuring(std::size_t slot, std::string_view what, const Error& answer);
  // The watchdog thread (PostgreSQL pools with a call timeout): cuts the connection of any
  // lease past its deadline.
  void Watch();
  bool LooksAlive(soci::session& session) const;
  Error Classify(std::string_view what, const std::exception& e, soci::session& session,
                 bool& broken) const;

  ConnectionConfig config_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<Slot> slots_;
  std::vector<std::size_t> free_;
  int waiting_ = 0;  // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  std::mutex sqlite_writer_;
  std::condition_variable stop_;
  std::thread watchdog_;  // last: started after everything it reads
};

// BEGIN ... COMMIT with rollback on scope exit. SQLite write transactions take the write lock
// up front (BEGIN IMMEDIATE) so concurrent writers queue instead of failing to upgrade a read
// lock with "database is locked". Within this process they queue on the pool's writer mutex
// first: SQLite's busy handler polls with sleeps of up to 100 ms and serves no one in order,
// so under many writers some waited seconds and a few ran out the busy timeout. The busy
// timeout still covers other processes on the same file.
class Transaction {
 public:
  enum class Kind { kRead, kWrite };
  Transaction(soci::session& session, SessionPool& pool, Kind kind);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void Commit();

 private:
  soci::session& session_;
  std::unique_lock<std::mutex> writer_;  // SQLite write transactions only
  bool open_ = true;
};

}  // namespace market::sql

#pragma once
// The one classification of a failed database call, shared by the session pool (SOCI) and the
// non-blocking reads (libpq): which code the caller gets, and the words it sees.
//
// A lost, closing or timed-out connection is kUnavailable, never an answer about the data: a
// read whose connection died proves nothing about the row it asked for. The words name the
// operation ("project get") and never the database's host, port, name, user or file, nor the
// driver's text, which quotes them (`connection to server at "10.0.0.5", port 5432 failed`);
// that detail goes to the library's log (market-server adds the request id to each line).

#include <chrono>
#include <string>
#include <string_view>

#include "market/error.hpp"

namespace market::sql {

// What the driver said about a failed call.
struct DriverFailure {
  std::string_view sqlstate{};  // PostgreSQL's SQLSTATE; empty when there is none
  bool connection_bad = false;  // libpq no longer has a working connection (PQstatus)
  int sqlite_result = 0;        // SQLite's result code; 0 when not SQLite
  std::string_view detail{};    // the driver's message: for the log only
};

enum class FailureKind {
  kConnectionLost,  // the connection broke, or the server is going away or not yet up
  kBusy,            // a lock or a resource was not free in time; the same call may succeed
  kError,           // the statement itself failed (a bug, a corrupt row): retrying will not help
};

// A PostgreSQL SQLSTATE that means the connection is gone or the server cannot serve now:
// class 08 (connection exceptions), 57P01..57P03 (shut down by an administrator, crash of
// another backend, cannot connect now: starting up or shutting down).
bool IsConnectionLossState(std::string_view sqlstate);

FailureKind Classify(const DriverFailure& failure);

// The caller's Error for `failure` during `what`: kUnavailable for a lost connection or a busy
// database, kInternal for anything else. Logs the detail with `display` (the database's name
// for the log: the URL without its password).
Error DatabaseFailure(std::string_view display, std::string_view what,
                      const DriverFailure& failure);

// The texts of failures decided without the driver's word. They are the only words a client
// sees about the database.
Error Unavailable(std::string_view what);  // kUnavailable: the connection is gone or refused
Error TimedOut(std::string_view what, std::chrono::milliseconds limit);  // cut by a watchdog

}  // namespace market::sql

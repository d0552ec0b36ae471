#include "sql/db_failure.hpp"

#include <sqlite3.h>

#include "log.hpp"

namespace market::sql {

namespace {

// SQLSTATEs after which the same call may well succeed: serialization failure, deadlock, a
// lock not granted, too many connections, a statement cancelled (statement_timeout, or an
// administrator's pg_cancel_backend).
bool IsTransientState(std::string_view sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" ||
         sqlstate == "53300" || sqlstate == "57014";
}

std::string_view Trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  return text;
}

}  // namespace

bool IsConnectionLossState(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

FailureKind Classify(const DriverFailure& failure) {
  // A broken connection first: whatever else the call reported, it did not finish.
  if (failure.connection_bad || IsConnectionLossState(failure.sqlstate)) {
    return FailureKind::kConnectionLost;
  }
  if (IsTransientState(failure.sqlstate)) return FailureKind::kBusy;
  switch (failure.sqlite_result & 0xff) {  // the primary code of an extended one
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return FailureKind::kBusy;
    // The file cannot be read or written (removed, unmounted, disk full): the database is
    // unavailable, as a PostgreSQL server that went away is.
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
      return FailureKind::kConnectionLost;
    default:
      return FailureKind::kError;
  }
}

Error DatabaseFailure(std::string_view display, std::string_view what,
                      const DriverFailure& failure) {
  const std::string_view detail = Trimmed(failure.detail);
  switch (Classify(failure)) {
    case FailureKind::kConnectionLost:
      MARKET_LOG_WARN("database {}: connection lost during {}: {}", display, what, detail);
      return Unavailable(what);
    case FailureKind::kBusy:
      MARKET_LOG_WARN("database {}: busy during {}: {}", display, what, detail);
      return Error{Errc::kUnavailable, "the database is busy (" + std::string(what) + "); retry"};
    case FailureKind::kError:
      break;
  }
  MARKET_LOG_ERROR("database {}: {} failed: {}", display, what, detail);
  return Error{Errc::kInternal, "database error during " + std::string(what)};
}

Error Unavailable(std::string_view what) {
  return Error{Errc::kUnavailable,
               "the database is unavailable (" + std::string(what) + "); retry"};
}

Error TimedOut(std::string_view what, std::chrono::milliseconds limit) {
  return Error{Errc::kUnavailable, "the database did not answer within " +
                                       std::to_string(limit.count()) + " ms (" +
                                       std::string(what) + "); retry"};
}

}  // namespace market::sql

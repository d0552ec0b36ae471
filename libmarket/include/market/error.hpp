#pragma once
// Domain errors: the seed API's return codes travel as values (std::expected).

#include <expected>
#include <string>
#include <utility>

namespace market {

// 10000..10009 and 10100 are the original's table; 10010 and up are new situations.
// The server maps each code to one HTTP status (server/error_mapping.cpp).
enum class Errc : int {
  kOk = 10000,
  kAlreadyExists = 10001,
  kCloneSourceMissing = 10002,
  kDeleteTargetMissing = 10003,
  kExtensionBadParams = 10004,
  kExtensionCallFailed = 10005,
  kInvalid = 10006,
  kBuildProjectMissing = 10007,
  kNotFound = 10008,
  kUnknownPlugin = 10009,
  kBuildActive = 10010,            // the project has a queued or running build
  kBuildNotFound = 10011,          // no build with that id (or no build history)
  kBuildFinished = 10012,          // cancel of a build that already ended
  kRegistryNotConfigured = 10013,  // no --registry given
  kUpstreamFailed = 10014,         // the registry answered an error or could not be reached
  kUpstreamTimeout = 10015,        // the registry did not answer in time
  kTagShared = 10016,              // deleting the digest would remove other tags too
  kUnavailable = 10017,            // the database cannot be reached right now
  kUnauthorized = 10018,
  kForbidden = 10019,
  kTooManyRequests = 10020,
  kRegistryUnsupported = 10021,    // the registry refuses the operation (e.g. deletes disabled)
  kInternal = 10100,
};

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
};

template <class T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> Fail(Errc code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

// The original's short text for a code ("project already exist", ...).
const char* DefaultMessage(Errc code);

}  // namespace market

// Error propagation, written once. In a function that returns a Result of any type:
//   MARKET_ASSIGN_OR_RETURN(auto dir, PrivateDir::Create("x-"));  // dir: the value, or return
//   MARKET_RETURN_IF_ERROR(WriteNewFile(path, text, 0600));        // any Result, value unused
// The failed Result's Error is returned unchanged. The expression is variadic so that braced
// lists ({a, b}) may appear in it.
#define MARKET_CONCAT_INNER(a, b) a##b
#define MARKET_CONCAT(a, b) MARKET_CONCAT_INNER(a, b)
#define MARKET_ASSIGN_OR_RETURN(lhs, ...) \
  MARKET_ASSIGN_OR_RETURN_IMPL(MARKET_CONCAT(market_result_, __LINE__), lhs, __VA_ARGS__)
#define MARKET_ASSIGN_OR_RETURN_IMPL(tmp, lhs, ...)             \
  auto tmp = (__VA_ARGS__);                                     \
  if (!tmp) return ::std::unexpected(::std::move(tmp).error()); \
  lhs = ::std::move(*tmp)
#define MARKET_RETURN_IF_ERROR(...)                                                   \
  do {                                                                                \
    auto market_status = (__VA_ARGS__);                                               \
    if (!market_status) return ::std::unexpected(::std::move(market_status).error()); \
  } while (false)

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

#include "error_mapping.hpp"

#include "logging.hpp"

namespace market::server {

// One status per code (docs/api.md has the table). A body over the size limit is the single
// exception: 10006 with 413, decided where the limit is enforced (http_session.cpp).
boost::beast::http::status HttpStatusFor(Errc code) {
  using boost::beast::http::status;
  switch (code) {
    case Errc::kOk:
      return status::ok;
    case Errc::kAlreadyExists:
    case Errc::kBuildActive:
    case Errc::kBuildFinished:
    case Errc::kTagShared:
      return status::conflict;
    case Errc::kCloneSourceMissing:
    case Errc::kDeleteTargetMissing:
    case Errc::kBuildProjectMissing:
    case Errc::kNotFound:
    case Errc::kUnknownPlugin:
    case Errc::kBuildNotFound:
      return status::not_found;
    case Errc::kExtensionBadParams:
    case Errc::kInvalid:
      return status::bad_request;
    case Errc::kExtensionCallFailed:
    case Errc::kUpstreamFailed:
    case Errc::kRegistryUnsupported:
      return status::bad_gateway;
    case Errc::kRegistryNotConfigured:
    case Errc::kUnavailable:
      return status::service_unavailable;
    case Errc::kUpstreamTimeout:
      return status::gateway_timeout;
    case Errc::kUnauthorized:
      return status::unauthorized;
    case Errc::kForbidden:
      return status::forbidden;
    case Errc::kTooManyRequests:
      return status::too_many_requests;
    case Errc::kInternal:
      return status::internal_server_error;
  }
  return status::internal_server_error;
}

std::string ClientMessage(const Error& error) {
  std::string message =
      error.message.empty() ? std::string(DefaultMessage(error.code)) : error.message;
  if (error.code != Errc::kUnavailable && error.code != Errc::kInternal) return message;
  std::string_view request_id = CurrentRequestId();
  if (request_id.empty()) return message;
  return message + " (request id " + std::string(request_id) + ")";
}

}  // namespace market::server

#pragma once
// spdlog set-up, the sink that forwards libmarket's lines to it, and the request id that every
// line written while a request is handled carries.

#include <string>
#include <string_view>

#include "market/error.hpp"
#include "market/log_sink.hpp"

namespace market::server {

// Installs the process's spdlog logger (stderr) at `level` ("trace".."off") and forwards
// libmarket's lines to it.
void SetUpLogging(std::string_view level);

// The request id of the request this thread is handling ("" when none).
std::string_view CurrentRequestId();

// Marks this thread as working for a request for the scope's lifetime.
class RequestIdScope {
 public:
  explicit RequestIdScope(std::string_view request_id);
  ~RequestIdScope();
  RequestIdScope(const RequestIdScope&) = delete;
  RequestIdScope& operator=(const RequestIdScope&) = delete;

 private:
  std::string previous_;
};

// A fresh random request id (16 hex digits).
std::string NewRequestId();
// A client's X-Request-Id when it is safe to echo and log: 1..128 of [A-Za-z0-9._:-].
bool IsUsableRequestId(std::string_view id);

}  // namespace market::server

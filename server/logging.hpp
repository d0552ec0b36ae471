#pragma once
// spdlog set-up, the sink that forwards libmarket's lines to it, and the request id that every
// line written while a request is handled carries.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "market/error.hpp"
#include "market/log_sink.hpp"

namespace market::server {

enum class LogFormat {
  kText,  // 2024-05-06T07:08:09.123Z info [tid] [rid=ID] message
  kJson,  // one JSON object a line: time, level, logger, msg, request_id (when set), fields
};
std::optional<LogFormat> ParseLogFormat(std::string_view text);  // "text" or "json"

// Installs the process's spdlog loggers ("market"; "core" for libmarket's lines) on stderr at
// `level` ("trace".."off") in `format`. Again later: changes level and format.
void SetUpLogging(std::string_view level, LogFormat format = LogFormat::kText);

// One answered request. The path never has its query string (it may hold secrets).
struct AccessRecord {
  std::string_view method;
  std::string_view path;
  std::string_view route;  // the route table's pattern; empty when no route matched
  unsigned status = 0;
  double duration_ms = 0;
  std::uint64_t bytes = 0;
  std::string_view client;
};
// The access log line, at info, under the current request id (see RequestIdScope). In JSON
// every item is a field of its own.
void WriteAccessLog(const AccessRecord& record);

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

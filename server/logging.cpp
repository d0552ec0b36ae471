#include "logging.hpp"

#include <random>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace market::server {

namespace {

thread_local std::string t_request_id;

spdlog::level::level_enum SpdLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

class SpdlogSink final : public LogSink {
 public:
  void Write(LogLevel level, std::string_view message) override {
    std::string_view rid = CurrentRequestId();
    if (rid.empty()) {
      spdlog::log(SpdLevel(level), "[core] {}", message);
    } else {
      spdlog::log(SpdLevel(level), "[core] [rid={}] {}", rid, message);
    }
  }
};

SpdlogSink g_sink;

}  // namespace

void SetUpLogging(std::string_view level) {
  std::shared_ptr<spdlog::logger> logger = spdlog::get("market");
  if (!logger) logger = spdlog::stderr_color_mt("market");  // tests start several servers
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%t] %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  spdlog::level::level_enum spd = spdlog::level::from_str(std::string(level));
  spdlog::set_level(spd);
  LogLevel market_level = LogLevel::kInfo;
  switch (spd) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      market_level = LogLevel::kDebug;
      break;
    case spdlog::level::info:
      market_level = LogLevel::kInfo;
      break;
    case spdlog::level::warn:
      market_level = LogLevel::kWarn;
      break;
    case spdlog::level::err:
    case spdlog::level::critical:
      market_level = LogLevel::kError;
      break;
    default:
      market_level = LogLevel::kOff;
  }
  SetLogLevel(market_level);
  SetLogSink(&g_sink);
}

std::string_view CurrentRequestId() { return t_request_id; }

RequestIdScope::RequestIdScope(std::string_view request_id) : previous_(t_request_id) {
  t_request_id = request_id;
}

RequestIdScope::~RequestIdScope() { t_request_id = previous_; }

std::string NewRequestId() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return fmt::format("{:016x}", generator());
}

bool IsUsableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace market::server

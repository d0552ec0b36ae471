#include "logging.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace market::server {

namespace {

thread_local std::string t_request_id;
// Extra fields of the line being written on this thread (the access log's), for JSON.
thread_local const nlohmann::ordered_json* t_fields = nullptr;
std::atomic<LogFormat> g_format{LogFormat::kText};

constexpr std::string_view kCoreLogger = "core";

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

std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// " [core]" for libmarket's lines, " [rid=ID]" while a request is handled: %q in the pattern.
class ContextFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (std::string_view(msg.logger_name.data(), msg.logger_name.size()) == kCoreLogger) {
      fmt::format_to(std::back_inserter(dest), " [core]");
    }
    if (!t_request_id.empty()) fmt::format_to(std::back_inserter(dest), " [rid={}]", t_request_id);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ContextFlag>();
  }
};

// One JSON object a line. Keys in a fixed order so lines read well by eye too; invalid UTF-8
// in a message is replaced rather than breaking the line.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                      msg.time.time_since_epoch()) %
                  1000;
    std::time_t seconds = std::chrono::system_clock::to_time_t(msg.time);
    nlohmann::ordered_json line;
    line["time"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(seconds), millis.count());
    line["level"] = LevelName(msg.level);
    line["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    line["msg"] = std::string(msg.payload.data(), msg.payload.size());
    if (!t_request_id.empty()) line["request_id"] = t_request_id;
    line["thread"] = msg.thread_id;
    if (t_fields != nullptr) {
      for (const auto& [key, value] : t_fields->items()) line[key] = value;
    }
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

std::unique_ptr<spdlog::formatter> MakeFormatter(LogFormat format) {
  if (format == LogFormat::kJson) return std::make_unique<JsonFormatter>();
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<ContextFlag>('q').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%t]%q %v");
  return formatter;
}

class SpdlogSink final : public LogSink {
 public:
  void Write(LogLevel level, std::string_view message) override {
    if (std::shared_ptr<spdlog::logger> core = spdlog::get(std::string(kCoreLogger))) {
      core->log(SpdLevel(level), "{}", message);
    }
  }
};

SpdlogSink g_sink;

}  // namespace

std::optional<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return std::nullopt;
}

void SetUpLogging(std::string_view level, LogFormat format) {
  // Tests start several servers: the loggers are made once, then reconfigured.
  std::shared_ptr<spdlog::logger> logger = spdlog::get("market");
  if (!logger) logger = spdlog::stderr_color_mt("market");
  std::shared_ptr<spdlog::logger> core = spdlog::get(std::string(kCoreLogger));
  if (!core) {
    core = std::make_shared<spdlog::logger>(std::string(kCoreLogger), logger->sinks().begin(),
                                            logger->sinks().end());
    spdlog::register_logger(core);
  }
  g_format = format;
  // Both loggers share the one sink, so one formatter serves both.
  logger->set_formatter(MakeFormatter(format));
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

void WriteAccessLog(const AccessRecord& record) {
  if (!spdlog::should_log(spdlog::level::info)) return;
  std::string_view route = record.route.empty() ? std::string_view("-") : record.route;
  if (g_format.load() == LogFormat::kJson) {
    nlohmann::ordered_json fields = {
        {"method", record.method},          {"path", record.path},
        {"route", route},                   {"status", record.status},
        {"duration_ms", std::round(record.duration_ms * 1000) / 1000},
        {"bytes", record.bytes},            {"client", record.client}};
    t_fields = &fields;
    spdlog::info("request");
    t_fields = nullptr;
    return;
  }
  spdlog::info("{} {} {} {} {:.1f}ms {}B route={}", record.client, record.method, record.path,
               record.status, record.duration_ms, record.bytes, route);
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

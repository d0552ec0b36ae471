#include "market/log_sink.hpp"

#include <atomic>

namespace market {

namespace {
std::atomic<LogSink*> g_sink{nullptr};
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
}  // namespace

void SetLogSink(LogSink* sink) { g_sink.store(sink); }

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) {
  return g_sink.load(std::memory_order_relaxed) != nullptr &&
         static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void LogWrite(LogLevel level, std::string_view message) {
  if (LogSink* sink = g_sink.load(); sink != nullptr) sink->Write(level, message);
}

}  // namespace market

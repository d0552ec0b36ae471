#pragma once
// Logging macros that libmarket, harbor_client and the server share privately. Arguments are
// formatted (and evaluated) only when the level is on; lines go to the sink installed with
// market::SetLogSink.

#include <fmt/format.h>

#include "market/log_sink.hpp"

#define MARKET_LOG_AT(level, ...)                                  \
  do {                                                             \
    if (::market::LogEnabled(level)) {                             \
      ::market::LogWrite(level, ::fmt::format(__VA_ARGS__));       \
    }                                                              \
  } while (false)

#define MARKET_LOG_DEBUG(...) MARKET_LOG_AT(::market::LogLevel::kDebug, __VA_ARGS__)
#define MARKET_LOG_INFO(...) MARKET_LOG_AT(::market::LogLevel::kInfo, __VA_ARGS__)
#define MARKET_LOG_WARN(...) MARKET_LOG_AT(::market::LogLevel::kWarn, __VA_ARGS__)
#define MARKET_LOG_ERROR(...) MARKET_LOG_AT(::market::LogLevel::kError, __VA_ARGS__)

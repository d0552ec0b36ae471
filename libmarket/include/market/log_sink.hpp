#pragma once
// Where libmarket's log lines go. The library never writes to stderr itself: an embedding
// program (or the server) installs a sink; without one, lines are dropped.

#include <string_view>

namespace market {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Write(LogLevel level, std::string_view message) = 0;
};

// The sink must outlive every library call; nullptr drops lines. Thread-safe.
void SetLogSink(LogSink* sink);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogWrite(LogLevel level, std::string_view message);

}  // namespace market

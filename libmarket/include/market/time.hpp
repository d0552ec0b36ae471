#pragma once
// Time points at millisecond precision, ISO 8601 UTC text, and an injectable clock.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace market {

using TimePoint = std::chrono::sys_time<std::chrono::milliseconds>;

// "2026-11-28T15:20:33.123Z" (milliseconds are always written).
std::string FormatIso8601(TimePoint t);
std::optional<TimePoint> ParseIso8601(std::string_view text);
// "20261128-152033": the tag given to a build requested without one.
std::string FormatCompactUtc(TimePoint t);

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};
using ClockPtr = std::unique_ptr<Clock>;

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override;
};

}  // namespace market

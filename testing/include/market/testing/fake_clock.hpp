#pragma once
// A clock that only moves when a test moves it.

#include <atomic>
#include <chrono>

#include "market/time.hpp"

namespace market::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint{std::chrono::milliseconds{1'790'000'000'000}});
  TimePoint Now() const override;
  void Advance(std::chrono::milliseconds by);
  void Set(TimePoint t);

 private:
  std::atomic<std::int64_t> now_ms_;
};

}  // namespace market::testing

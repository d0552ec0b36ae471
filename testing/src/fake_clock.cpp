#include "market/testing/fake_clock.hpp"

namespace market::testing {

FakeClock::FakeClock(TimePoint start) : now_ms_(start.time_since_epoch().count()) {}

TimePoint FakeClock::Now() const { return TimePoint{std::chrono::milliseconds{now_ms_.load()}}; }

void FakeClock::Advance(std::chrono::milliseconds by) { now_ms_ += by.count(); }

void FakeClock::Set(TimePoint t) { now_ms_ = t.time_since_epoch().count(); }

}  // namespace market::testing

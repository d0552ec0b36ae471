#pragma once
// How long each step of one build took, for a debug line per build: operators read where a
// build's time went (queue, workspace, registry reads, builder, database) without a profiler.

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <string_view>

namespace market {

class StepTimer {
 public:
  StepTimer() : last_(Clock::now()), first_(last_) {}

  // Ends the step running since the previous Mark (or construction) and names it.
  void Mark(std::string_view step) {
    const auto now = Clock::now();
    if (!steps_.empty()) steps_ += ", ";
    steps_ += fmt::format("{} {} ms", step, Millis(now - last_));
    last_ = now;
  }

  // "step 3 ms, step 1200 ms (total 1203 ms)".
  std::string Summary() const {
    return fmt::format("{} (total {} ms)", steps_, Millis(Clock::now() - first_));
  }

 private:
  using Clock = std::chrono::steady_clock;
  static long long Millis(Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  }

  Clock::time_point last_;
  Clock::time_point first_;
  std::string steps_;
};

}  // namespace market

#pragma once
// When a retention rule set runs by itself. Two forms, both in UTC:
//   "every <N>m", "every <N>h", "every <N>d"  an interval from the previous scheduled time
//                                             (N from 1; at least 5 minutes, at most 366 days)
//   "M H DoM Mon DoW"                         a 5-field cron subset: each field "*", "*/S",
//                                             "A", "A-B", "A-B/S" or a comma list of those;
//                                             minutes 0-59, hours 0-23, days 1-31, months 1-12,
//                                             weekdays 0-6 (0 is Sunday). As in cron, when both
//                                             DoM and DoW are restricted either may match.

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "market/error.hpp"
#include "market/time.hpp"

namespace market {

class RetentionSchedule {
 public:
  // kInvalid naming `field`.
  static Result<RetentionSchedule> Parse(std::string_view field, std::string_view text);

  // The first scheduled time strictly after `after`; none when the cron fields never match
  // within four years (e.g. "0 0 31 2 *").
  std::optional<TimePoint> Next(TimePoint after) const;

 private:
  std::optional<std::chrono::minutes> every_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;
  std::bitset<13> months_;
  std::bitset<7> weekdays_;
  bool any_day_ = true;      // DoM is "*"
  bool any_weekday_ = true;  // DoW is "*"
};

}  // namespace market

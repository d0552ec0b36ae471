#include "market/retention_schedule.hpp"

#include <charconv>
#include <vector>

#include <fmt/format.h>

namespace market {

namespace {

constexpr std::size_t kMaxScheduleLength = 128;

std::optional<int> Number(std::string_view text) {
  int value = 0;
  if (text.empty() || text.size() > 4) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> Split(std::string_view text, char by) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(by, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

// One cron field into `bits` (indexes lo..hi); false when malformed or out of range.
template <std::size_t N>
bool ParseField(std::string_view field, int lo, int hi, std::bitset<N>& bits) {
  for (std::string_view item : Split(field, ',')) {
    int step = 1;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
      auto s = Number(item.substr(slash + 1));
      if (!s || *s < 1 || *s > hi) return false;
      step = *s;
      item = item.substr(0, slash);
    }
    int from = lo, to = hi;
    if (item != "*") {
      if (auto dash = item.find('-'); dash != std::string_view::npos) {
        auto a = Number(item.substr(0, dash));
        auto b = Number(item.substr(dash + 1));
        if (!a || !b) return false;
        from = *a;
        to = *b;
      } else {
        auto a = Number(item);
        if (!a) return false;
        from = to = *a;
      }
      if (from < lo || to > hi || from > to) return false;
    }
    for (int v = from; v <= to; v += step) bits.set(static_cast<std::size_t>(v));
  }
  return true;
}

}  // namespace

Result<RetentionSchedule> RetentionSchedule::Parse(std::string_view field, std::string_view text) {
  const auto invalid = [&](std::string_view why) {
    return Fail(Errc::kInvalid, fmt::format("{}: {} (\"every <N>m|h|d\" or cron "
                                            "\"M H DoM Mon DoW\")",
                                            field, why));
  };
  if (text.size() > kMaxScheduleLength) return invalid("too long");
  RetentionSchedule schedule;
  if (text.starts_with("every ")) {
    std::string_view amount = text.substr(6);
    if (amount.empty()) return invalid("no interval");
    const char unit = amount.back();
    auto n = Number(amount.substr(0, amount.size() - 1));
    if (!n || *n < 1) return invalid("the interval is not a positive number");
    std::chrono::minutes every{0};
    if (unit == 'm') every = std::chrono::minutes{*n};
    else if (unit == 'h') every = std::chrono::hours{*n};
    else if (unit == 'd') every = std::chrono::days{*n};
    else return invalid("the interval's unit is not m, h or d");
    if (every < std::chrono::minutes{5} || every > std::chrono::days{366}) {
      return invalid("the interval must be from 5 minutes to 366 days");
    }
    schedule.every_ = every;
    return schedule;
  }
  std::vector<std::string_view> fields;
  for (auto part : Split(text, ' ')) {
    if (!part.empty()) fields.push_back(part);
  }
  if (fields.size() != 5) return invalid("a cron schedule has 5 fields");
  if (!ParseField(fields[0], 0, 59, schedule.minutes_)) return invalid("bad minute field");
  if (!ParseField(fields[1], 0, 23, schedule.hours_)) return invalid("bad hour field");
  if (!ParseField(fields[2], 1, 31, schedule.days_)) return invalid("bad day-of-month field");
  if (!ParseField(fields[3], 1, 12, schedule.months_)) return invalid("bad month field");
  if (!ParseField(fields[4], 0, 6, schedule.weekdays_)) return invalid("bad weekday field");
  schedule.any_day_ = fields[2] == "*";
  schedule.any_weekday_ = fields[4] == "*";
  return schedule;
}

std::optional<TimePoint> RetentionSchedule::Next(TimePoint after) const {
  using namespace std::chrono;
  if (every_) return after + *every_;
  auto minute = floor<minutes>(after) + minutes{1};
  const auto end = minute + days{4 * 366};
  while (minute < end) {
    const auto day = floor<days>(minute);
    const year_month_day ymd{day};
    const unsigned month = static_cast<unsigned>(ymd.month());
    const unsigned dom = static_cast<unsigned>(ymd.day());
    const unsigned dow = weekday{day}.c_encoding();
    const bool day_ok = any_day_ && any_weekday_ ? true
                        : any_day_               ? weekdays_.test(dow)
                        : any_weekday_           ? days_.test(dom)
                                                 : (days_.test(dom) || weekdays_.test(dow));
    if (!months_.test(month) || !day_ok) {
      minute = day + days{1};  // skip the rest of the day
      continue;
    }
    const hh_mm_ss hms{minute - day};
    const auto h = static_cast<std::size_t>(hms.hours().count());
    if (!hours_.test(h)) {
      minute = day + hours{h + 1};
      continue;
    }
    if (minutes_.test(static_cast<std::size_t>(hms.minutes().count()))) {
      return time_point_cast<TimePoint::duration>(minute);
    }
    minute += minutes{1};
  }
  return std::nullopt;
}

}  // namespace market

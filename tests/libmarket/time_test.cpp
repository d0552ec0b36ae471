#include "market/time.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono;

TEST_CASE("ISO 8601 UTC round trip") {
  const market::TimePoint t{sys_days{2026y / November / 28}.time_since_epoch() + 15h + 20min +
                            33s + 123ms};
  CHECK(market::FormatIso8601(t) == "2026-11-28T15:20:33.123Z");
  CHECK(market::ParseIso8601("2026-11-28T15:20:33.123Z") == t);
  CHECK(market::ParseIso8601("2026-11-28T15:20:33.123456789Z") == t);
  CHECK(market::ParseIso8601("2026-11-28T15:20:33Z") == t - 123ms);
  CHECK(market::FormatCompactUtc(t) == "20261128-152033");
}

TEST_CASE("ISO 8601 formatting across the calendar") {
  // Epoch, before it, leap days, a century that is not a leap year, the end of 9999, and the
  // years outside four digits (written with snprintf's widths).
  struct Case {
    market::TimePoint t;
    const char* text;
  };
  const Case cases[] = {
      {market::TimePoint{}, "1970-01-01T00:00:00.000Z"},
      {market::TimePoint{-1ms}, "1969-12-31T23:59:59.999Z"},
      {market::TimePoint{sys_days{2024y / February / 29}.time_since_epoch() + 9ms},
       "2024-02-29T00:00:00.009Z"},
      {market::TimePoint{sys_days{2100y / March / 1}.time_since_epoch() + 23h + 59min + 59s},
       "2100-03-01T23:59:59.000Z"},
      {market::TimePoint{sys_days{9999y / December / 31}.time_since_epoch() + 86399999ms},
       "9999-12-31T23:59:59.999Z"},
      {market::TimePoint{sys_days{10000y / January / 1}.time_since_epoch()},
       "10000-01-01T00:00:00.000Z"},
  };
  for (const Case& c : cases) {
    CHECK(market::FormatIso8601(c.t) == c.text);
    if (std::string_view(c.text).size() == 24) CHECK(market::ParseIso8601(c.text) == c.t);
  }
}

TEST_CASE("malformed times are refused") {
  for (const char* bad : {"", "2026-11-28", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-11-28T15:20:33+01:00", "2026-11-28T15:20:33.Z", "garbage"}) {
    INFO(bad);
    CHECK_FALSE(market::ParseIso8601(bad));
  }
}

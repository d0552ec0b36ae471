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

TEST_CASE("malformed times are refused") {
  for (const char* bad : {"", "2026-11-28", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-11-28T15:20:33+01:00", "2026-11-28T15:20:33.Z", "garbage"}) {
    INFO(bad);
    CHECK_FALSE(market::ParseIso8601(bad));
  }
}

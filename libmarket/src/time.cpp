#include "market/time.hpp"

#include <cstdio>

namespace market {

namespace {

// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm, via <chrono>).
struct Civil {
  int year;
  unsigned month, day, hour, minute, second, millis;
};

Civil ToCivil(TimePoint t) {
  using namespace std::chrono;
  const auto day_point = floor<days>(t);
  const year_month_day ymd{day_point};
  const hh_mm_ss hms{t - day_point};
  return Civil{int(ymd.year()),
               unsigned(ymd.month()),
               unsigned(ymd.day()),
               unsigned(hms.hours().count()),
               unsigned(hms.minutes().count()),
               unsigned(hms.seconds().count()),
               unsigned(hms.subseconds().count())};
}

bool ReadDigits(std::string_view text, std::size_t pos, std::size_t count, unsigned& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    out = out * 10 + unsigned(text[i] - '0');
  }
  return true;
}

// Writes `value` as exactly `width` decimal digits.
char* PutDigits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

}  // namespace

// Every listed project and build carries two of these: digits by hand, since snprintf's
// format parsing cost more than the rest of the conversion (3.6k instructions a call).
std::string FormatIso8601(TimePoint t) {
  const Civil c = ToCivil(t);
  if (c.year < 0 || c.year > 9999) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", c.year, c.month,
                  c.day, c.hour, c.minute, c.second, c.millis);
    return buf;
  }
  char buf[24];  // YYYY-MM-DDTHH:MM:SS.mmmZ
  char* p = PutDigits(buf, static_cast<unsigned>(c.year), 4);
  *p++ = '-';
  p = PutDigits(p, c.month, 2);
  *p++ = '-';
  p = PutDigits(p, c.day, 2);
  *p++ = 'T';
  p = PutDigits(p, c.hour, 2);
  *p++ = ':';
  p = PutDigits(p, c.minute, 2);
  *p++ = ':';
  p = PutDigits(p, c.second, 2);
  *p++ = '.';
  p = PutDigits(p, c.millis, 3);
  *p++ = 'Z';
  return std::string(buf, static_cast<std::size_t>(p - buf));
}

std::string FormatCompactUtc(TimePoint t) {
  const Civil c = ToCivil(t);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u-%02u%02u%02u", c.year, c.month, c.day, c.hour,
                c.minute, c.second);
  return buf;
}

// Accepts "YYYY-MM-DDTHH:MM:SS[.fff...]Z" (UTC only: that is all this service writes and
// what registries send).
std::optional<TimePoint> ParseIso8601(std::string_view text) {
  using namespace std::chrono;
  unsigned y, mo, d, h, mi, s;
  if (!ReadDigits(text, 0, 4, y) || text.size() < 20 || text[4] != '-' ||
      !ReadDigits(text, 5, 2, mo) || text[7] != '-' || !ReadDigits(text, 8, 2, d) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !ReadDigits(text, 11, 2, h) ||
      text[13] != ':' || !ReadDigits(text, 14, 2, mi) || text[16] != ':' ||
      !ReadDigits(text, 17, 2, s)) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  unsigned millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    unsigned scale = 100;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += unsigned(text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  if (pos + 1 != text.size() || (text[pos] != 'Z' && text[pos] != 'z')) return std::nullopt;
  const year_month_day ymd{year{int(y)}, month{mo}, day{d}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  return TimePoint{sys_days{ymd}.time_since_epoch() + hours{h} + minutes{mi} + seconds{s} +
                   milliseconds{millis}};
}

TimePoint SystemClock::Now() const {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace market

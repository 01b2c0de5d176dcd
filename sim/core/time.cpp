#include "sim/core/time.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace fleetsim {
namespace {

// Howard Hinnant's days_from_civil: proleptic Gregorian date → days since 1970-01-01.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

// Reads exactly `width` digits at `pos`.
bool digits(std::string_view s, std::size_t pos, std::size_t width, int& out) {
  if (pos + width > s.size()) return false;
  for (std::size_t i = pos; i < pos + width; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  std::from_chars(s.data() + pos, s.data() + pos + width, out);
  return true;
}

}  // namespace

Expected<EpochMillis> parse_rfc3339(std::string_view s) {
  auto bad = [&](const char* why) {
    return unexpected("'" + std::string(s) + "' is not an RFC 3339 instant (" + why +
                      "); write e.g. 2026-12-05T02:00:00Z");
  };
  int year, month, day, hour, minute, second;
  if (!digits(s, 0, 4, year) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, month) || s[7] != '-' ||
      !digits(s, 8, 2, day))
    return bad("the date must be YYYY-MM-DD");
  if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, hour) || s[13] != ':' ||
      !digits(s, 14, 2, minute) || s[16] != ':' || !digits(s, 17, 2, second))
    return bad("the time must be THH:MM:SS");
  if (month < 1 || month > 12 || day < 1 || static_cast<unsigned>(day) > days_in_month(year, month))
    return bad("no such date");
  if (hour > 23 || minute > 59 || second > 60) return bad("no such time of day");
  std::size_t pos = 19;
  std::int64_t millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::int64_t scale = 100;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      millis += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad("a fraction needs digits");
  }
  std::int64_t offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59)
      return bad("the offset must be +HH:MM");
    offset_minutes = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  } else {
    return bad("a time zone is required: Z or an offset such as +01:00");
  }
  if (pos != s.size()) return bad("unexpected text after the time zone");
  std::int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + std::min(second, 59) -
                      offset_minutes * 60;
  return secs * 1000 + millis;
}

std::string format_rfc3339(EpochMillis t) {
  std::int64_t days = t >= 0 ? t / millis_per_day : (t - millis_per_day + 1) / millis_per_day;
  std::int64_t rem = t - days * millis_per_day;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[48];
  int ms = static_cast<int>(rem % 1000);
  int sec = static_cast<int>(rem / 1000);
  if (ms)
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<long long>(y), m, d,
                  sec / 3600, sec / 60 % 60, sec % 60, ms);
  else
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(y), m, d, sec / 3600,
                  sec / 60 % 60, sec % 60);
  return buf;
}

Expected<Millis> parse_time_of_day(std::string_view s) {
  auto bad = [&] {
    return unexpected("'" + std::string(s) + "' is not a time of day; write HH:MM in UTC, e.g. \"02:00\"");
  };
  if (!s.empty() && (s.back() == 'Z' || s.back() == 'z')) s.remove_suffix(1);
  int h, m, sec = 0;
  if (!digits(s, 0, 2, h) || s.size() < 5 || s[2] != ':' || !digits(s, 3, 2, m)) return bad();
  if (s.size() == 8) {
    if (s[5] != ':' || !digits(s, 6, 2, sec)) return bad();
  } else if (s.size() != 5) {
    return bad();
  }
  if (h > 23 || m > 59 || sec > 59) return bad();
  return Millis((h * 3600 + m * 60 + sec) * 1000LL);
}

}  // namespace fleetsim

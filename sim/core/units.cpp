#include "sim/core/units.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

namespace fleetsim {
namespace {

constexpr double max_duration_ms = 100.0 * 366 * 24 * 3600 * 1000;  // a century is plenty

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Reads a leading unsigned decimal number; returns its length (0 if none).
std::size_t read_number(std::string_view s, double& out) {
  std::size_t n = 0;
  while (n < s.size() && (is_digit(s[n]) || s[n] == '.')) ++n;
  if (n == 0) return 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + n, out);
  if (ec != std::errc{} || ptr != s.data() + n || !std::isfinite(out)) return 0;
  return n;
}

struct UnitFactor {
  std::string_view name;
  double factor;
};

constexpr std::array duration_units{
    UnitFactor{"ms", 1}, UnitFactor{"s", 1000}, UnitFactor{"sec", 1000}, UnitFactor{"m", 60'000},
    UnitFactor{"min", 60'000}, UnitFactor{"h", 3'600'000}, UnitFactor{"d", 86'400'000},
    UnitFactor{"day", 86'400'000}, UnitFactor{"w", 604'800'000}};

constexpr std::array rate_units{UnitFactor{"s", 1},       UnitFactor{"sec", 1},      UnitFactor{"second", 1},
                                UnitFactor{"m", 60},      UnitFactor{"min", 60},     UnitFactor{"minute", 60},
                                UnitFactor{"h", 3600},    UnitFactor{"hour", 3600},  UnitFactor{"d", 86400},
                                UnitFactor{"day", 86400}};

constexpr std::array size_units{
    UnitFactor{"B", 1},           UnitFactor{"KB", 1e3},           UnitFactor{"kB", 1e3},
    UnitFactor{"KiB", 1024.0},    UnitFactor{"MB", 1e6},           UnitFactor{"MiB", 1048576.0},
    UnitFactor{"GB", 1e9},        UnitFactor{"GiB", 1073741824.0}};

template <std::size_t N>
const UnitFactor* find_unit(const std::array<UnitFactor, N>& units, std::string_view name) {
  for (const auto& u : units)
    if (u.name == name) return &u;
  return nullptr;
}

}  // namespace

Expected<double> parse_number(std::string_view text) {
  auto s = trim(text);
  bool negative = !s.empty() && s.front() == '-';
  if (negative) s.remove_prefix(1);
  double v = 0;
  if (s.empty() || read_number(s, v) != s.size())
    return unexpected(quoted(text) + " is not a number");
  return negative ? -v : v;
}

Expected<std::uint64_t> parse_count(std::string_view text) {
  auto s = trim(text);
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit))
    return unexpected(quoted(text) + " is not a whole number (write e.g. 40)");
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return unexpected(quoted(text) + " is too large");
  if (ec != std::errc{} || ptr != s.data() + s.size()) return unexpected(quoted(text) + " is not a whole number");
  return v;
}

Expected<Millis> parse_duration(std::string_view text) {
  const char* accepted = "write a number with a unit: ms, s (or sec), m (or min), h, d (or day) or w, e.g. 20s, 5m, 1h30m";
  auto s = trim(text);
  if (s.empty()) return unexpected("a duration is empty; " + std::string(accepted));
  double total = 0;
  while (!s.empty()) {
    double v = 0;
    auto n = read_number(s, v);
    if (n == 0) return unexpected(quoted(text) + " is not a duration; " + accepted);
    s.remove_prefix(n);
    std::size_t u = 0;
    while (u < s.size() && !is_digit(s[u]) && s[u] != '.' && s[u] != ' ' && s[u] != '\t') ++u;
    auto unit = s.substr(0, u);
    if (unit.empty()) return unexpected(quoted(text) + " has no unit; " + accepted);
    const auto* f = find_unit(duration_units, unit);
    if (!f) return unexpected(quoted(text) + ": unknown duration unit " + quoted(unit) + "; " + accepted);
    total += v * f->factor;
    if (total > max_duration_ms) return unexpected(quoted(text) + " is longer than a century");
    s.remove_prefix(u);
    s = trim(s);  // "1h 30m"
  }
  return Millis(static_cast<std::int64_t>(std::llround(total)));
}

Expected<Rate> parse_rate(std::string_view text) {
  const char* accepted = "write a count per unit: /s, /min, /h or /day, or per a duration such as 1/5m";
  auto s = trim(text);
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return unexpected(quoted(text) + " is not a rate; " + accepted);
  auto count = parse_number(s.substr(0, slash));
  if (!count || *count < 0) return unexpected(quoted(text) + " is not a rate: the count before '/' must be a number ≥ 0; " + accepted);
  auto per = trim(s.substr(slash + 1));
  double seconds = 0;
  if (!per.empty() && is_digit(per.front())) {
    auto d = parse_duration(per);
    if (!d) return unexpected(quoted(text) + " is not a rate: " + d.error());
    seconds = static_cast<double>(d->count()) / 1000.0;
  } else if (const auto* f = find_unit(rate_units, per)) {
    seconds = f->factor;
  } else {
    return unexpected(quoted(text) + ": unknown rate unit " + quoted(per) + "; " + accepted);
  }
  if (seconds <= 0) return unexpected(quoted(text) + " divides by a zero duration");
  return Rate{*count / seconds};
}

Expected<std::uint64_t> parse_size(std::string_view text) {
  const char* accepted = "write a number with a unit: B, KB, KiB, MB, MiB, GB or GiB, e.g. 200B or 2KiB";
  auto s = trim(text);
  double v = 0;
  auto n = read_number(s, v);
  if (n == 0) return unexpected(quoted(text) + " is not a size; " + accepted);
  auto unit = trim(s.substr(n));
  if (unit.empty()) return unexpected(quoted(text) + " has no unit; " + accepted);
  const auto* f = find_unit(size_units, unit);
  if (!f) return unexpected(quoted(text) + ": unknown size unit " + quoted(unit) + "; " + accepted);
  double bytes = v * f->factor;
  if (bytes > 1e15) return unexpected(quoted(text) + " is too large");
  return static_cast<std::uint64_t>(std::llround(bytes));
}

Expected<double> parse_percent(std::string_view text) {
  auto s = trim(text);
  if (s.empty() || s.back() != '%') return unexpected(quoted(text) + " is not a percentage; write e.g. 30%");
  auto v = parse_number(s.substr(0, s.size() - 1));
  if (!v) return unexpected(quoted(text) + " is not a percentage; write e.g. 30%");
  return *v / 100.0;
}

Expected<double> parse_multiplier(std::string_view text) {
  auto s = trim(text);
  constexpr std::string_view times_sign = "\xC3\x97";  // ×
  if (s.starts_with("x") || s.starts_with("X")) s.remove_prefix(1);
  else if (s.starts_with(times_sign)) s.remove_prefix(times_sign.size());
  else if (s.ends_with("x") || s.ends_with("X")) s.remove_suffix(1);
  else return unexpected(quoted(text) + " is not a multiplier; write e.g. x20");
  double v = 0;
  if (s.empty() || read_number(s, v) != s.size()) return unexpected(quoted(text) + " is not a multiplier; write e.g. x20");
  return v;
}

std::string format_number(double v, int decimals) {
  char buf[512];  // fixed notation of 1e308 needs 309 digits
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  std::string s(buf, ec == std::errc{} ? ptr : buf);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string format_duration(Millis d) {
  auto ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) { out = "-"; ms = -ms; }
  struct Part { std::int64_t size; const char* unit; };
  static constexpr Part parts[] = {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const auto& p : parts) {
    if (ms >= p.size) {
      out += std::to_string(ms / p.size) + p.unit;
      ms %= p.size;
    }
  }
  return out;
}

std::string format_size(double bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (bytes >= 1024 && i < 4) { bytes /= 1024; ++i; }
  return format_number(bytes, i == 0 ? 0 : 1) + units[i];
}

std::string format_rate(Rate r) {
  struct Per { double seconds; const char* unit; };
  static constexpr Per pers[] = {{1, "/s"}, {60, "/min"}, {3600, "/h"}, {86400, "/day"}};
  // Prefer the first unit that gives a whole number of at least 1 (100/h, not 1.67/min) ...
  for (const auto& p : pers) {
    double v = r.per_second * p.seconds;
    if (v >= 1 && std::abs(v - std::round(v)) < 1e-9 * v) return format_number(v, 0) + p.unit;
  }
  // ... else the first that gives at least 1.
  for (const auto& p : pers) {
    double v = r.per_second * p.seconds;
    if (v >= 1) return format_number(v, 2) + p.unit;
  }
  return format_number(r.per_second * 86400, 4) + "/day";
}

}  // namespace fleetsim

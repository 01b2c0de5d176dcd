#pragma once
// Units written the way people write them: 20s, 5m, 1h30m, 12/min, 1/5m, 2KiB, 30%, x20.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "sim/core/expected.hpp"

namespace fleetsim {

using Millis = std::chrono::milliseconds;

/// Events per second; the canonical form of every rate.
struct Rate {
  double per_second = 0;
  double per(Millis window) const { return per_second * static_cast<double>(window.count()) / 1000.0; }
  friend bool operator==(const Rate&, const Rate&) = default;
};

/// `500ms`, `20s`, `5m` (or `5min`), `2h`, `3d`, `1w`, compounds such as `1h30m`, decimals such as `1.5h`.
Expected<Millis> parse_duration(std::string_view text);
/// `12/min`, `0.5/s`, `100/h`, `2/day`, or per a duration: `1/5m`.
Expected<Rate> parse_rate(std::string_view text);
/// Bytes: `200B`, `1.5KB` (1000), `2KiB` (1024), `MB`, `MiB`, `GB`, `GiB`.
Expected<std::uint64_t> parse_size(std::string_view text);
/// `30%` → 0.30.
Expected<double> parse_percent(std::string_view text);
/// `x20`, `×20` or `20x` → 20.
Expected<double> parse_multiplier(std::string_view text);
/// A plain non-negative integer, with overflow checked.
Expected<std::uint64_t> parse_count(std::string_view text);
/// A plain decimal number (no unit).
Expected<double> parse_number(std::string_view text);

/// The shortest exact spelling: 300000ms → "5m", 5400000ms → "1h30m".
std::string format_duration(Millis d);
/// "200B", "2KiB", "1.5MiB" (binary units, at most one decimal).
std::string format_size(double bytes);
/// A rate in the most readable unit: "12/min", "100/h", "2/day" (whole numbers preferred).
std::string format_rate(Rate r);
/// A number with at most `decimals` decimals and no trailing zeros.
std::string format_number(double v, int decimals = 2);

}  // namespace fleetsim

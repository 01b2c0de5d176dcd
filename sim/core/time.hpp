#pragma once
// Instants as milliseconds since the Unix epoch (UTC), with RFC 3339 in and out.
#include <cstdint>
#include <string>
#include <string_view>

#include "sim/core/expected.hpp"
#include "sim/core/units.hpp"

namespace fleetsim {

/// Milliseconds since 1970-01-01T00:00:00Z.
using EpochMillis = std::int64_t;

/// `2026-12-05T02:00:00Z`, `2026-12-05T03:00:00.250+01:00` (a `T` or a space; `Z` or an offset required).
Expected<EpochMillis> parse_rfc3339(std::string_view text);
/// Always UTC with a `Z`; milliseconds only when non-zero.
std::string format_rfc3339(EpochMillis t);
/// `02:00`, `02:00:30` (optionally with a trailing `Z`): the offset from midnight UTC.
Expected<Millis> parse_time_of_day(std::string_view text);

constexpr std::int64_t millis_per_day = 86'400'000;

}  // namespace fleetsim

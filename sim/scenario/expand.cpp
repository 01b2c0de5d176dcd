#include "sim/scenario/expand.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_set>

namespace fleetsim::scenario {

Expected<Shard> parse_shard(std::string_view text) {
  auto bad = unexpected("'" + std::string(text) + "' is not a shard; write I/N with 0 ≤ I < N, e.g. 0/4");
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad;
  unsigned i = 0, n = 0;
  auto a = std::from_chars(text.data(), text.data() + slash, i);
  auto b = std::from_chars(text.data() + slash + 1, text.data() + text.size(), n);
  if (a.ec != std::errc{} || a.ptr != text.data() + slash || b.ec != std::errc{} ||
      b.ptr != text.data() + text.size() || n == 0 || i >= n || n > 100000)
    return bad;
  return Shard{i, n};
}

Millis plan_horizon(const Scenario& s, Millis fallback) { return s.clock.duration.value_or(fallback); }

std::vector<Millis> occurrence_starts(const Anomaly& a, EpochMillis scenario_start, Millis horizon) {
  std::vector<Millis> starts;
  if (a.when.start) {
    if (*a.when.start < horizon) starts.push_back(*a.when.start);
    return starts;
  }
  if (!a.when.every || a.when.every->count() <= 0) return starts;
  Millis first = a.when.after;
  if (a.when.time_of_day) {
    // The first instant at or after start+after whose UTC time of day is `at`.
    EpochMillis earliest = scenario_start + a.when.after.count();
    EpochMillis day = earliest - ((earliest % millis_per_day) + millis_per_day) % millis_per_day;
    EpochMillis t = day + a.when.time_of_day->count();
    if (t < earliest) t += millis_per_day;
    first = Millis(t - scenario_start);
  }
  std::uint64_t limit = a.when.times.value_or(UINT64_MAX);
  for (Millis t = first; t < horizon && starts.size() < limit; t += *a.when.every) starts.push_back(t);
  return starts;
}

std::string thing_name(const Scenario& s, std::uint64_t global_index) {
  for (const auto& g : s.fleet) {
    if (global_index < g.count) return g.name_of(global_index + 1);
    global_index -= g.count;
  }
  return {};
}

std::vector<std::uint64_t> select_things(const Scenario& s, const Anomaly& a, std::uint64_t number) {
  // Candidates: the group's things (or the whole fleet for a names-only selector).
  std::uint64_t first = 0, count = s.thing_count();
  std::uint64_t offset = 0;
  for (const auto& g : s.fleet) {
    if (g.name == a.things.group) {
      first = offset;
      count = g.count;
    }
    offset += g.count;
  }
  std::vector<std::uint64_t> chosen;
  if (!a.things.names.empty()) {
    std::unordered_set<std::string> wanted(a.things.names.begin(), a.things.names.end());
    for (std::uint64_t i = first; i < first + count; ++i)
      if (wanted.count(thing_name(s, i))) chosen.push_back(i);
    return chosen;
  }
  std::uint64_t k = a.things.count ? *a.things.count
                                   : static_cast<std::uint64_t>(std::ceil(a.things.fraction.value_or(0) * double(count)));
  k = std::min(k, count);
  // A partial Fisher–Yates over the candidates, from the anomaly's own stream.
  Rng rng(derive_seed(s.seed, "anomaly:" + a.name, a.things.rotate ? number : 0));
  std::vector<std::uint64_t> pool(count);
  for (std::uint64_t i = 0; i < count; ++i) pool[i] = first + i;
  for (std::uint64_t i = 0; i < k; ++i) std::swap(pool[i], pool[i + rng.below(count - i)]);
  chosen.assign(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(k));
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

Expansion expand(const Scenario& s, Shard shard, Millis horizon, EpochMillis start) {
  Expansion e;
  e.shard = shard;
  e.horizon = horizon;
  e.assumed_start = start;
  std::uint64_t global = 0;
  for (std::size_t gi = 0; gi < s.fleet.size(); ++gi) {
    const auto& g = s.fleet[gi];
    double interval_ms = g.baseline.publish.rate.per_second > 0 ? 1000.0 / g.baseline.publish.rate.per_second : 0;
    for (std::uint64_t i = 1; i <= g.count; ++i, ++global) {
      if (!shard.owns(global)) continue;
      ThingPlan t;
      t.name = g.name_of(i);
      t.group = gi;
      t.index = i;
      t.global_index = global;
      t.seed = derive_seed(s.seed, "thing", global);
      Rng rng(derive_seed(t.seed, "phase"));
      t.phase = Millis(static_cast<std::int64_t>(rng.uniform01() * std::min(interval_ms, 3'600'000.0)));
      e.things.push_back(std::move(t));
    }
  }
  for (std::size_t ai = 0; ai < s.anomalies.size(); ++ai) {
    const auto& a = s.anomalies[ai];
    auto starts = occurrence_starts(a, start, horizon);
    std::vector<std::uint64_t> fixed;
    if (!a.things.rotate) fixed = select_things(s, a, 0);
    for (std::uint64_t n = 0; n < starts.size(); ++n) {
      auto things = a.things.rotate ? select_things(s, a, n) : fixed;
      for (auto t : things)
        if (shard.owns(t)) e.occurrences.push_back({ai, n, t, starts[n], starts[n] + a.duration});
    }
  }
  std::sort(e.occurrences.begin(), e.occurrences.end(), [](const Occurrence& x, const Occurrence& y) {
    return std::tie(x.start, x.anomaly, x.thing) < std::tie(y.start, y.anomaly, y.thing);
  });
  return e;
}

}  // namespace fleetsim::scenario

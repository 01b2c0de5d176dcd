#pragma once
// Expansion: scenario + seed + shard → the things this shard runs and the anomaly occurrences that hit
// them. Deterministic: the same inputs give the same output on every machine.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/expected.hpp"
#include "sim/scenario/model.hpp"

namespace fleetsim::scenario {

/// A slice of the fleet: things whose global index ≡ index (mod count). Written `I/N`, I from 0.
struct Shard {
  unsigned index = 0;
  unsigned count = 1;
  bool owns(std::uint64_t global_index) const { return global_index % count == index; }
  std::string describe() const { return std::to_string(index) + "/" + std::to_string(count); }
};
/// `0/4` … `3/4`, as JOB_COMPLETION_INDEX and AWS_BATCH_JOB_ARRAY_INDEX count.
Expected<Shard> parse_shard(std::string_view text);

struct ThingPlan {
  std::string name;             ///< thing name = MQTT client id
  std::size_t group = 0;        ///< index into Scenario::fleet
  std::uint64_t index = 0;      ///< 1-based within its group
  std::uint64_t global_index = 0;
  std::uint64_t seed = 0;       ///< the thing's own RNG stream
  Millis phase{0};              ///< offset of its first publish, so things do not publish in lockstep
};

struct Occurrence {
  std::size_t anomaly = 0;        ///< index into Scenario::anomalies
  std::uint64_t number = 0;       ///< 0 for a one-off; n-th recurrence otherwise
  std::uint64_t thing = 0;        ///< global index of the thing
  Millis start{0};                ///< offset from the scenario start
  Millis end{0};
};

struct Expansion {
  Shard shard;
  Millis horizon{0};                  ///< occurrences are listed up to here
  EpochMillis assumed_start = 0;      ///< the start instant time-of-day schedules were computed against
  std::vector<ThingPlan> things;      ///< this shard's things, by global index
  std::vector<Occurrence> occurrences;  ///< on this shard's things, by start, anomaly, thing
};

/// The run's duration, or `fallback` for a scenario that runs until stopped.
Millis plan_horizon(const Scenario& s, Millis fallback = Millis(7LL * 86'400'000));

/// Offsets (from the start) of each occurrence of `a` that begins before `horizon`.
std::vector<Millis> occurrence_starts(const Anomaly& a, EpochMillis scenario_start, Millis horizon);

/// Global indices of the things occurrence `number` of `a` hits, ascending; independent of sharding.
std::vector<std::uint64_t> select_things(const Scenario& s, const Anomaly& a, std::uint64_t number);

/// `start` is the scenario's start instant (its clock.start, or when `now` is resolved).
Expansion expand(const Scenario& s, Shard shard, Millis horizon, EpochMillis start);

/// Name of the thing with this global index.
std::string thing_name(const Scenario& s, std::uint64_t global_index);

}  // namespace fleetsim::scenario

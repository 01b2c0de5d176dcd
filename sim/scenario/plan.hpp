#pragma once
// `fleetsim plan`: the expanded scenario as a table for people, JSON for programs, CSV for spreadsheets.
#include <optional>
#include <string>

#include "sim/scenario/expand.hpp"
#include "sim/scenario/model.hpp"

namespace fleetsim::scenario {

enum class PlanFormat { table, json, csv };

struct PlanInput {
  const Scenario* scenario = nullptr;
  Shard shard;
  Millis horizon{0};
  /// The start instant schedules are computed against; `start_is_assumed` when the scenario says `now`.
  EpochMillis start = 0;
  bool start_is_assumed = false;
};

std::string render_plan(const PlanInput& in, PlanFormat format);

}  // namespace fleetsim::scenario

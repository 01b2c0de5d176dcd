#pragma once
// What a scenario should make each Device Defender metric read per evaluation window: the baseline's
// range over the day, and the value while an anomaly runs. `plan` shows it; it is an estimate from the
// scenario's parameters, not a measurement.
#include <string>
#include <string_view>
#include <vector>

#include "sim/scenario/model.hpp"

namespace fleetsim::scenario {

struct MetricRange {
  double low = 0;   ///< the baseline's typical low over the day
  double mean = 0;  ///< the baseline's mean
  double high = 0;  ///< the baseline's typical high over the day
};

/// The baseline value of `metric` per `window` for a thing of group `g`.
MetricRange baseline_per_window(const Scenario& s, const FleetGroup& g, std::string_view metric, Millis window);

struct MetricEffect {
  std::string metric;
  bool primary = true;
  MetricRange baseline;
  double during = 0;  ///< expected value in a window the anomaly covers (diluted if shorter than a window)
  double ratio = 0;   ///< during / baseline mean (0 when the mean is 0)
  enum class Verdict { stands_out, weak, hidden } verdict = Verdict::hidden;
};
std::string_view describe(MetricEffect::Verdict v);

/// Every metric anomaly `a` moves on a thing of group `g`, primary metrics first.
std::vector<MetricEffect> anomaly_effects(const Scenario& s, const Anomaly& a, const FleetGroup& g, Millis window);

/// The evaluation window datapoints are made over: 5 minutes against AWS, the local detector's otherwise.
Millis evaluation_window(const Scenario& s);

}  // namespace fleetsim::scenario

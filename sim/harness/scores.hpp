#pragma once
// Secondary scores the field uses, computed on the same windows and events as reconcile (never
// point-adjusted):
//
// Range-based precision and recall (Tatbul et al., "Precision and Recall for Time Series", NeurIPS 2018),
// in continuous time (milliseconds) with these parameters:
// - real ranges: each thing's anomaly windows extended by the grace, [start, end + grace], overlapping
//   ones on a thing merged; predicted ranges: each thing's alarms on any metric, [in-alarm, the next alarm-cleared or
//   alarm-invalidated of that behavior, or the end of the scored range], merged per thing;
// - recall: alpha = 0 (no existence reward), front-end positional bias δ(x) = L − x (an overlap early in
//   the anomaly is worth more), cardinality γ = 1/x for x overlapping predicted ranges;
// - precision: alpha = 0, flat bias, the same cardinality; both averaged over ranges, F1 their harmonic mean.
//
// NAB score (Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms — the Numenta Anomaly
// Benchmark", 2015), standard profile A_TP = 1, A_FP = −0.11, A_FN = −1, on the same real ranges as
// windows, per thing: the first in-alarm in a window scores σ(y)/σ(−1) with y = (t − window end) ÷ width
// ∈ [−1, 0] and σ(y) = 2/(1 + e^{5y}) − 1; an in-alarm outside every window scores 0.11·σ(y) with y its
// distance past the thing's previous window in widths (−0.11 when there is none, or y ≥ 3); a window
// with no in-alarm scores −1. Normalised to 0..100 between the null detector (no alarms: −windows) and
// the perfect one (+windows). No probationary period.
#include <optional>
#include <string>
#include <vector>

#include "sim/harness/reconcile.hpp"

namespace fleetsim::harness {

struct Range {
  std::string thing;
  EpochMillis from = 0;
  EpochMillis to = 0;  ///< > from
};

/// [start, end + grace] per window, clipped to the run, merged per thing; sorted by thing then time.
std::vector<Range> real_ranges(const std::vector<ledger::Window>& windows, const ReconcileOptions& o);
/// Alarm ranges from scored events (any order), ending at `horizon` when never cleared; merged per thing.
std::vector<Range> alarm_ranges(const std::vector<ViolationEvent>& events, EpochMillis horizon);

struct RangeScores {
  std::optional<double> recall;     ///< nullopt without real ranges
  std::optional<double> precision;  ///< nullopt without predicted ranges
  std::optional<double> f1;
  std::size_t real = 0;
  std::size_t predicted = 0;
};
RangeScores range_scores(const std::vector<Range>& real, const std::vector<Range>& predicted);

struct NabScore {
  std::optional<double> score;  ///< 0..100; nullopt without windows
  double raw = 0;
  double null_raw = 0;
  double perfect_raw = 0;
  std::size_t true_positives = 0;   ///< windows with an in-alarm
  std::size_t false_positives = 0;  ///< in-alarm events outside every window
  std::size_t false_negatives = 0;
};
/// The standard-profile scaled sigmoid σ(y).
double nab_sigmoid(double y);
NabScore nab_score(const std::vector<Range>& windows, const std::vector<ViolationEvent>& events);

}  // namespace fleetsim::harness

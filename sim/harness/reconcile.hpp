#pragma once
// Reconciliation: the ledger's anomaly windows against the violation events a detector raised.
//
// Rules (the README's "Reconciliation" section says the same):
// - A window is *detected* when an `in-alarm` event for its thing, on one of its primary metrics, falls
//   in [start, end + grace]. Its time to detect runs from its start to the first such event; its time
//   to clear from its end to the first `alarm-cleared` on a primary metric at or after its end.
// - An alarm that was already active on that thing and behavior when the window started does not count
//   as a detection (the anomaly did not cause it); the window is flagged `already_in_alarm`.
// - `alarm-invalidated` events are neither detections nor false alarms (they end an alarm's range).
// - A *false alarm* is an `in-alarm` event on a thing at a time no window of that thing (plus grace)
//   covers, whatever its metric; they are counted per thing-day of clean observation (the run's span
//   minus the thing's windows and their grace). Every thing of the run counts as observed for the whole
//   run, connected or not (neither the ledger nor stats.json says which things connected).
// - A *true alarm* is an `in-alarm` event that detected at least one window; precision is true alarms ÷
//   (true + false alarms). Alarms on other metrics during a window are neither.
// - Confidence levels are nested: at level L only events at L or a less sensitive level count
//   (LOW < MEDIUM < HIGH: a HIGH event counts at MEDIUM and LOW). Events without a level (rule-based
//   behaviors) count at every level.
// - An open window (the run died during it) ends at the run's end; events outside the run's range
//   (plus grace) are ignored.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/core/time.hpp"
#include "sim/core/units.hpp"
#include "sim/ledger/ledger.hpp"

namespace fleetsim::harness {

struct ViolationEvent {
  std::string violation_id;
  std::string thing;
  std::string behavior;
  std::string metric;
  std::string type;        ///< in-alarm | alarm-cleared | alarm-invalidated
  std::string confidence;  ///< ML: LOW | MEDIUM | HIGH; empty for rules
  EpochMillis t = 0;
};

/// The ML Detect confidence levels, most sensitive first.
inline const std::vector<std::string>& confidence_levels() {
  static const std::vector<std::string> levels{"LOW", "MEDIUM", "HIGH"};
  return levels;
}
/// Whether an event at `event_level` counts at `level` (nested levels; empty on either side: yes).
bool counts_at(const std::string& event_level, const std::string& level);

struct ReconcileOptions {
  Millis grace{15 * 60'000};
  EpochMillis run_start = 0;
  EpochMillis run_end = 0;
  std::vector<std::string> things;  ///< every thing of the run (things that never alarmed count for thing-days)
  std::string confidence;           ///< only events at this level or a less sensitive one (empty: all)
  /// Things the fleet never connected (stats.json): no clean observation, and their missed anomalies were
  /// never delivered.
  std::set<std::string, std::less<>> never_connected;
};

struct WindowResult {
  ledger::Window window;
  bool detected = false;
  bool already_in_alarm = false;
  std::optional<Millis> time_to_detect;
  std::optional<Millis> time_to_clear;
  std::vector<std::string> detected_on;               ///< primary metrics that alarmed in the window
  std::vector<std::string> side_effects_detected_on;  ///< side-effect metrics that alarmed in the window
  std::vector<std::string> detected_by;               ///< behaviors whose in-alarm detected it
};

/// detected of total, and their ratio (1 when total is 0).
struct Tally {
  std::size_t detected = 0;
  std::size_t total = 0;
  double recall() const { return total ? double(detected) / double(total) : 1.0; }
};

struct BehaviorTally {
  std::string metric;
  Tally windows;              ///< windows whose primary metrics include the behavior's metric
  std::size_t alarms = 0;     ///< its in-alarm events scored (the run's range plus grace)
  std::size_t false_alarms = 0;
};

struct Reconciliation {
  std::vector<WindowResult> windows;
  std::vector<ViolationEvent> events;        ///< the events that were scored (range and level), by thing and time
  std::vector<ViolationEvent> false_alarms;
  std::vector<ViolationEvent> true_alarms;   ///< in-alarm events that detected at least one window
  std::size_t alarms = 0;                    ///< in-alarm events in the run's range
  double clean_thing_days = 0;
  std::size_t detected() const;
  double recall() const;                             ///< detected ÷ windows (0 windows: 1)
  double false_alarms_per_thing_day() const;
  /// true ÷ (true + false alarms); nullopt when there is neither.
  std::optional<double> precision() const;
  std::map<std::string, std::pair<std::size_t, std::size_t>> by_kind() const;  ///< kind → (detected, total)
  std::map<std::string, Tally> by_metric() const;      ///< primary metric → windows detected on it
  std::map<std::string, Tally> side_effects() const;   ///< side-effect metric → windows that alarmed on it
  std::map<std::string, BehaviorTally> by_behavior() const;
  /// Time to detect at percentile p over the detected windows (nullopt when none); nearest rank.
  std::optional<Millis> time_to_detect_percentile(double p) const;
  std::optional<Millis> time_to_clear_percentile(double p) const;
};

/// Nearest-rank percentile (p in 0..100) of `values`; nullopt when empty.
std::optional<Millis> percentile(std::vector<Millis> values, double p);

Reconciliation reconcile(const std::vector<ledger::Window>& windows, const std::vector<ViolationEvent>& events,
                         const ReconcileOptions& options);

}  // namespace fleetsim::harness

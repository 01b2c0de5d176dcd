#pragma once
// Reconciliation: the ledger's anomaly windows against the violation events a detector raised.
//
// Rules (the README's "Reconciliation" section says the same):
// - A window is *detected* when an `in-alarm` event for its thing, on one of its primary metrics, falls
//   in [start, end + grace]. Its time to detect runs from its start to the first such event; its time
//   to clear from its end to the first `alarm-cleared` of that behavior after it.
// - An alarm that was already active on that thing and behavior when the window started does not count
//   as a detection (the anomaly did not cause it); the window is flagged `already_in_alarm`.
// - `alarm-invalidated` events are neither detections nor false alarms.
// - A *false alarm* is an `in-alarm` event on a thing at a time no window of that thing (plus grace)
//   covers, whatever its metric; they are counted per thing-day of clean observation (the run's span
//   minus the thing's windows and their grace).
// - An open window (the run died during it) ends at the run's end; events outside the run's range
//   (plus grace) are ignored.
#include <cstdint>
#include <map>
#include <optional>
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

struct ReconcileOptions {
  Millis grace{15 * 60'000};
  EpochMillis run_start = 0;
  EpochMillis run_end = 0;
  std::vector<std::string> things;  ///< every thing of the run (things that never alarmed count for thing-days)
  std::string confidence;           ///< only events at this confidence (empty: all)
};

struct WindowResult {
  ledger::Window window;
  bool detected = false;
  bool already_in_alarm = false;
  std::optional<Millis> time_to_detect;
  std::optional<Millis> time_to_clear;
  std::vector<std::string> detected_on;  ///< primary metrics that alarmed in the window
};

struct Reconciliation {
  std::vector<WindowResult> windows;
  std::vector<ViolationEvent> false_alarms;
  double clean_thing_days = 0;
  std::size_t detected() const;
  double recall() const;                             ///< detected ÷ windows (0 windows: 1)
  double false_alarms_per_thing_day() const;
  std::map<std::string, std::pair<std::size_t, std::size_t>> by_kind() const;  ///< kind → (detected, total)
  /// Time to detect at percentile p over the detected windows (nullopt when none).
  std::optional<Millis> time_to_detect_percentile(double p) const;
};

Reconciliation reconcile(const std::vector<ledger::Window>& windows, const std::vector<ViolationEvent>& events,
                         const ReconcileOptions& options);

}  // namespace fleetsim::harness

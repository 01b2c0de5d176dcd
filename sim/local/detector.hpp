#pragma once
// The local stand-in for Device Defender Detect: a documented statistical detector for ML behaviors
// (see DETECTOR.md and detector_model.hpp) and the static rules, evaluated per closed metric window.
// Sans-IO and single-threaded: the caller feeds windows in order and locks around calls.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/rng.hpp"
#include "sim/core/time.hpp"
#include "sim/core/units.hpp"
#include "sim/local/detector_model.hpp"
#include "sim/local/metrics.hpp"

namespace fleetsim::local {

struct DetectorSettings {
  Millis window{300'000};                          ///< the metric window (the scenario's local_detector.window)
  Millis training{3'600'000};                      ///< least training time per behavior (local_detector.training)
  std::uint64_t min_datapoints = 100;              ///< least training datapoints per behavior, all targets together
  Millis invalidate_after{2 * millis_per_day};     ///< an alarm without datapoints this long is invalidated
  Millis adapt_half_life{3'600'000};               ///< how fast a thing's centre follows its unflagged datapoints; 0 = never
  Millis event_retention{30 * millis_per_day};     ///< violation events kept (AWS: 30 days)
  std::uint64_t seed = 0;                          ///< violation ids come from Rng(derive_seed(seed, "violation-ids"))
};

/// A security profile as the detector needs it: behaviors exactly as CreateSecurityProfile stores them,
/// and the things its targets resolve to.
struct ProfileTargets {
  std::string name;
  nlohmann::json behaviors = nlohmann::json::array();
  std::set<std::string, std::less<>> things;
  bool all_things = false;  ///< targets every thing that has datapoints (all/things)
};

enum class ViolationEventType { in_alarm, alarm_cleared, alarm_invalidated };
std::string_view to_string(ViolationEventType t);

/// ListViolationEvents' ViolationEvent.
struct ViolationEvent {
  std::string violation_id, thing_name, security_profile_name;
  nlohmann::json behavior;                  ///< as stored in the profile (suppressAlerts included)
  std::optional<MetricValue> metric_value;  ///< absent on alarm-invalidated
  std::optional<ConfidenceLevel> confidence;  ///< ML behaviors only
  ViolationEventType type = ViolationEventType::in_alarm;
  EpochMillis time = 0;
  std::string verification_state = "UNKNOWN", verification_description;

  bool suppress_alerts() const { return behavior.value("suppressAlerts", false); }
  bool machine_learning() const { return confidence.has_value(); }
  /// The wire shape (violationEventTime in epoch seconds).
  nlohmann::json to_json() const;
};

/// ListActiveViolations' ActiveViolation.
struct ActiveViolation {
  std::string violation_id, thing_name, security_profile_name;
  nlohmann::json behavior;
  MetricValue last_violation_value;
  std::optional<ConfidenceLevel> confidence;
  std::string verification_state = "UNKNOWN", verification_description;
  EpochMillis violation_start_time = 0, last_violation_time = 0;

  nlohmann::json to_json() const;
};

/// GetBehaviorModelTrainingSummaries' BehaviorModelTrainingSummary.
struct TrainingSummary {
  std::string security_profile_name, behavior_name;
  std::optional<EpochMillis> training_data_collection_start;  ///< absent while PENDING_BUILD (as AWS)
  std::string model_status;                                   ///< PENDING_BUILD | ACTIVE
  double datapoints_collection_percentage = 0;
  std::optional<EpochMillis> last_model_refresh;              ///< absent while PENDING_BUILD

  nlohmann::json to_json() const;
};

class Detector {
 public:
  explicit Detector(DetectorSettings settings);

  /// Evaluates one closed window (call in window order) against the current profiles and returns the
  /// events it produced; they are also kept for violation_events(). A profile or behavior that is gone,
  /// or a thing no longer targeted, has its active violations invalidated.
  std::vector<ViolationEvent> evaluate(const ClosedWindow& window, const std::vector<ProfileTargets>& profiles);

  /// Why the detector cannot evaluate a behavior (statisticalThreshold, dimensions, a metric it does not
  /// know); nullopt when it can. The API can reject such behaviors with this message.
  static std::optional<std::string> unsupported(const nlohmann::json& behavior);

  /// One summary per ML behavior of the profile ("" = every profile), in behavior-name order.
  std::vector<TrainingSummary> training_summaries(std::string_view profile = {}) const;
  std::vector<ActiveViolation> active_violations() const;
  /// Every event within retention, oldest first.
  const std::deque<ViolationEvent>& violation_events() const { return events_; }
  /// PutVerificationStateOnViolation: false when no event or active violation has the id.
  bool set_verification_state(std::string_view violation_id, const std::string& state, const std::string& description);

  /// The raw-value bounds of a thing's ML model at a level (nullopt while not ready); for tests and docs.
  std::optional<detector_model::Bounds> bounds(std::string_view profile, std::string_view behavior,
                                               std::string_view thing, ConfidenceLevel level) const;

  nlohmann::json save() const;
  static Detector load(const nlohmann::json& saved, DetectorSettings settings);

  const DetectorSettings& settings() const { return settings_; }

 private:
  /// One thing's alarm state for one behavior.
  struct Alarm {
    std::uint32_t bad = 0, good = 0;  ///< consecutive violating / compliant datapoints (saturating at 10)
    bool in_alarm = false;
    std::string id;
    EpochMillis start = 0, last_violation = 0, last_datapoint = 0;
    MetricValue last_value;
    std::string verification_state = "UNKNOWN", verification_description;
    std::deque<std::pair<EpochMillis, double>> recent;  ///< static rules with durationSeconds: (window start, value)
  };
  /// One behavior of one profile: its model (ML) and the alarms of its things.
  struct Behavior {
    std::string metric;
    bool ml = false;
    nlohmann::json spec;  ///< the behavior as stored
    std::optional<EpochMillis> training_start;
    std::uint64_t collected = 0;
    bool active = false;
    EpochMillis refreshed = 0;
    detector_model::Calibration cal;
    std::map<std::string, detector_model::ThingModel, std::less<>> models;
    std::map<std::string, Alarm, std::less<>> alarms;

    std::optional<ConfidenceLevel> level() const;
  };
  struct Profile {
    std::map<std::string, Behavior, std::less<>> behaviors;
  };

  void evaluate_ml(const std::string& profile, Behavior& b, const ClosedWindow& w, const ProfileTargets& targets,
                   std::vector<ViolationEvent>& out);
  void evaluate_rule(const std::string& profile, Behavior& b, const ClosedWindow& w, const ProfileTargets& targets,
                     std::vector<ViolationEvent>& out);
  void step(const std::string& profile, const std::string& thing, Behavior& b, Alarm& a, bool violating,
            const MetricValue& value, EpochMillis at, std::vector<ViolationEvent>& out);
  void invalidate(const std::string& profile, const std::string& thing, const Behavior& b, Alarm& a, EpochMillis at,
                  std::vector<ViolationEvent>& out);
  ViolationEvent make_event(const std::string& profile, const std::string& thing, const Behavior& b, const Alarm& a,
                            ViolationEventType type, EpochMillis at) const;
  std::string next_violation_id();

  DetectorSettings settings_;
  std::map<std::string, Profile, std::less<>> profiles_;
  std::deque<ViolationEvent> events_;
  Rng ids_;
  std::uint64_t ids_drawn_ = 0;
};

}  // namespace fleetsim::local

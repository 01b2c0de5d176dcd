#pragma once
// The emulator's registry and Device Defender records: what AWS itself keeps (never private keys), in
// tables that remember which rows a request changed so the store can journal exactly those.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/time.hpp"

namespace fleetsim::local {

struct Thing {
  std::string name, id, arn, type_name, billing_group;
  std::map<std::string, std::string> attributes;
  std::int64_t version = 1;
  EpochMillis created = 0;
  std::set<std::string> principals;  ///< attached certificate ARNs
  std::set<std::string> groups;      ///< names of the thing groups it belongs to
};

struct ThingGroup {
  std::string name, id, arn, description, parent;
  std::map<std::string, std::string> attributes;
  nlohmann::json tags = nlohmann::json::array();
  std::int64_t version = 1;
  EpochMillis created = 0;
  std::set<std::string> things;  ///< member thing names
};

struct Certificate {
  std::string id, arn, pem, status, generation_id;
  EpochMillis created = 0, modified = 0, not_before = 0, not_after = 0;
  std::set<std::string> things;    ///< names of the things it is attached to
  std::set<std::string> policies;  ///< names of the policies attached to it
};

struct Policy {
  std::string name, arn, document, generation_id;
  EpochMillis created = 0, modified = 0;
  nlohmann::json tags = nlohmann::json::array();
  std::set<std::string> targets;  ///< certificate ARNs, thing group ARNs, Cognito identity ids
};

struct SecurityProfile {
  std::string name, arn, description;
  // Stored as sent (null when absent): the shapes are AWS's, and the detector reads them as such.
  nlohmann::json behaviors, alert_targets, additional_metrics, additional_metrics_v2, metrics_export_config;
  nlohmann::json tags = nlohmann::json::array();
  std::int64_t version = 1;
  EpochMillis created = 0, modified = 0;
  std::set<std::string> targets;  ///< target ARNs (thing groups, all/things, ...)
};

struct MitigationAction {
  std::string name, id, arn, type, role_arn;
  nlohmann::json params = nlohmann::json::object();
  nlohmann::json tags = nlohmann::json::array();
  EpochMillis created = 0, modified = 0;
};

/// The sortable prefix of time-ordered keys: epoch milliseconds as 13 digits ("1796411101082").
std::string time_key(EpochMillis t);

/// Rows that are AWS shapes already are stored as they are.
inline void from_json(const nlohmann::json& j, nlohmann::json& v) { v = j; }

void to_json(nlohmann::json& j, const Thing& v);
void from_json(const nlohmann::json& j, Thing& v);
void to_json(nlohmann::json& j, const ThingGroup& v);
void from_json(const nlohmann::json& j, ThingGroup& v);
void to_json(nlohmann::json& j, const Certificate& v);
void from_json(const nlohmann::json& j, Certificate& v);
void to_json(nlohmann::json& j, const Policy& v);
void from_json(const nlohmann::json& j, Policy& v);
void to_json(nlohmann::json& j, const SecurityProfile& v);
void from_json(const nlohmann::json& j, SecurityProfile& v);
void to_json(nlohmann::json& j, const MitigationAction& v);
void from_json(const nlohmann::json& j, MitigationAction& v);

/// Rows by key, sorted (paging walks them in key order). Reading is free; every way to change a row
/// (edit, put, erase) marks its key dirty, so a change cannot escape the journal.
template <class T>
class Table {
 public:
  using Rows = std::map<std::string, T, std::less<>>;

  const T* find(std::string_view key) const {
    auto it = rows_.find(key);
    return it == rows_.end() ? nullptr : &it->second;
  }
  bool contains(std::string_view key) const { return rows_.find(key) != rows_.end(); }
  /// The row to change in place, or nullptr.
  T* edit(std::string_view key) {
    auto it = rows_.find(key);
    if (it == rows_.end()) return nullptr;
    dirty_.emplace(key);
    return &it->second;
  }
  /// Inserts or replaces a row. `key` must not refer into `value` (it may be moved from first).
  T& put(const std::string& key, T value) {
    dirty_.insert(key);
    return rows_.insert_or_assign(key, std::move(value)).first->second;
  }
  bool erase(std::string_view key) {
    auto it = rows_.find(key);
    if (it == rows_.end()) return false;
    dirty_.emplace(key);
    rows_.erase(it);
    return true;
  }
  const Rows& rows() const { return rows_; }
  std::size_t size() const { return rows_.size(); }

  /// The keys changed since the last call (for the journal).
  std::set<std::string, std::less<>> take_dirty() { return std::exchange(dirty_, {}); }
  /// Loading: set a row without marking it.
  void load(const std::string& key, T value) { rows_.insert_or_assign(key, std::move(value)); }
  void unload(std::string_view key) {
    if (auto it = rows_.find(key); it != rows_.end()) rows_.erase(it);
  }

 private:
  Rows rows_;
  std::set<std::string, std::less<>> dirty_;
};

/// Everything the REST API keeps. Keys: thing, group, policy, profile and action names; certificate ids.
struct State {
  Table<Thing> things;
  Table<ThingGroup> thing_groups;
  Table<Certificate> certificates;
  Table<Policy> policies;
  Table<SecurityProfile> security_profiles;
  Table<MitigationAction> mitigation_actions;
  // What the detector produces, kept in AWS's shapes with instants as epoch milliseconds (the handlers
  // turn them into AWS's epoch seconds). Keys order the rows the way the List* calls page through them.
  Table<nlohmann::json> violation_events;    ///< "<time_key>/<violationId>/<type>": a ViolationEvent
  Table<nlohmann::json> active_violations;   ///< violationId: an ActiveViolation
  Table<nlohmann::json> training_summaries;  ///< "<profile>/<behavior>": a BehaviorModelTrainingSummary
  Table<nlohmann::json> detector;            ///< "state": the detector's models and alarms (Detector::save)
  Table<nlohmann::json> mitigation_tasks;    ///< taskId: a DetectMitigationActionsTaskSummary + "executions"

  /// Calls f(name, table) for every table; the names are the persisted collection names.
  template <class F>
  void visit(F&& f) {
    f("things", things);
    f("thingGroups", thing_groups);
    f("certificates", certificates);
    f("policies", policies);
    f("securityProfiles", security_profiles);
    f("mitigationActions", mitigation_actions);
    f("violationEvents", violation_events);
    f("activeViolations", active_violations);
    f("trainingSummaries", training_summaries);
    f("detector", detector);
    f("detectMitigationTasks", mitigation_tasks);
  }
};

}  // namespace fleetsim::local

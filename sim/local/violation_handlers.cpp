// What Device Defender Detect reports: model training summaries, active violations, violation events and
// their verification states. The detector writes the rows (see Emulator); these handlers only read and
// filter them as AWS does. ListMetricValues reads the metric recorder and is registered by the Emulator.
#include <map>

#include "sim/local/handler_support.hpp"
#include "sim/local/handlers.hpp"

namespace fleetsim::local {

namespace {

using nlohmann::json;

}  // namespace

std::string behavior_criteria_type(const json& behavior) {
  const json criteria = behavior.value("criteria", json::object());
  if (criteria.contains("mlDetectionConfig")) return "MACHINE_LEARNING";
  if (criteria.contains("statisticalThreshold")) return "STATISTICAL";
  return "STATIC";
}

namespace {

// The filters ListActiveViolations and ListViolationEvents share. listSuppressedAlerts: AWS documents it
// as "a filter to limit results to those alerts that are either suppressed or not suppressed"; here,
// false or absent leaves out the behaviors with suppressAlerts, true includes them (the AWS guide's
// profiles all suppress, so a harness asks with true to see everything).
struct ViolationFilter {
  std::string thing, profile, criteria_type, verification;
  bool include_suppressed = false;

  static std::variant<ViolationFilter, ApiError> from(const json& in) {
    ViolationFilter f;
    f.thing = text(in, "thingName");
    f.profile = text(in, "securityProfileName");
    f.criteria_type = text(in, "behaviorCriteriaType");
    f.verification = text(in, "verificationState");
    f.include_suppressed = in.value("listSuppressedAlerts", false);
    if (!f.criteria_type.empty() && f.criteria_type != "STATIC" && f.criteria_type != "STATISTICAL" &&
        f.criteria_type != "MACHINE_LEARNING")
      return validation_error("behaviorCriteriaType", f.criteria_type,
                              "Member must satisfy enum value set: [STATIC, STATISTICAL, MACHINE_LEARNING]");
    return f;
  }
  bool keep(const json& row) const {
    const json& behavior = row.contains("behavior") ? row["behavior"] : json::object();
    if (!thing.empty() && row.value("thingName", "") != thing) return false;
    if (!profile.empty() && row.value("securityProfileName", "") != profile) return false;
    if (!criteria_type.empty() && behavior_criteria_type(behavior) != criteria_type) return false;
    if (!verification.empty() && row.value("verificationState", "UNKNOWN") != verification) return false;
    if (!include_suppressed && behavior.value("suppressAlerts", false)) return false;
    return true;
  }
};

ApiResult list_active_violations(RequestContext& c, const json& in) {
  auto page = page_request(in);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  auto filter = ViolationFilter::from(in);
  if (auto* e = std::get_if<ApiError>(&filter)) return *e;
  const auto& f = std::get<ViolationFilter>(filter);
  if (!f.profile.empty() && !c.state.security_profiles.contains(f.profile))
    return not_found("Security profile " + f.profile + " does not exist");
  json items = json::array();
  auto token = page_through(
      c.state.active_violations.rows(), std::get<PageRequest>(page), [&](const auto& row) { return f.keep(row.second); },
      [&](const auto& row) { items.push_back(with_seconds(row.second, {"lastViolationTime", "violationStartTime"})); });
  return page_output("activeViolations", std::move(items), token);
}

ApiResult list_violation_events(RequestContext& c, const json& in) {
  auto page = page_request(in);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  auto filter = ViolationFilter::from(in);
  if (auto* e = std::get_if<ApiError>(&filter)) return *e;
  const auto& f = std::get<ViolationFilter>(filter);
  auto start = millis_of(in.value("startTime", json())), end = millis_of(in.value("endTime", json()));
  if (!start || !end) return invalid_request("startTime and endTime are required");
  if (*end < *start) return invalid_request("endTime must not be before startTime");
  // Rows are keyed by time, so the walk starts at startTime (or the token) and stops past endTime.
  PageRequest p = std::get<PageRequest>(page);
  const std::string first = time_key(*start);
  if (p.after.empty() || p.after < first) p.after = first + "/";  // before any id at that instant
  const auto& rows = c.state.violation_events.rows();
  json items = json::array();
  std::optional<std::string> token;
  std::size_t n = 0;
  const std::string* last = nullptr;
  for (auto it = rows.upper_bound(p.after); it != rows.end(); ++it) {
    if (it->second.value("violationEventTime", EpochMillis{0}) > *end) break;
    if (!f.keep(it->second)) continue;
    if (n == p.limit) {
      token = page_token(*last);
      break;
    }
    items.push_back(with_seconds(it->second, {"violationEventTime"}));
    last = &it->first;
    ++n;
  }
  return page_output("violationEvents", std::move(items), token);
}

ApiResult get_behavior_model_training_summaries(RequestContext& c, const json& in) {
  auto page = page_request(in, "maxResults", "nextToken", 1, 10);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  const std::string profile = text(in, "securityProfileName");
  if (!profile.empty() && !c.state.security_profiles.contains(profile))
    return not_found("Security profile " + profile + " does not exist");
  // What the detector has reported, plus PENDING_BUILD at 0% for ML behaviors it has not seen a window
  // of yet (a profile created a moment ago already has models waiting for data, as at AWS).
  std::map<std::string, json, std::less<>> rows(c.state.training_summaries.rows().begin(),
                                                c.state.training_summaries.rows().end());
  for (const auto& [name, p] : c.state.security_profiles.rows()) {
    if (!p.behaviors.is_array()) continue;
    for (const auto& b : p.behaviors)
      if (b.is_object() && b.contains("criteria") && b["criteria"].contains("mlDetectionConfig"))
        rows.try_emplace(name + "/" + b.value("name", ""),
                         json{{"securityProfileName", name}, {"behaviorName", b.value("name", "")},
                              {"modelStatus", "PENDING_BUILD"}, {"datapointsCollectionPercentage", 0.0}});
  }
  json items = json::array();
  auto token = page_through(
      rows, std::get<PageRequest>(page),
      [&](const auto& row) { return profile.empty() || row.second.value("securityProfileName", "") == profile; },
      [&](const auto& row) {
        items.push_back(with_seconds(row.second, {"trainingDataCollectionStartDate", "lastModelRefreshDate"}));
      });
  return page_output("summaries", std::move(items), token);
}

ApiResult put_verification_state_on_violation(RequestContext& c, const json& in) {
  const std::string id = text(in, "violationId"), state = text(in, "verificationState");
  if (state != "FALSE_POSITIVE" && state != "BENIGN_POSITIVE" && state != "TRUE_POSITIVE" && state != "UNKNOWN")
    return validation_error("verificationState", state,
                            "Member must satisfy enum value set: [FALSE_POSITIVE, BENIGN_POSITIVE, TRUE_POSITIVE, UNKNOWN]");
  const std::string description = text(in, "verificationStateDescription");
  if (description.size() > 1000)
    return validation_error("verificationStateDescription", "...", "Member must have length less than or equal to 1000");
  auto apply = [&](json& row) {
    row["verificationState"] = state;
    if (in.contains("verificationStateDescription")) row["verificationStateDescription"] = description;
    else row.erase("verificationStateDescription");
  };
  bool found = false;
  if (c.state.active_violations.contains(id)) {
    apply(*c.state.active_violations.edit(id));
    found = true;
  }
  std::vector<std::string> keys;
  for (const auto& [key, row] : c.state.violation_events.rows())
    if (row.value("violationId", "") == id) keys.push_back(key);
  for (const auto& key : keys) apply(*c.state.violation_events.edit(key));
  if (!found && keys.empty()) return invalid_request("Violation " + id + " does not exist");
  return json::object();
}

}  // namespace

void register_violation_handlers(Router& r) {
  r.add("GetBehaviorModelTrainingSummaries", get_behavior_model_training_summaries, false);
  r.add("ListActiveViolations", list_active_violations, false);
  r.add("ListViolationEvents", list_violation_events, false);
  r.add("PutVerificationStateOnViolation", put_verification_state_on_violation, true);
}

}  // namespace fleetsim::local

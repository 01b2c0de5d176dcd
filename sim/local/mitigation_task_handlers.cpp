// Detect mitigation actions tasks: apply mitigation actions to the things behind violations. The local
// emulator runs a task to completion inside StartDetectMitigationActionsTask (AWS runs it asynchronously;
// clients poll DescribeDetectMitigationActionsTask, which here already answers SUCCESSFUL or FAILED).
// Actions with a local effect: UPDATE_DEVICE_CERTIFICATE (the thing's certificates become INACTIVE, so the
// broker refuses their next connection) and ADD_THINGS_TO_THING_GROUP. The others (SNS, logging, CA
// certificates, policy versions) have nothing to act on here and are recorded as SKIPPED, saying so.
#include "sim/local/handler_support.hpp"
#include "sim/local/handlers.hpp"

namespace fleetsim::local {

namespace {

using nlohmann::json;

constexpr std::size_t max_groups_per_thing = 10;

struct Execution {
  std::string status, error_code, message;
};

Execution execute(RequestContext& c, const MitigationAction& action, const std::string& thing_name) {
  const Thing* thing = c.state.things.find(thing_name);
  if (!thing) return {"SKIPPED", "", "Thing " + thing_name + " is not registered"};
  if (action.type == "UPDATE_DEVICE_CERTIFICATE") {
    if (thing->principals.empty()) return {"SKIPPED", "", "Thing " + thing_name + " has no certificates"};
    for (const auto& arn : thing->principals) {
      const std::string id = arn.substr(arn.rfind('/') + 1);
      if (Certificate* cert = c.state.certificates.edit(id)) {
        cert->status = "INACTIVE";
        cert->modified = c.now;
      }
    }
    return {"SUCCESSFUL", "", ""};
  }
  if (action.type == "ADD_THINGS_TO_THING_GROUP") {
    for (const auto& g : action.params["addThingsToThingGroupParams"].value("thingGroupNames", json::array())) {
      const std::string group = g.get<std::string>();
      if (!c.state.thing_groups.contains(group))
        return {"FAILED", "ResourceNotFoundException", "Thing group " + group + " does not exist"};
      if (thing->groups.contains(group)) continue;
      if (thing->groups.size() >= max_groups_per_thing)
        return {"FAILED", "LimitExceededException", "Thing " + thing_name + " is already in 10 thing groups"};
      c.state.things.edit(thing_name)->groups.insert(group);
      c.state.thing_groups.edit(group)->things.insert(thing_name);
      thing = c.state.things.find(thing_name);
    }
    return {"SUCCESSFUL", "", ""};
  }
  return {"SKIPPED", "", action.type + " has no local effect in the emulator"};
}

// The violations a task targets: id → thing name.
std::map<std::string, std::string> targeted_violations(RequestContext& c, const json& target, std::optional<EpochMillis> from,
                                                       std::optional<EpochMillis> to, bool only_active,
                                                       bool include_suppressed) {
  std::set<std::string> ids;
  if (target.contains("violationIds"))
    for (const auto& id : target["violationIds"]) ids.insert(id.get<std::string>());
  const std::string profile = target.value("securityProfileName", ""), behavior = target.value("behaviorName", "");
  auto wanted = [&](const json& row) {
    if (!ids.empty()) return ids.contains(row.value("violationId", ""));
    if (row.value("securityProfileName", "") != profile) return false;
    if (!behavior.empty() && row["behavior"].value("name", "") != behavior) return false;
    return include_suppressed || !row["behavior"].value("suppressAlerts", false);
  };
  std::map<std::string, std::string> out;
  for (const auto& [id, row] : c.state.active_violations.rows())
    if (wanted(row)) out.emplace(id, row.value("thingName", ""));
  if (only_active) return out;
  for (const auto& [key, row] : c.state.violation_events.rows()) {
    EpochMillis t = row.value("violationEventTime", EpochMillis{0});
    if ((from && t < *from) || (to && t > *to)) continue;
    if (row.value("violationEventType", "") == "in-alarm" && wanted(row))
      out.emplace(row.value("violationId", ""), row.value("thingName", ""));
  }
  return out;
}

json task_summary(const json& row) {
  json s = with_seconds(row, {"taskStartTime", "taskEndTime"});
  s.erase("executions");
  s.erase("clientRequestToken");
  if (s.contains("violationEventOccurrenceRange"))
    s["violationEventOccurrenceRange"] = with_seconds(s["violationEventOccurrenceRange"], {"startTime", "endTime"});
  return s;
}

ApiResult start_task(RequestContext& c, const json& in) {
  const std::string task_id = text(in, "taskId"), token = text(in, "clientRequestToken");
  if (auto e = check_name("taskId", task_id, "_-")) return *e;
  if (const json* existing = c.state.mitigation_tasks.find(task_id)) {
    if (existing->value("clientRequestToken", "") == token) return json{{"taskId", task_id}};  // a retried request
    return ApiError{400, "TaskAlreadyExistsException", "Task " + task_id + " already exists"};
  }
  const json target = in.value("target", json::object());
  const bool by_ids = target.contains("violationIds");
  if (by_ids == target.contains("securityProfileName"))
    return invalid_request("The target names either violationIds or a securityProfileName (and optionally a behaviorName)");
  if (by_ids && (target["violationIds"].empty() || target["violationIds"].size() > 25))
    return validation_error("target.violationIds", std::to_string(target["violationIds"].size()) + " ids",
                            "Member must have length between 1 and 25");
  const json action_names = in.value("actions", json::array());
  if (action_names.empty() || action_names.size() > 5)
    return validation_error("actions", std::to_string(action_names.size()) + " actions",
                            "Member must have length between 1 and 5");
  std::vector<const MitigationAction*> actions;
  json definitions = json::array();
  for (const auto& n : action_names) {
    const MitigationAction* a = c.state.mitigation_actions.find(n.get<std::string>());
    if (!a) return invalid_request("Mitigation action " + n.get<std::string>() + " does not exist");
    actions.push_back(a);
    definitions.push_back({{"name", a->name}, {"id", a->id}, {"roleArn", a->role_arn}, {"actionParams", a->params}});
  }
  std::optional<EpochMillis> from, to;
  json task = {{"taskId", task_id},
               {"clientRequestToken", token},
               {"target", target},
               {"actionsDefinition", definitions},
               {"onlyActiveViolationsIncluded", in.value("includeOnlyActiveViolations", false)},
               {"suppressedAlertsIncluded", in.value("includeSuppressedAlerts", false)},
               {"taskStartTime", c.now}};
  if (in.contains("violationEventOccurrenceRange")) {
    const json& r = in["violationEventOccurrenceRange"];
    from = millis_of(r.value("startTime", json()));
    to = millis_of(r.value("endTime", json()));
    if (!from || !to) return invalid_request("violationEventOccurrenceRange needs startTime and endTime");
    task["violationEventOccurrenceRange"] = {{"startTime", *from}, {"endTime", *to}};
  }
  auto violations = targeted_violations(c, target, from, to, in.value("includeOnlyActiveViolations", false),
                                        in.value("includeSuppressedAlerts", false) || by_ids);
  json executions = json::array();
  std::int64_t executed = 0, skipped = 0, failed = 0;
  for (const auto& [violation_id, thing] : violations)
    for (const MitigationAction* a : actions) {
      Execution e = execute(c, *a, thing);
      (e.status == "SUCCESSFUL" ? executed : e.status == "SKIPPED" ? skipped : failed)++;
      json x = {{"taskId", task_id}, {"violationId", violation_id}, {"actionName", a->name}, {"thingName", thing},
                {"executionStartDate", c.now}, {"executionEndDate", c.now}, {"status", e.status}};
      if (!e.error_code.empty()) x["errorCode"] = e.error_code;
      if (!e.message.empty()) x["message"] = e.message;
      executions.push_back(std::move(x));
    }
  task["taskEndTime"] = c.now;
  task["taskStatus"] = failed ? "FAILED" : "SUCCESSFUL";
  task["taskStatistics"] = {{"actionsExecuted", executed}, {"actionsSkipped", skipped}, {"actionsFailed", failed}};
  task["executions"] = std::move(executions);
  c.state.mitigation_tasks.put(task_id, std::move(task));
  return json{{"taskId", task_id}};
}

ApiResult describe_task(RequestContext& c, const json& in) {
  const std::string id = text(in, "taskId");
  const json* t = c.state.mitigation_tasks.find(id);
  if (!t) return not_found("Task " + id + " does not exist");
  return json{{"taskSummary", task_summary(*t)}};
}

ApiResult list_tasks(RequestContext& c, const json& in) {
  auto page = page_request(in);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  auto from = millis_of(in.value("startTime", json())), to = millis_of(in.value("endTime", json()));
  if (!from || !to) return invalid_request("startTime and endTime are required");
  json items = json::array();
  auto token = page_through(
      c.state.mitigation_tasks.rows(), std::get<PageRequest>(page),
      [&](const auto& row) {
        EpochMillis t = row.second.value("taskStartTime", EpochMillis{0});
        return t >= *from && t <= *to;
      },
      [&](const auto& row) { items.push_back(task_summary(row.second)); });
  return page_output("tasks", std::move(items), token);
}

ApiResult list_executions(RequestContext& c, const json& in) {
  auto page = page_request(in);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  const std::string task = text(in, "taskId"), violation = text(in, "violationId"), thing = text(in, "thingName");
  auto from = millis_of(in.value("startTime", json())), to = millis_of(in.value("endTime", json()));
  // Executions live inside their task; page over "<taskId>/<index>" keys.
  std::map<std::string, json> rows;
  for (const auto& [id, t] : c.state.mitigation_tasks.rows()) {
    if (!task.empty() && id != task) continue;
    std::size_t i = 0;
    for (const auto& x : t.value("executions", json::array())) {
      char key[24];
      std::snprintf(key, sizeof key, "%06zu", i++);
      rows.emplace(id + "/" + key, x);
    }
  }
  json items = json::array();
  auto token = page_through(
      rows, std::get<PageRequest>(page),
      [&](const auto& row) {
        const json& x = row.second;
        EpochMillis t = x.value("executionStartDate", EpochMillis{0});
        return (violation.empty() || x.value("violationId", "") == violation) &&
               (thing.empty() || x.value("thingName", "") == thing) && (!from || t >= *from) && (!to || t <= *to);
      },
      [&](const auto& row) {
        items.push_back(with_seconds(row.second, {"executionStartDate", "executionEndDate"}));
      });
  return page_output("actionsExecutions", std::move(items), token);
}

ApiResult cancel_task(RequestContext& c, const json& in) {
  const std::string id = text(in, "taskId");
  const json* t = c.state.mitigation_tasks.find(id);
  if (!t) return not_found("Task " + id + " does not exist");
  if (t->value("taskStatus", "") != "IN_PROGRESS")
    return invalid_request("Task " + id + " has already finished (" + t->value("taskStatus", "") + ")");
  c.state.mitigation_tasks.edit(id)->operator[]("taskStatus") = "CANCELED";
  return json::object();
}

}  // namespace

void register_mitigation_task_handlers(Router& r) {
  r.add("StartDetectMitigationActionsTask", start_task, true);
  r.add("DescribeDetectMitigationActionsTask", describe_task, false);
  r.add("ListDetectMitigationActionsTasks", list_tasks, false);
  r.add("ListDetectMitigationActionsExecutions", list_executions, false);
  r.add("CancelDetectMitigationActionsTask", cancel_task, true);
}

}  // namespace fleetsim::local

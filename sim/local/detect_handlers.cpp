// Device Defender Detect's configuration side: security profiles and their targets, mitigation actions.
// (What the detector produces — training summaries, violations, metric values — is served elsewhere.)
#include "sim/local/handler_support.hpp"
#include "sim/local/detector.hpp"
#include "sim/local/handlers.hpp"

namespace fleetsim::local {

namespace {

using nlohmann::json;
constexpr std::size_t max_behaviors = 100;
constexpr std::size_t max_profiles_per_target = 5;
constexpr std::size_t max_mitigation_actions = 100;

ApiError profile_not_found(std::string_view name) {
  return not_found("Security profile " + std::string(name) + " does not exist");
}

bool one_of(const json& v, std::initializer_list<std::string_view> values) {
  if (!v.is_string()) return false;
  for (auto s : values)
    if (v.get<std::string>() == s) return true;
  return false;
}

// The checks AWS's model makes on behaviors: unique valid names, the enums and ranges of the criteria.
std::optional<ApiError> check_behaviors(const json& behaviors) {
  if (behaviors.size() > max_behaviors)
    return validation_error("behaviors", std::to_string(behaviors.size()) + " behaviors",
                            "Member must have length less than or equal to 100");
  std::set<std::string> names;
  for (const auto& b : behaviors) {
    if (!b.is_object()) return serialization_error("Each behavior must be a structure");
    if (!b.contains("name") || !b["name"].is_string()) return validation_error("behaviors.member.name", "null", "Member must not be null");
    const std::string name = b["name"].get<std::string>();
    if (auto e = check_name("behaviors.member.name", name, ":_-")) return e;
    if (!names.insert(name).second) return invalid_request("Behavior names must be unique: " + name + " appears twice");
    if (b.contains("metric") && !b["metric"].is_string()) return serialization_error("behavior.metric must be a string");
    const json criteria = b.value("criteria", json::object());
    if (!criteria.is_object()) return serialization_error("behavior.criteria must be a structure");
    if (criteria.contains("comparisonOperator") &&
        !one_of(criteria["comparisonOperator"], {"less-than", "less-than-equals", "greater-than", "greater-than-equals",
                                                 "in-cidr-set", "not-in-cidr-set", "in-port-set", "not-in-port-set",
                                                 "in-set", "not-in-set"}))
      return validation_error("behaviors.member.criteria.comparisonOperator", criteria["comparisonOperator"].dump(),
                              "Member must satisfy enum value set");
    for (const char* key : {"consecutiveDatapointsToAlarm", "consecutiveDatapointsToClear"})
      if (criteria.contains(key)) {
        const auto& v = criteria[key];
        if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > 10)
          return validation_error(std::string("behaviors.member.criteria.") + key, v.dump(),
                                  "Member must have value between 1 and 10");
      }
    if (criteria.contains("mlDetectionConfig")) {
      const json& ml = criteria["mlDetectionConfig"];
      if (!ml.is_object() || !one_of(ml.value("confidenceLevel", json()), {"LOW", "MEDIUM", "HIGH"}))
        return validation_error("behaviors.member.criteria.mlDetectionConfig.confidenceLevel",
                                ml.is_object() ? ml.value("confidenceLevel", json()).dump() : ml.dump(),
                                "Member must satisfy enum value set: [LOW, MEDIUM, HIGH]");
    }
    // AWS accepts what the local detector cannot evaluate; saying so beats a behavior that never alarms.
    if (auto why = Detector::unsupported(b))
      return invalid_request("Behavior " + name + ": " + *why + " (the local emulator's detector; AWS accepts it)");
  }
  return std::nullopt;
}

std::optional<ApiError> check_alert_targets(const json& targets) {
  for (const auto& [type, target] : targets.items()) {
    if (type != "SNS") return validation_error("alertTargets", type, "Member must satisfy enum value set: [SNS]");
    if (!target.is_object() || !target.contains("alertTargetArn") || !target.contains("roleArn"))
      return invalid_request("An alert target needs alertTargetArn and roleArn");
  }
  return std::nullopt;
}

// The optional members Create and Update share, checked; an error or nothing.
std::optional<ApiError> check_profile_input(const json& in) {
  if (auto it = in.find("securityProfileDescription"); it != in.end() && it->get<std::string>().size() > 1000)
    return validation_error("securityProfileDescription", "...", "Member must have length less than or equal to 1000");
  if (in.contains("behaviors"))
    if (auto e = check_behaviors(in["behaviors"])) return e;
  if (in.contains("alertTargets"))
    if (auto e = check_alert_targets(in["alertTargets"])) return e;
  if (in.contains("metricsExportConfig") && !in["metricsExportConfig"].is_object())
    return serialization_error("metricsExportConfig must be a structure");
  return std::nullopt;
}

json describe(const SecurityProfile& p) {
  json out{{"securityProfileName", p.name},
           {"securityProfileArn", p.arn},
           {"behaviors", p.behaviors.is_null() ? json::array() : p.behaviors},
           {"version", p.version},
           {"creationDate", epoch_seconds(p.created)},
           {"lastModifiedDate", epoch_seconds(p.modified)}};
  if (!p.description.empty()) out["securityProfileDescription"] = p.description;
  if (!p.alert_targets.is_null()) out["alertTargets"] = p.alert_targets;
  if (!p.additional_metrics.is_null()) out["additionalMetricsToRetain"] = p.additional_metrics;
  if (!p.additional_metrics_v2.is_null()) out["additionalMetricsToRetainV2"] = p.additional_metrics_v2;
  if (!p.metrics_export_config.is_null()) out["metricsExportConfig"] = p.metrics_export_config;
  return out;
}

std::optional<ApiError> check_expected_version(const json& in, const SecurityProfile& p) {
  if (!in.contains("expectedVersion")) return std::nullopt;
  const auto expected = in["expectedVersion"].get<std::int64_t>();
  if (expected == p.version) return std::nullopt;
  return version_conflict("The security profile " + p.name + " is at version " + std::to_string(p.version) +
                          ", not the expected version " + std::to_string(expected));
}

//---------------------------------------------------------------------------------------------------
// Security profiles

ApiResult create_security_profile(RequestContext& c, const json& in) {
  const std::string name = text(in, "securityProfileName");
  if (auto e = check_name("securityProfileName", name, ":_-")) return *e;
  if (auto e = check_profile_input(in)) return *e;
  if (const SecurityProfile* p = c.state.security_profiles.find(name))
    return already_exists("Security profile " + name + " already exists", name, p->arn);
  SecurityProfile p;
  p.name = name;
  p.arn = c.config.arn("securityprofile/" + name);
  p.description = text(in, "securityProfileDescription");
  p.behaviors = in.value("behaviors", json::array());
  p.alert_targets = in.value("alertTargets", json());
  p.additional_metrics = in.value("additionalMetricsToRetain", json());
  p.additional_metrics_v2 = in.value("additionalMetricsToRetainV2", json());
  p.metrics_export_config = in.value("metricsExportConfig", json());
  if (in.contains("tags")) p.tags = in["tags"];
  p.created = p.modified = c.now;
  const SecurityProfile& saved = c.state.security_profiles.put(name, std::move(p));
  return json{{"securityProfileName", saved.name}, {"securityProfileArn", saved.arn}};
}

ApiResult update_security_profile(RequestContext& c, const json& in) {
  const std::string name = text(in, "securityProfileName");
  const SecurityProfile* current = c.state.security_profiles.find(name);
  if (!current) return profile_not_found(name);
  if (auto e = check_expected_version(in, *current)) return *e;
  if (auto e = check_profile_input(in)) return *e;
  for (const auto& [flag, member] : {std::pair{"deleteBehaviors", "behaviors"}, std::pair{"deleteAlertTargets", "alertTargets"},
                                     std::pair{"deleteAdditionalMetricsToRetain", "additionalMetricsToRetain"},
                                     std::pair{"deleteMetricsExportConfig", "metricsExportConfig"}})
    if (in.value(flag, false) && in.contains(member))
      return invalid_request(std::string("Cannot specify both ") + member + " and " + flag + "=true");
  SecurityProfile* p = c.state.security_profiles.edit(name);
  if (in.contains("securityProfileDescription")) p->description = text(in, "securityProfileDescription");
  if (in.contains("behaviors")) p->behaviors = in["behaviors"];
  if (in.value("deleteBehaviors", false)) p->behaviors = json::array();
  if (in.contains("alertTargets")) p->alert_targets = in["alertTargets"];
  if (in.value("deleteAlertTargets", false)) p->alert_targets = json();
  if (in.contains("additionalMetricsToRetain")) p->additional_metrics = in["additionalMetricsToRetain"];
  if (in.contains("additionalMetricsToRetainV2")) p->additional_metrics_v2 = in["additionalMetricsToRetainV2"];
  if (in.value("deleteAdditionalMetricsToRetain", false)) p->additional_metrics = p->additional_metrics_v2 = json();
  if (in.contains("metricsExportConfig")) p->metrics_export_config = in["metricsExportConfig"];
  if (in.value("deleteMetricsExportConfig", false)) p->metrics_export_config = json();
  ++p->version;
  p->modified = c.now;
  return describe(*p);
}

ApiResult describe_security_profile(RequestContext& c, const json& in) {
  const std::string name = text(in, "securityProfileName");
  const SecurityProfile* p = c.state.security_profiles.find(name);
  if (!p) return profile_not_found(name);
  return describe(*p);
}

ApiResult list_security_profiles(RequestContext& c, const json& in) {
  auto page = page_request(in);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  const std::string dimension = text(in, "dimensionName"), metric = text(in, "metricName");
  if (!dimension.empty() && !metric.empty())
    return invalid_request("Specify dimensionName or metricName, not both");
  json items = json::array();
  auto token = page_through(
      c.state.security_profiles.rows(), std::get<PageRequest>(page),
      [&](const auto& row) {
        if (dimension.empty() && metric.empty()) return true;
        const json& behaviors = row.second.behaviors;
        if (!behaviors.is_array()) return false;
        for (const auto& b : behaviors) {
          if (!metric.empty() && b.value("metric", "") == metric) return true;
          if (!dimension.empty() && b.contains("metricDimension") && b["metricDimension"].is_object() &&
              b["metricDimension"].value("dimensionName", "") == dimension)
            return true;
        }
        return false;
      },
      [&](const auto& row) { items.push_back(json{{"name", row.second.name}, {"arn", row.second.arn}}); });
  return page_output("securityProfileIdentifiers", std::move(items), token);
}

ApiResult delete_security_profile(RequestContext& c, const json& in) {
  const std::string name = text(in, "securityProfileName");
  const SecurityProfile* p = c.state.security_profiles.find(name);
  if (!p) return json::object();  // the model lists no ResourceNotFoundException here
  if (auto e = check_expected_version(in, *p)) return *e;
  c.state.security_profiles.erase(name);
  return json::object();
}

// Checks a target ARN: a thing group that exists, or one of the all/... targets, in this region and account.
std::optional<ApiError> check_target(RequestContext& c, const std::string& arn) {
  const std::string prefix = c.config.arn("");
  if (!arn.starts_with(prefix))
    return invalid_request("The target " + arn + " is not an ARN of this account and region (" + prefix + "...)");
  const std::string resource = arn.substr(prefix.size());
  if (resource == "all/things" || resource == "all/registered-things" || resource == "all/unregistered-things")
    return std::nullopt;
  if (resource.starts_with("thinggroup/")) {
    const std::string group = resource.substr(11);
    if (!c.state.thing_groups.contains(group)) return not_found("Thing group " + group + " cannot be found.");
    return std::nullopt;
  }
  return invalid_request("The target " + arn +
                         " is not a thing group ARN or all/things, all/registered-things, all/unregistered-things");
}

ApiResult attach_security_profile(RequestContext& c, const json& in) {
  const std::string name = text(in, "securityProfileName"), target = text(in, "securityProfileTargetArn");
  const SecurityProfile* p = c.state.security_profiles.find(name);
  if (!p) return profile_not_found(name);
  if (auto e = check_target(c, target)) return *e;
  if (p->targets.contains(target)) return json::object();
  std::size_t attached = 0;
  for (const auto& [other, profile] : c.state.security_profiles.rows()) attached += profile.targets.contains(target);
  if (attached >= max_profiles_per_target)
    return limit_exceeded("The target " + target + " already has " + std::to_string(max_profiles_per_target) +
                          " security profiles attached, the most Device Defender allows");
  c.state.security_profiles.edit(name)->targets.insert(target);
  return json::object();
}

ApiResult detach_security_profile(RequestContext& c, const json& in) {
  const std::string name = text(in, "securityProfileName"), target = text(in, "securityProfileTargetArn");
  const SecurityProfile* p = c.state.security_profiles.find(name);
  if (!p) return profile_not_found(name);
  if (p->targets.contains(target)) c.state.security_profiles.edit(name)->targets.erase(target);
  return json::object();
}

ApiResult list_targets_for_security_profile(RequestContext& c, const json& in) {
  auto page = page_request(in);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  const std::string name = text(in, "securityProfileName");
  const SecurityProfile* p = c.state.security_profiles.find(name);
  if (!p) return profile_not_found(name);
  json items = json::array();
  auto token = page_through(p->targets, std::get<PageRequest>(page), [](const auto&) { return true; },
                            [&](const std::string& arn) { items.push_back(json{{"arn", arn}}); });
  return page_output("securityProfileTargets", std::move(items), token);
}

//---------------------------------------------------------------------------------------------------
// Mitigation actions

// The action type of actionParams (exactly one member), with its required members checked.
std::variant<std::string, ApiError> action_type(const json& params) {
  static const std::pair<const char*, const char*> types[] = {
      {"updateDeviceCertificateParams", "UPDATE_DEVICE_CERTIFICATE"},
      {"updateCACertificateParams", "UPDATE_CA_CERTIFICATE"},
      {"addThingsToThingGroupParams", "ADD_THINGS_TO_THING_GROUP"},
      {"replaceDefaultPolicyVersionParams", "REPLACE_DEFAULT_POLICY_VERSION"},
      {"enableIoTLoggingParams", "ENABLE_IOT_LOGGING"},
      {"publishFindingToSnsParams", "PUBLISH_FINDING_TO_SNS"}};
  std::string type, member;
  for (const auto& [key, t] : types)
    if (params.contains(key) && !params[key].is_null()) {
      if (!type.empty()) return invalid_request("actionParams must contain exactly one action's parameters");
      type = t;
      member = key;
    }
  if (type.empty()) return invalid_request("actionParams must contain exactly one action's parameters");
  const json& p = params[member];
  if (!p.is_object()) return serialization_error(member + " must be a structure");
  auto missing = [&](const char* field) { return validation_error(member + "." + field, "null", "Member must not be null"); };
  if (member == "updateDeviceCertificateParams" || member == "updateCACertificateParams") {
    if (!p.contains("action")) return missing("action");
    if (!one_of(p["action"], {"DEACTIVATE"}))
      return validation_error(member + ".action", p["action"].dump(), "Member must satisfy enum value set: [DEACTIVATE]");
  } else if (member == "addThingsToThingGroupParams") {
    if (!p.contains("thingGroupNames")) return missing("thingGroupNames");
    const json& names = p["thingGroupNames"];
    if (!names.is_array() || names.empty() || names.size() > 10)
      return validation_error(member + ".thingGroupNames", names.dump(), "Member must have length between 1 and 10");
  } else if (member == "replaceDefaultPolicyVersionParams") {
    if (!one_of(p.value("templateName", json()), {"BLANK_POLICY"}))
      return validation_error(member + ".templateName", p.value("templateName", json()).dump(),
                              "Member must satisfy enum value set: [BLANK_POLICY]");
  } else if (member == "enableIoTLoggingParams") {
    if (!p.contains("roleArnForLogging")) return missing("roleArnForLogging");
    if (!one_of(p.value("logLevel", json()), {"DEBUG", "INFO", "ERROR", "WARN", "DISABLED"}))
      return validation_error(member + ".logLevel", p.value("logLevel", json()).dump(),
                              "Member must satisfy enum value set: [DEBUG, INFO, ERROR, WARN, DISABLED]");
  } else if (member == "publishFindingToSnsParams") {
    if (!p.contains("topicArn")) return missing("topicArn");
  }
  return type;
}

json describe(const MitigationAction& a) {
  return json{{"actionName", a.name},
              {"actionType", a.type},
              {"actionArn", a.arn},
              {"actionId", a.id},
              {"roleArn", a.role_arn},
              {"actionParams", a.params},
              {"creationDate", epoch_seconds(a.created)},
              {"lastModifiedDate", epoch_seconds(a.modified)}};
}

ApiResult create_mitigation_action(RequestContext& c, const json& in) {
  const std::string name = text(in, "actionName"), role = text(in, "roleArn");
  if (auto e = check_name("actionName", name, "_-")) return *e;
  if (role.size() < 20) return validation_error("roleArn", role, "Member must have length greater than or equal to 20");
  auto type = action_type(in["actionParams"]);
  if (auto* e = std::get_if<ApiError>(&type)) return *e;
  if (const MitigationAction* a = c.state.mitigation_actions.find(name))
    return already_exists("Mitigation action " + name + " already exists", a->id, a->arn);
  if (c.state.mitigation_actions.size() >= max_mitigation_actions)
    return limit_exceeded("The account already has " + std::to_string(max_mitigation_actions) + " mitigation actions");
  MitigationAction a;
  a.name = name;
  a.id = uuid4();
  a.arn = c.config.arn("mitigationaction/" + name);
  a.type = std::get<std::string>(type);
  a.role_arn = role;
  a.params = in["actionParams"];
  if (in.contains("tags")) a.tags = in["tags"];
  a.created = a.modified = c.now;
  const MitigationAction& saved = c.state.mitigation_actions.put(name, std::move(a));
  return json{{"actionArn", saved.arn}, {"actionId", saved.id}};
}

ApiResult list_mitigation_actions(RequestContext& c, const json& in) {
  auto page = page_request(in);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  const std::string type = text(in, "actionType");
  json items = json::array();
  auto token = page_through(
      c.state.mitigation_actions.rows(), std::get<PageRequest>(page),
      [&](const auto& row) { return type.empty() || row.second.type == type; },
      [&](const auto& row) {
        items.push_back(json{{"actionName", row.second.name},
                             {"actionArn", row.second.arn},
                             {"creationDate", epoch_seconds(row.second.created)}});
      });
  return page_output("actionIdentifiers", std::move(items), token);
}

ApiResult describe_mitigation_action(RequestContext& c, const json& in) {
  const std::string name = text(in, "actionName");
  const MitigationAction* a = c.state.mitigation_actions.find(name);
  if (!a) return not_found("Mitigation action " + name + " does not exist");
  return describe(*a);
}

ApiResult delete_mitigation_action(RequestContext& c, const json& in) {
  c.state.mitigation_actions.erase(text(in, "actionName"));  // the model lists no ResourceNotFoundException
  return json::object();
}

}  // namespace

void register_detect_handlers(Router& r) {
  r.add("CreateSecurityProfile", create_security_profile, true);
  r.add("UpdateSecurityProfile", update_security_profile, true);
  r.add("DescribeSecurityProfile", describe_security_profile, false);
  r.add("ListSecurityProfiles", list_security_profiles, false);
  r.add("DeleteSecurityProfile", delete_security_profile, true);
  r.add("AttachSecurityProfile", attach_security_profile, true);
  r.add("DetachSecurityProfile", detach_security_profile, true);
  r.add("ListTargetsForSecurityProfile", list_targets_for_security_profile, false);
  r.add("CreateMitigationAction", create_mitigation_action, true);
  r.add("ListMitigationActions", list_mitigation_actions, false);
  r.add("DescribeMitigationAction", describe_mitigation_action, false);
  r.add("DeleteMitigationAction", delete_mitigation_action, true);
}

}  // namespace fleetsim::local

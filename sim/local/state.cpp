#include "sim/local/state.hpp"

#include <cstdio>

namespace fleetsim::local {

std::string time_key(EpochMillis t) {
  char key[24];
  std::snprintf(key, sizeof key, "%013lld", static_cast<long long>(t));
  return key;
}

namespace {

// Optional JSON members (null = absent) are written only when present.
void put_if(nlohmann::json& j, const char* key, const nlohmann::json& v) {
  if (!v.is_null()) j[key] = v;
}

template <class T>
void get(const nlohmann::json& j, const char* key, T& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(out);
}

}  // namespace

void to_json(nlohmann::json& j, const Thing& v) {
  j = {{"name", v.name},         {"id", v.id},         {"arn", v.arn},
       {"typeName", v.type_name}, {"billingGroup", v.billing_group}, {"attributes", v.attributes},
       {"version", v.version},   {"created", v.created}, {"principals", v.principals},
       {"groups", v.groups}};
}
void from_json(const nlohmann::json& j, Thing& v) {
  get(j, "name", v.name);
  get(j, "id", v.id);
  get(j, "arn", v.arn);
  get(j, "typeName", v.type_name);
  get(j, "billingGroup", v.billing_group);
  get(j, "attributes", v.attributes);
  get(j, "version", v.version);
  get(j, "created", v.created);
  get(j, "principals", v.principals);
  get(j, "groups", v.groups);
}

void to_json(nlohmann::json& j, const ThingGroup& v) {
  j = {{"name", v.name},       {"id", v.id},     {"arn", v.arn},         {"description", v.description},
       {"parent", v.parent},   {"attributes", v.attributes}, {"tags", v.tags}, {"version", v.version},
       {"created", v.created}, {"things", v.things}};
}
void from_json(const nlohmann::json& j, ThingGroup& v) {
  get(j, "name", v.name);
  get(j, "id", v.id);
  get(j, "arn", v.arn);
  get(j, "description", v.description);
  get(j, "parent", v.parent);
  get(j, "attributes", v.attributes);
  get(j, "tags", v.tags);
  get(j, "version", v.version);
  get(j, "created", v.created);
  get(j, "things", v.things);
}

void to_json(nlohmann::json& j, const Certificate& v) {
  j = {{"id", v.id},           {"arn", v.arn},           {"pem", v.pem},
       {"status", v.status},   {"generationId", v.generation_id}, {"created", v.created},
       {"modified", v.modified}, {"notBefore", v.not_before}, {"notAfter", v.not_after},
       {"things", v.things},   {"policies", v.policies}};
}
void from_json(const nlohmann::json& j, Certificate& v) {
  get(j, "id", v.id);
  get(j, "arn", v.arn);
  get(j, "pem", v.pem);
  get(j, "status", v.status);
  get(j, "generationId", v.generation_id);
  get(j, "created", v.created);
  get(j, "modified", v.modified);
  get(j, "notBefore", v.not_before);
  get(j, "notAfter", v.not_after);
  get(j, "things", v.things);
  get(j, "policies", v.policies);
}

void to_json(nlohmann::json& j, const Policy& v) {
  j = {{"name", v.name},         {"arn", v.arn},         {"document", v.document},
       {"generationId", v.generation_id}, {"created", v.created}, {"modified", v.modified},
       {"tags", v.tags},         {"targets", v.targets}};
}
void from_json(const nlohmann::json& j, Policy& v) {
  get(j, "name", v.name);
  get(j, "arn", v.arn);
  get(j, "document", v.document);
  get(j, "generationId", v.generation_id);
  get(j, "created", v.created);
  get(j, "modified", v.modified);
  get(j, "tags", v.tags);
  get(j, "targets", v.targets);
}

void to_json(nlohmann::json& j, const SecurityProfile& v) {
  j = {{"name", v.name}, {"arn", v.arn}, {"description", v.description}, {"tags", v.tags},
       {"version", v.version}, {"created", v.created}, {"modified", v.modified}, {"targets", v.targets}};
  put_if(j, "behaviors", v.behaviors);
  put_if(j, "alertTargets", v.alert_targets);
  put_if(j, "additionalMetricsToRetain", v.additional_metrics);
  put_if(j, "additionalMetricsToRetainV2", v.additional_metrics_v2);
  put_if(j, "metricsExportConfig", v.metrics_export_config);
}
void from_json(const nlohmann::json& j, SecurityProfile& v) {
  get(j, "name", v.name);
  get(j, "arn", v.arn);
  get(j, "description", v.description);
  get(j, "tags", v.tags);
  get(j, "version", v.version);
  get(j, "created", v.created);
  get(j, "modified", v.modified);
  get(j, "targets", v.targets);
  get(j, "behaviors", v.behaviors);
  get(j, "alertTargets", v.alert_targets);
  get(j, "additionalMetricsToRetain", v.additional_metrics);
  get(j, "additionalMetricsToRetainV2", v.additional_metrics_v2);
  get(j, "metricsExportConfig", v.metrics_export_config);
}

void to_json(nlohmann::json& j, const MitigationAction& v) {
  j = {{"name", v.name},     {"id", v.id},       {"arn", v.arn},         {"type", v.type},
       {"roleArn", v.role_arn}, {"params", v.params}, {"tags", v.tags}, {"created", v.created},
       {"modified", v.modified}};
}
void from_json(const nlohmann::json& j, MitigationAction& v) {
  get(j, "name", v.name);
  get(j, "id", v.id);
  get(j, "arn", v.arn);
  get(j, "type", v.type);
  get(j, "roleArn", v.role_arn);
  get(j, "params", v.params);
  get(j, "tags", v.tags);
  get(j, "created", v.created);
  get(j, "modified", v.modified);
}

}  // namespace fleetsim::local

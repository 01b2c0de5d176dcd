// Things, thing groups and membership, and DescribeEndpoint.
#include <algorithm>

#include "sim/local/handler_support.hpp"
#include "sim/local/handlers.hpp"

namespace fleetsim::local {

namespace {

using nlohmann::json;
constexpr std::string_view name_chars = ":_-";
constexpr std::size_t max_groups_per_thing = 10;

// The attributes of an attributePayload ({"attributes": {...}}), checked: string values only.
std::variant<std::map<std::string, std::string>, ApiError> attributes_of(const json& payload) {
  std::map<std::string, std::string> out;
  if (!payload.is_object()) return out;
  auto it = payload.find("attributes");
  if (it == payload.end() || it->is_null()) return out;
  if (!it->is_object()) return serialization_error("attributePayload.attributes must be a map of strings");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return serialization_error("attribute '" + k + "' must be a string");
    if (k.empty() || k.size() > 128) return validation_error("attributes", k, "Member must have length between 1 and 128");
    out[k] = v.get<std::string>();
  }
  return out;
}

// "arn:aws:iot:REGION:ACCOUNT:thing/NAME" → NAME (or the text itself when it is not an ARN of `kind`).
std::string name_from(std::string_view name_or_arn, std::string_view kind) {
  const std::string marker = ":" + std::string(kind) + "/";
  if (name_or_arn.starts_with("arn:"))
    if (auto at = name_or_arn.find(marker); at != std::string_view::npos)
      return std::string(name_or_arn.substr(at + marker.size()));
  return std::string(name_or_arn);
}

json thing_summary(const Thing& t) {
  json out{{"thingName", t.name}, {"thingArn", t.arn}, {"attributes", t.attributes}, {"version", t.version}};
  if (!t.type_name.empty()) out["thingTypeName"] = t.type_name;
  return out;
}

ApiError thing_not_found(std::string_view name) {
  return not_found("Thing " + std::string(name) + " cannot be found.");
}
ApiError group_not_found(std::string_view name) {
  return not_found("Thing group " + std::string(name) + " cannot be found.");
}

//---------------------------------------------------------------------------------------------------
// Things

ApiResult create_thing(RequestContext& c, const json& in) {
  const std::string name = text(in, "thingName");
  if (auto e = check_name("thingName", name, name_chars)) return *e;
  if (in.contains("thingTypeName"))
    return not_found("Thing type " + text(in, "thingTypeName") + " cannot be found; the local emulator has no thing types");
  if (in.contains("billingGroupName"))
    return not_found("Billing group " + text(in, "billingGroupName") +
                     " cannot be found; the local emulator has no billing groups");
  auto attrs = attributes_of(in.value("attributePayload", json::object()));
  if (auto* e = std::get_if<ApiError>(&attrs)) return *e;
  auto& attributes = std::get<0>(attrs);
  if (const Thing* existing = c.state.things.find(name)) {
    // As AWS: the same name and configuration succeeds again; a different one is a conflict.
    if (existing->attributes != attributes)
      return already_exists("Thing " + name + " already exists with different attributes", existing->id, existing->arn);
    return json{{"thingName", existing->name}, {"thingArn", existing->arn}, {"thingId", existing->id}};
  }
  Thing t;
  t.name = name;
  t.id = uuid4();
  t.arn = c.config.arn("thing/" + name);
  t.attributes = std::move(attributes);
  t.created = c.now;
  const Thing& saved = c.state.things.put(name, std::move(t));
  return json{{"thingName", saved.name}, {"thingArn", saved.arn}, {"thingId", saved.id}};
}

ApiResult describe_thing(RequestContext& c, const json& in) {
  const std::string name = text(in, "thingName");
  const Thing* t = c.state.things.find(name);
  if (!t) return thing_not_found(name);
  json out{{"defaultClientId", t->name}, {"thingName", t->name}, {"thingId", t->id},
           {"thingArn", t->arn},         {"attributes", t->attributes}, {"version", t->version}};
  if (!t->type_name.empty()) out["thingTypeName"] = t->type_name;
  if (!t->billing_group.empty()) out["billingGroupName"] = t->billing_group;
  return out;
}

ApiResult delete_thing(RequestContext& c, const json& in) {
  const std::string name = text(in, "thingName");
  const Thing* t = c.state.things.find(name);
  if (!t) return json::object();  // AWS: deleting a thing that does not exist succeeds
  if (in.contains("expectedVersion") && in["expectedVersion"].get<std::int64_t>() != t->version)
    return version_conflict("The version of thing " + name + " is " + std::to_string(t->version) + ", not " +
                            std::to_string(in["expectedVersion"].get<std::int64_t>()));
  if (!t->principals.empty())
    return invalid_request("Cannot delete. Thing " + name + " is still attached to one or more principals");
  for (const auto& group : t->groups)
    if (ThingGroup* g = c.state.thing_groups.edit(group)) g->things.erase(name);
  c.state.things.erase(name);
  return json::object();
}

ApiResult list_things(RequestContext& c, const json& in) {
  auto page = page_request(in);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  const std::string attr = text(in, "attributeName"), value = text(in, "attributeValue"),
                    type = text(in, "thingTypeName");
  const bool prefix = in.value("usePrefixAttributeValue", false);
  json items = json::array();
  auto token = page_through(
      c.state.things.rows(), std::get<PageRequest>(page),
      [&](const auto& row) {
        const Thing& t = row.second;
        if (!type.empty() && t.type_name != type) return false;
        if (attr.empty()) return true;
        auto it = t.attributes.find(attr);
        if (it == t.attributes.end()) return false;
        if (!in.contains("attributeValue")) return true;
        return prefix ? it->second.starts_with(value) : it->second == value;
      },
      [&](const auto& row) { items.push_back(thing_summary(row.second)); });
  return page_output("things", std::move(items), token);
}

//---------------------------------------------------------------------------------------------------
// Thing groups

ApiResult create_thing_group(RequestContext& c, const json& in) {
  const std::string name = text(in, "thingGroupName");
  if (auto e = check_name("thingGroupName", name, name_chars)) return *e;
  const std::string parent = text(in, "parentGroupName");
  if (!parent.empty() && !c.state.thing_groups.contains(parent))
    return invalid_request("The parent thing group " + parent + " does not exist");
  const json props = in.value("thingGroupProperties", json::object());
  std::string description;
  if (auto it = props.find("thingGroupDescription"); it != props.end() && it->is_string()) description = it->get<std::string>();
  auto attrs = attributes_of(props.value("attributePayload", json::object()));
  if (auto* e = std::get_if<ApiError>(&attrs)) return *e;
  if (const ThingGroup* g = c.state.thing_groups.find(name)) {
    if (g->parent != parent || g->description != description || g->attributes != std::get<0>(attrs))
      return already_exists("Thing Group " + name + " already exists with different properties", g->id, g->arn);
    return json{{"thingGroupName", g->name}, {"thingGroupArn", g->arn}, {"thingGroupId", g->id}};
  }
  ThingGroup g;
  g.name = name;
  g.id = uuid4();
  g.arn = c.config.arn("thinggroup/" + name);
  g.parent = parent;
  g.description = description;
  g.attributes = std::move(std::get<0>(attrs));
  if (in.contains("tags")) g.tags = in["tags"];
  g.created = c.now;
  const ThingGroup& saved = c.state.thing_groups.put(name, std::move(g));
  return json{{"thingGroupName", saved.name}, {"thingGroupArn", saved.arn}, {"thingGroupId", saved.id}};
}

ApiResult describe_thing_group(RequestContext& c, const json& in) {
  const std::string name = text(in, "thingGroupName");
  const ThingGroup* g = c.state.thing_groups.find(name);
  if (!g) return group_not_found(name);
  json props{{"attributePayload", {{"attributes", g->attributes}}}};
  if (!g->description.empty()) props["thingGroupDescription"] = g->description;
  json metadata{{"creationDate", epoch_seconds(g->created)}};
  if (!g->parent.empty()) {
    metadata["parentGroupName"] = g->parent;
    json chain = json::array();  // root first, ending with the parent
    for (const ThingGroup* p = c.state.thing_groups.find(g->parent); p && chain.size() < 16;
         p = p->parent.empty() ? nullptr : c.state.thing_groups.find(p->parent))
      chain.insert(chain.begin(), json{{"groupName", p->name}, {"groupArn", p->arn}});
    metadata["rootToParentThingGroups"] = std::move(chain);
  }
  return json{{"thingGroupName", g->name}, {"thingGroupId", g->id},         {"thingGroupArn", g->arn},
              {"version", g->version},     {"thingGroupProperties", props}, {"thingGroupMetadata", metadata}};
}

ApiResult delete_thing_group(RequestContext& c, const json& in) {
  const std::string name = text(in, "thingGroupName");
  const ThingGroup* g = c.state.thing_groups.find(name);
  if (!g) return json::object();
  if (in.contains("expectedVersion") && in["expectedVersion"].get<std::int64_t>() != g->version)
    return version_conflict("The version of thing group " + name + " is " + std::to_string(g->version) + ", not " +
                            std::to_string(in["expectedVersion"].get<std::int64_t>()));
  for (const auto& [other, group] : c.state.thing_groups.rows())
    if (group.parent == name)
      return invalid_request("Cannot delete thing group " + name + ": it has child groups (" + other + "); delete them first");
  for (const auto& thing : g->things)
    if (Thing* t = c.state.things.edit(thing)) t->groups.erase(name);
  // What pointed at the group goes with it: policy attachments and security profile targets.
  const std::string arn = g->arn;
  for (const auto& [policy, p] : c.state.policies.rows())
    if (p.targets.contains(arn)) c.state.policies.edit(policy)->targets.erase(arn);
  for (const auto& [profile, p] : c.state.security_profiles.rows())
    if (p.targets.contains(arn)) c.state.security_profiles.edit(profile)->targets.erase(arn);
  c.state.thing_groups.erase(name);
  return json::object();
}

// The group and thing an Add/RemoveThingToThingGroup request names (by name or ARN).
std::variant<std::pair<std::string, std::string>, ApiError> membership(RequestContext& c, const json& in) {
  std::string group = text(in, "thingGroupName"), thing = text(in, "thingName");
  if (group.empty()) group = name_from(text(in, "thingGroupArn"), "thinggroup");
  if (thing.empty()) thing = name_from(text(in, "thingArn"), "thing");
  if (group.empty()) return invalid_request("Either thingGroupName or thingGroupArn must be specified");
  if (thing.empty()) return invalid_request("Either thingName or thingArn must be specified");
  if (!c.state.thing_groups.contains(group)) return group_not_found(group);
  if (!c.state.things.contains(thing)) return thing_not_found(thing);
  return std::pair{group, thing};
}

ApiResult add_thing_to_thing_group(RequestContext& c, const json& in) {
  auto m = membership(c, in);
  if (auto* e = std::get_if<ApiError>(&m)) return *e;
  const auto& [group, thing] = std::get<0>(m);
  const Thing* t = c.state.things.find(thing);
  if (t->groups.contains(group)) return json::object();
  if (t->groups.size() >= max_groups_per_thing)
    return invalid_request("Thing " + thing + " is already in " + std::to_string(max_groups_per_thing) +
                           " thing groups, the most a thing can belong to");
  c.state.things.edit(thing)->groups.insert(group);
  c.state.thing_groups.edit(group)->things.insert(thing);
  return json::object();
}

ApiResult remove_thing_from_thing_group(RequestContext& c, const json& in) {
  auto m = membership(c, in);
  if (auto* e = std::get_if<ApiError>(&m)) return *e;
  const auto& [group, thing] = std::get<0>(m);
  if (!c.state.things.find(thing)->groups.contains(group)) return json::object();
  c.state.things.edit(thing)->groups.erase(group);
  c.state.thing_groups.edit(group)->things.erase(thing);
  return json::object();
}

ApiResult list_things_in_thing_group(RequestContext& c, const json& in) {
  auto page = page_request(in);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  const std::string name = text(in, "thingGroupName");
  const ThingGroup* g = c.state.thing_groups.find(name);
  if (!g) return group_not_found(name);
  std::set<std::string> things = g->things;
  if (in.value("recursive", false)) {
    std::set<std::string> groups{name};
    for (bool grew = true; grew;) {  // the descendants of the group (hierarchies are shallow)
      grew = false;
      for (const auto& [child, cg] : c.state.thing_groups.rows())
        if (groups.contains(cg.parent) && groups.insert(child).second) {
          grew = true;
          things.insert(cg.things.begin(), cg.things.end());
        }
    }
  }
  json items = json::array();
  auto token = page_through(things, std::get<PageRequest>(page), [](const auto&) { return true; },
                            [&](const std::string& thing) { items.push_back(thing); });
  return page_output("things", std::move(items), token);
}

//---------------------------------------------------------------------------------------------------
// Endpoint

ApiResult describe_endpoint(RequestContext& c, const json& in) {
  const std::string type = in.contains("endpointType") ? text(in, "endpointType") : "iot:Data";
  if (type == "iot:CredentialProvider")
    return invalid_request("The local emulator has no credentials provider endpoint (iot:CredentialProvider)");
  if (type != "iot:Data" && type != "iot:Data-ATS" && type != "iot:Jobs")
    return invalid_request("Endpoint type " + type +
                           " is not valid; use iot:Data-ATS, iot:Data, iot:CredentialProvider or iot:Jobs");
  std::string address = c.config.data_endpoint_host;
  if (c.config.data_endpoint_port != 0 && c.config.data_endpoint_port != 8883)
    address += ":" + std::to_string(c.config.data_endpoint_port);
  return json{{"endpointAddress", address}};
}

}  // namespace

void register_registry_handlers(Router& r) {
  r.add("CreateThing", create_thing, true);
  r.add("DescribeThing", describe_thing, false);
  r.add("DeleteThing", delete_thing, true);
  r.add("ListThings", list_things, false);
  r.add("CreateThingGroup", create_thing_group, true);
  r.add("DescribeThingGroup", describe_thing_group, false);
  r.add("DeleteThingGroup", delete_thing_group, true);
  r.add("AddThingToThingGroup", add_thing_to_thing_group, true);
  r.add("RemoveThingFromThingGroup", remove_thing_from_thing_group, true);
  r.add("ListThingsInThingGroup", list_things_in_thing_group, false);
  r.add("DescribeEndpoint", describe_endpoint, false);
}

void register_all_handlers(Router& r) {
  register_registry_handlers(r);
  register_certificate_handlers(r);
  register_detect_handlers(r);
  register_violation_handlers(r);
  register_mitigation_task_handlers(r);
}

}  // namespace fleetsim::local

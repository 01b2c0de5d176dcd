#include "sim/local/authority.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace fleetsim::local {

namespace {

constexpr std::size_t max_cached_documents = 1024;
constexpr std::size_t max_group_depth = 8;  // AWS allows 7 levels

class AllowAll final : public ConnectionPolicy {
 public:
  bool may_publish(std::string_view) const override { return true; }
  bool may_subscribe(std::string_view) const override { return true; }
  bool may_receive(std::string_view) const override { return true; }
};

// What a CONNECT decision needs from the registry, copied out under the store's lock.
struct Grant {
  bool known = false;
  std::string status;
  ConnectionVariables vars;
  std::vector<std::pair<std::string, std::string>> policies;  // name, document
};

Grant gather(const State& s, const ConnectionIdentity& who) {
  Grant g;
  g.vars.client_id = who.client_id;
  const Certificate* cert = s.certificates.find(who.certificate_id);
  if (!cert) return g;
  g.known = true;
  g.status = cert->status;
  auto add_policy = [&](const std::string& name) {
    if (std::any_of(g.policies.begin(), g.policies.end(), [&](auto& p) { return p.first == name; })) return;
    if (const Policy* p = s.policies.find(name)) g.policies.emplace_back(name, p->document);
  };
  for (const auto& name : cert->policies) add_policy(name);
  const Thing* thing = cert->things.contains(who.client_id) ? s.things.find(who.client_id) : nullptr;
  if (!thing) return g;
  g.vars.thing_name = thing->name;
  if (!thing->type_name.empty()) g.vars.thing_type_name = thing->type_name;
  g.vars.thing_attributes = thing->attributes;
  // Thing group policies, inherited down the group hierarchy.
  std::vector<std::string> group_arns;
  for (const auto& name : thing->groups) {
    const ThingGroup* group = s.thing_groups.find(name);
    for (std::size_t depth = 0; group && depth < max_group_depth; ++depth) {
      group_arns.push_back(group->arn);
      group = group->parent.empty() ? nullptr : s.thing_groups.find(group->parent);
    }
  }
  if (group_arns.empty()) return g;
  for (const auto& [name, p] : s.policies.rows())
    if (std::any_of(group_arns.begin(), group_arns.end(), [&](auto& arn) { return p.targets.contains(arn); }))
      add_policy(name);
  return g;
}

ConnectDecision refuse(ConnectRefusal why, std::string reason) {
  ConnectDecision d;
  d.refusal = why;
  d.reason = std::move(reason);
  return d;
}

}  // namespace

RegistryAuthority::RegistryAuthority(const Store& store, std::string region, std::string account_id)
    : store_(store), region_(std::move(region)), account_id_(std::move(account_id)) {}

std::shared_ptr<const PolicyDocument> RegistryAuthority::parsed(const std::string& document) const {
  {
    std::lock_guard lock(cache_mutex_);
    if (auto it = documents_.find(document); it != documents_.end()) return it->second;
  }
  auto doc = PolicyDocument::parse(document);  // outside the lock: parsing is the slow part
  auto ptr = doc ? std::make_shared<const PolicyDocument>(std::move(doc.value())) : nullptr;
  std::lock_guard lock(cache_mutex_);
  if (documents_.size() >= max_cached_documents) documents_.clear();  // documents replaced many times over
  documents_.emplace(document, ptr);
  return ptr;
}

ConnectDecision RegistryAuthority::authorize_connect(const ConnectionIdentity& who) const {
  if (who.certificate_id.empty()) return refuse(ConnectRefusal::bad_credentials, "no client certificate");
  const Grant g = store_.read([&](const State& s) { return gather(s, who); });
  if (!g.known)
    return refuse(ConnectRefusal::bad_credentials, "certificate " + who.certificate_id + " is not registered");
  if (g.status != "ACTIVE")
    return refuse(ConnectRefusal::bad_credentials, "certificate " + who.certificate_id + " is " + g.status);

  std::vector<std::shared_ptr<const PolicyDocument>> docs;
  std::string names;
  for (const auto& [name, document] : g.policies) {
    docs.push_back(parsed(document));
    names += (names.empty() ? "" : ", ") + name + (docs.back() ? "" : " (malformed, ignored)");
  }
  auto policy = std::make_shared<const CompiledPolicy>(docs, g.vars, region_, account_id_);
  if (!policy->may_connect())
    return refuse(ConnectRefusal::not_authorized,
                  "iot:Connect on client/" + who.client_id + " is not allowed by the policies of certificate " +
                      who.certificate_id + (names.empty() ? " (none attached)" : " (" + names + ")") +
                      (g.vars.thing_name ? "" : "; no thing named like the client id is attached to it"));
  ConnectDecision d;
  d.policy = std::move(policy);
  d.thing_name = g.vars.thing_name.value_or("");
  return d;
}

ConnectDecision AllowAllAuthority::authorize_connect(const ConnectionIdentity& who) const {
  static const auto allow_all = std::make_shared<const AllowAll>();
  ConnectDecision d;
  d.policy = allow_all;
  d.thing_name = who.client_id;
  return d;
}

}  // namespace fleetsim::local

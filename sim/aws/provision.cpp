#include "sim/aws/provision.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "sim/core/pki.hpp"

namespace fleetsim::aws {

namespace {

// The manifest is a journal: one JSON event per line, appended as each resource comes or goes, so an
// interrupted run (or teardown) knows exactly where it stopped. State = the fold of its events.
class Journal {
 public:
  explicit Journal(std::filesystem::path path) : path_(std::move(path)) {
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) {
      auto e = nlohmann::json::parse(line, nullptr, false);
      if (!e.is_discarded() && e.is_object()) apply(e);  // a torn last line is simply not applied
    }
  }
  std::string record(nlohmann::json event) {
    std::string line = event.dump() + "\n";
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return "cannot write the manifest " + path_.string() + ": " + std::strerror(errno);
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fdatasync(fd) == 0;
    ::close(fd);
    if (!ok) return "cannot write the manifest " + path_.string();
    apply(event);
    return {};
  }
  nlohmann::json& state() { return state_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void apply(const nlohmann::json& e) {
    auto what = e.value("event", "");
    auto& s = state_;
    if (what == "start") {
      for (auto key : {"scenario", "region", "endpoint"}) s[key] = e.value(key, "");
    } else if (what == "thing_group") {
      s["thing_groups"][e["name"].get<std::string>()] = e["arn"];
    } else if (what == "thing_group_deleted") {
      s["thing_groups"].erase(e["name"].get<std::string>());
    } else if (what == "policy") {
      s["policies"][e["name"].get<std::string>()] = e["arn"];
    } else if (what == "policy_deleted") {
      s["policies"].erase(e["name"].get<std::string>());
    } else if (what == "thing" || what == "certificate" || what == "policy_attached" || what == "principal_attached" ||
               what == "in_group") {
      auto& t = s["things"][e["thing"].get<std::string>()];
      for (auto& [k, v] : e.items())
        if (k != "event" && k != "thing") t[k] = v;
      t[what] = true;
    } else if (what == "thing_deleted") {
      s["things"].erase(e["thing"].get<std::string>());
    } else if (what == "profile") {
      s["security_profile"] = {{"name", e["name"]}, {"arn", e["arn"]}, {"created", e.value("created", false)}};
    } else if (what == "profile_target") {
      s["security_profile"]["targets"].push_back(e["arn"]);
    } else if (what == "profile_deleted") {
      s.erase("security_profile");
    }
  }
  std::filesystem::path path_;
  nlohmann::json state_ = {{"things", nlohmann::json::object()}, {"thing_groups", nlohmann::json::object()},
                           {"policies", nlohmann::json::object()}};
};

std::string fill(std::string tmpl, const std::string& value) {
  for (auto pos = tmpl.find("{thing}"); pos != std::string::npos; pos = tmpl.find("{thing}", pos + value.size()))
    tmpl.replace(pos, 7, value);
  return tmpl;
}

std::string account_of(const std::string& arn) {
  // arn:aws:iot:REGION:ACCOUNT:...
  std::size_t pos = 0;
  for (int i = 0; i < 4 && pos != std::string::npos; ++i) pos = arn.find(':', pos + 1);
  if (pos == std::string::npos) return "*";
  auto end = arn.find(':', pos + 1);
  return arn.substr(pos + 1, end - pos - 1);
}

const AwsError* failed(const AwsResult<nlohmann::json>& r) { return std::get_if<AwsError>(&r); }
const nlohmann::json& value(const AwsResult<nlohmann::json>& r) { return std::get<nlohmann::json>(r); }

// Writes one certificate and its key (0600) where `run` expects them: <dir>/<name>.pem and .key.
std::string save_identity(const std::filesystem::path& dir, const std::string& name, const nlohmann::json& created) {
  auto cert = pki::Certificate::from_pem(created["certificatePem"].get<std::string>());
  if (!cert) return "the service returned a certificate that is not PEM: " + cert.error();
  auto key = pki::KeyPair::from_pem(created["keyPair"]["PrivateKey"].get<std::string>());
  if (!key) return "the service returned a private key that is not PEM: " + key.error();
  if (auto s = pki::write_private_key(dir / (name + ".key"), *key); !s) return s.error();
  if (auto s = pki::write_certificate(dir / (name + ".pem"), *cert); !s) return s.error();
  return {};
}

class Provisioner {
 public:
  Provisioner(IotClient& c, const ProvisionPlan& p, const ProvisionOptions& o)
      : client_(c), plan_(p), options_(o), journal_(p.certs_dir / "manifest.jsonl") {}

  ProvisionOutcome run() {
    out_.manifest = journal_.path();
    if (auto e = journal_.record({{"event", "start"}, {"scenario", plan_.scenario}, {"region", client_.region()},
                                  {"endpoint", client_.endpoint()}});
        !e.empty())
      return fail(e);
    if (!thing_groups() || !policies() || !controller()) return out_;
    std::size_t done = 0;
    for (const auto& t : plan_.things) {
      if (options_.stop_after_things && out_.things_created >= options_.stop_after_things) {
        out_.error = "stopped after " + std::to_string(out_.things_created) + " things (as asked)";
        return out_;
      }
      bool was_complete = journal_.state()["things"].contains(t.name) &&
                          journal_.state()["things"][t.name].value("in_group", false);
      if (was_complete) ++out_.things_skipped;
      else if (!thing(t)) return out_;
      else ++out_.things_created;
      if (options_.progress) options_.progress({++done, plan_.things.size(), "things"});
    }
    if (!profile()) return out_;
    out_.ok = true;
    return out_;
  }

 private:
  ProvisionOutcome fail(std::string why) {
    out_.ok = false;
    out_.error = std::move(why);
    return out_;
  }
  bool check(const AwsResult<nlohmann::json>& r) {
    if (auto* e = failed(r)) {
      fail(e->describe());
      return false;
    }
    return true;
  }
  bool record(nlohmann::json event) {
    auto e = journal_.record(std::move(event));
    if (!e.empty()) fail(e);
    return e.empty();
  }

  bool thing_groups() {
    std::set<std::string> groups;
    for (const auto& t : plan_.things) groups.insert(t.thing_group);
    for (const auto& g : plan_.profile_target_groups) groups.insert(g);
    for (const auto& g : groups) {
      if (journal_.state()["thing_groups"].contains(g)) continue;
      auto r = client_.call("CreateThingGroup", {{"thingGroupName", g}});
      std::string arn;
      if (auto* e = failed(r); e && e->code == "ResourceAlreadyExistsException") {
        auto d = client_.call("DescribeThingGroup", {{"thingGroupName", g}});
        if (!check(d)) return false;
        arn = value(d)["thingGroupArn"];
      } else if (!check(r)) {
        return false;
      } else {
        arn = value(r)["thingGroupArn"];
      }
      if (!record({{"event", "thing_group"}, {"name", g}, {"arn", arn}})) return false;
      account_ = account_of(arn);
    }
    if (account_.empty() && !journal_.state()["thing_groups"].empty())
      account_ = account_of(journal_.state()["thing_groups"].begin().value().get<std::string>());
    return true;
  }

  bool ensure_policy(const std::string& name, const std::string& document) {
    if (journal_.state()["policies"].contains(name)) return true;
    auto r = client_.call("CreatePolicy", {{"policyName", name}, {"policyDocument", document}});
    std::string arn;
    if (auto* e = failed(r); e && e->code == "ResourceAlreadyExistsException") {
      auto g = client_.call("GetPolicy", {{"policyName", name}});
      if (!check(g)) return false;
      arn = value(g)["policyArn"];
    } else if (!check(r)) {
      return false;
    } else {
      arn = value(r)["policyArn"];
    }
    return record({{"event", "policy"}, {"name", name}, {"arn", arn}});
  }

  std::string thing_policy() const { return "fleetsim-" + plan_.scenario + "-things"; }
  std::string controller_policy() const { return "fleetsim-" + plan_.scenario + "-controller"; }

  bool policies() {
    if (!ensure_policy(thing_policy(), thing_policy_document(plan_, client_.region(), account_))) return false;
    if (plan_.command_topics.empty()) return true;
    nlohmann::json publish = nlohmann::json::array();
    for (const auto& t : plan_.command_topics)
      publish.push_back("arn:aws:iot:" + client_.region() + ":" + account_ + ":topic/" + fill(t, "*"));
    nlohmann::json doc = {
        {"Version", "2012-10-17"},
        {"Statement",
         {{{"Effect", "Allow"}, {"Action", "iot:Connect"},
           {"Resource", "arn:aws:iot:" + client_.region() + ":" + account_ + ":client/fleetsim-controller-*"}},
          {{"Effect", "Allow"}, {"Action", "iot:Publish"}, {"Resource", publish}}}}};
    return ensure_policy(controller_policy(), doc.dump());
  }

  // A certificate for the controller connections that send the things their commands.
  bool controller() {
    if (plan_.command_topics.empty()) return true;
    const std::string name = "fleetsim-controller";
    auto& things = journal_.state()["things"];
    if (things.contains(name) && things[name].value("policy_attached", false)) return true;
    if (!things.contains(name) || !things[name].value("certificate", false)) {
      auto r = client_.call("CreateKeysAndCertificate", {{"setAsActive", true}});
      if (!check(r)) return false;
      if (auto e = save_identity(plan_.certs_dir, name, value(r)); !e.empty()) {
        fail(e);
        return false;
      }
      if (!record({{"event", "certificate"}, {"thing", name}, {"certificate_id", value(r)["certificateId"]},
                   {"certificate_arn", value(r)["certificateArn"]}, {"controller", true}}))
        return false;
    }
    auto cert_arn = things[name]["certificate_arn"].get<std::string>();
    if (!check(client_.call("AttachPolicy", {{"policyName", controller_policy()}, {"target", cert_arn}}))) return false;
    return record({{"event", "policy_attached"}, {"thing", name}, {"policy", controller_policy()}});
  }

  bool thing(const ThingSpec& t) {
    auto& things = journal_.state()["things"];
    if (!things.contains(t.name) || !things[t.name].contains("arn")) {
      auto r = client_.call("CreateThing", {{"thingName", t.name}});  // idempotent for the same name
      if (!check(r)) return false;
      if (!record({{"event", "thing"}, {"thing", t.name}, {"arn", value(r)["thingArn"]}})) return false;
    }
    if (!things[t.name].value("certificate", false)) {
      auto r = client_.call("CreateKeysAndCertificate", {{"setAsActive", true}});
      if (!check(r)) return false;
      // The key is on disk before the journal names the certificate.
      if (auto e = save_identity(plan_.certs_dir, t.name, value(r)); !e.empty()) {
        fail(e);
        return false;
      }
      if (!record({{"event", "certificate"}, {"thing", t.name}, {"certificate_id", value(r)["certificateId"]},
                   {"certificate_arn", value(r)["certificateArn"]}}))
        return false;
    }
    auto cert_arn = things[t.name]["certificate_arn"].get<std::string>();
    if (!things[t.name].value("policy_attached", false)) {
      if (!check(client_.call("AttachPolicy", {{"policyName", thing_policy()}, {"target", cert_arn}}))) return false;
      if (!record({{"event", "policy_attached"}, {"thing", t.name}, {"policy", thing_policy()}})) return false;
    }
    if (!things[t.name].value("principal_attached", false)) {
      if (!check(client_.call("AttachThingPrincipal", {{"thingName", t.name}, {"principal", cert_arn}}))) return false;
      if (!record({{"event", "principal_attached"}, {"thing", t.name}})) return false;
    }
    if (!check(client_.call("AddThingToThingGroup", {{"thingGroupName", t.thing_group}, {"thingName", t.name}})))
      return false;
    return record({{"event", "in_group"}, {"thing", t.name}, {"thing_group", t.thing_group}});
  }

  bool profile() {
    if (plan_.security_profile.is_null() || plan_.security_profile.empty()) return true;
    auto name = plan_.security_profile["securityProfileName"].get<std::string>();
    auto applied = apply_profile(name);
    if (!applied) return false;
    auto& state = journal_.state()["security_profile"];
    for (const auto& g : plan_.profile_target_groups) {
      auto arn = journal_.state()["thing_groups"][g].get<std::string>();
      bool attached = state.contains("targets") &&
                      std::find(state["targets"].begin(), state["targets"].end(), arn) != state["targets"].end();
      if (attached) continue;
      auto r = client_.call("AttachSecurityProfile", {{"securityProfileName", name}, {"securityProfileTargetArn", arn}});
      if (auto* e = failed(r); e && e->code != "ResourceAlreadyExistsException") return check(r);
      if (!record({{"event", "profile_target"}, {"arn", arn}})) return false;
    }
    return true;
  }

  bool apply_profile(const std::string& name) {
    auto r = client_.call("CreateSecurityProfile", plan_.security_profile);
    bool created = true;
    std::string arn;
    if (auto* e = failed(r); e && e->code == "ResourceAlreadyExistsException") {
      created = journal_.state().contains("security_profile") && journal_.state()["security_profile"].value("created", false);
      auto d = client_.call("DescribeSecurityProfile", {{"securityProfileName", name}});
      if (!check(d)) return false;
      auto update = plan_.security_profile;
      update.erase("tags");
      update["expectedVersion"] = value(d)["version"];
      auto u = client_.call("UpdateSecurityProfile", update);
      if (!check(u)) return false;
      arn = value(u)["securityProfileArn"];
    } else if (!check(r)) {
      return false;
    } else {
      arn = value(r)["securityProfileArn"];
    }
    if (journal_.state().contains("security_profile")) return true;
    return record({{"event", "profile"}, {"name", name}, {"arn", arn}, {"created", created}});
  }

  IotClient& client_;
  const ProvisionPlan& plan_;
  const ProvisionOptions& options_;
  Journal journal_;
  ProvisionOutcome out_;
  std::string account_;
};

// Treats "already gone" as done: teardown is resumable.
bool gone_or_ok(const AwsResult<nlohmann::json>& r) {
  auto* e = failed(r);
  return !e || e->code == "ResourceNotFoundException";
}

}  // namespace

std::string thing_policy_document(const ProvisionPlan& plan, const std::string& region, const std::string& account) {
  const std::string me = "${iot:Connection.Thing.ThingName}";
  const std::string arn = "arn:aws:iot:" + region + ":" + account + ":";
  nlohmann::json publish = nlohmann::json::array(), receive = nlohmann::json::array(),
                 subscribe = nlohmann::json::array();
  for (const auto& t : plan.publish_topics) publish.push_back(arn + "topic/" + fill(t, me));
  for (const auto& t : plan.subscribe_topics) {
    subscribe.push_back(arn + "topicfilter/" + fill(t, me));
    receive.push_back(arn + "topic/" + fill(t, me));
  }
  if (plan.device_metrics) {
    publish.push_back(arn + "topic/$aws/things/" + me + "/defender/metrics/json");
    subscribe.push_back(arn + "topicfilter/$aws/things/" + me + "/defender/metrics/json/*");
    receive.push_back(arn + "topic/$aws/things/" + me + "/defender/metrics/json/*");
  }
  nlohmann::json statements = nlohmann::json::array();
  // Connect only as itself: the client id must be the thing name the certificate is attached to.
  statements.push_back({{"Effect", "Allow"}, {"Action", "iot:Connect"}, {"Resource", arn + "client/" + me}});
  if (!publish.empty()) statements.push_back({{"Effect", "Allow"}, {"Action", "iot:Publish"}, {"Resource", publish}});
  if (!subscribe.empty()) {
    statements.push_back({{"Effect", "Allow"}, {"Action", "iot:Subscribe"}, {"Resource", subscribe}});
    statements.push_back({{"Effect", "Allow"}, {"Action", "iot:Receive"}, {"Resource", receive}});
  }
  return nlohmann::json{{"Version", "2012-10-17"}, {"Statement", statements}}.dump();
}

ProvisionOutcome provision(IotClient& client, const ProvisionPlan& plan, const ProvisionOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(plan.certs_dir, ec);
  std::filesystem::permissions(plan.certs_dir, std::filesystem::perms::owner_all, ec);
  if (ec) return {false, "cannot create " + plan.certs_dir.string() + ": " + ec.message(), 0, 0, {}};
  return Provisioner(client, plan, options).run();
}

ProvisionOutcome teardown(IotClient& client, const std::filesystem::path& certs_dir,
                          const std::function<void(const ProvisionProgress&)>& progress) {
  ProvisionOutcome out;
  Journal journal(certs_dir / "manifest.jsonl");
  out.manifest = journal.path();
  auto fail = [&](const AwsResult<nlohmann::json>& r) {
    out.error = std::get<AwsError>(r).describe();
    return out;
  };
  auto& s = journal.state();
  if (s.contains("security_profile")) {
    auto name = s["security_profile"]["name"].get<std::string>();
    const nlohmann::json targets = s["security_profile"].value("targets", nlohmann::json::array());
    for (const auto& arn : targets) {
      auto r = client.call("DetachSecurityProfile", {{"securityProfileName", name}, {"securityProfileTargetArn", arn}});
      if (!gone_or_ok(r)) return fail(r);
    }
    if (s["security_profile"].value("created", false)) {
      auto r = client.call("DeleteSecurityProfile", {{"securityProfileName", name}});
      if (!gone_or_ok(r)) return fail(r);
    }
    journal.record({{"event", "profile_deleted"}});
  }
  std::vector<std::string> names;
  for (auto& [name, t] : s["things"].items()) names.push_back(name);
  std::size_t done = 0;
  for (const auto& name : names) {
    auto t = s["things"][name];
    bool controller = t.value("controller", false);
    if (t.contains("certificate_arn")) {
      auto cert_arn = t["certificate_arn"].get<std::string>();
      auto cert_id = t["certificate_id"].get<std::string>();
      if (!controller) {
        auto r = client.call("DetachThingPrincipal", {{"thingName", name}, {"principal", cert_arn}});
        if (!gone_or_ok(r)) return fail(r);
      }
      if (t.contains("policy")) {
        auto r = client.call("DetachPolicy", {{"policyName", t["policy"]}, {"target", cert_arn}});
        if (!gone_or_ok(r)) return fail(r);
      }
      auto r = client.call("UpdateCertificate", {{"certificateId", cert_id}, {"newStatus", "INACTIVE"}});
      if (!gone_or_ok(r)) return fail(r);
      r = client.call("DeleteCertificate", {{"certificateId", cert_id}});
      if (!gone_or_ok(r)) return fail(r);
      std::error_code ec;
      std::filesystem::remove(certs_dir / (name + ".key"), ec);
      std::filesystem::remove(certs_dir / (name + ".pem"), ec);
    }
    if (!controller) {
      auto r = client.call("DeleteThing", {{"thingName", name}});
      if (!gone_or_ok(r)) return fail(r);
    }
    journal.record({{"event", "thing_deleted"}, {"thing", name}});
    ++out.things_created;
    if (progress) progress({++done, names.size(), "things"});
  }
  // Copies first: the journal changes the state as it records each deletion.
  const nlohmann::json policies = s["policies"], groups = s["thing_groups"];
  for (const auto& [name, arn] : policies.items()) {
    auto r = client.call("DeletePolicy", {{"policyName", name}});
    if (!gone_or_ok(r)) return fail(r);
    journal.record({{"event", "policy_deleted"}, {"name", name}});
  }
  for (const auto& [name, arn] : groups.items()) {
    auto r = client.call("DeleteThingGroup", {{"thingGroupName", name}});
    if (!gone_or_ok(r)) return fail(r);
    journal.record({{"event", "thing_group_deleted"}, {"name", name}});
  }
  out.ok = true;
  return out;
}

}  // namespace fleetsim::aws

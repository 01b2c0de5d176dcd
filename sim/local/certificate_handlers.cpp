// Keys and certificates issued by the local CA, policies and their targets, and thing principals.
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "sim/local/handler_support.hpp"
#include "sim/local/handlers.hpp"
#include "sim/local/policy.hpp"

namespace fleetsim::local {

namespace {

using nlohmann::json;
constexpr std::size_t max_policies_per_target = 10;

std::string public_key_pem(const pki::KeyPair& key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) return {};
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::optional<ApiError> check_certificate_id(std::string_view id) {
  if (id.size() != 64) return validation_error("certificateId", id, "Member must have length 64");
  if (id.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
    return validation_error("certificateId", id, "Member must satisfy regular expression pattern: (0x)?[a-fA-F0-9]+");
  return std::nullopt;
}

// The certificate id in "arn:aws:iot:REGION:ACCOUNT:cert/ID", or "".
std::string certificate_id_of(std::string_view arn) {
  if (!arn.starts_with("arn:")) return {};
  auto at = arn.find(":cert/");
  return at == std::string_view::npos ? std::string() : std::string(arn.substr(at + 6));
}

ApiError certificate_not_found(std::string_view id) {
  return not_found("The certificate " + std::string(id) + " does not exist");
}
ApiError policy_not_found(std::string_view name) {
  return not_found("Policy " + std::string(name) + " does not exist");
}

//---------------------------------------------------------------------------------------------------
// Certificates

ApiResult create_keys_and_certificate(RequestContext& c, const json& in) {
  if (!c.config.ca) return internal_failure("The local emulator has no CA configured");
  pki::IssueOptions options;
  options.algorithm = c.config.key_algorithm;
  auto issued = pki::issue_client_certificate(c.config.ca->certificate, c.config.ca->key, "AWS IoT Certificate", options);
  if (!issued) return internal_failure("Cannot issue a certificate: " + issued.error());
  Certificate cert;
  cert.id = issued->certificate.fingerprint_sha256();
  cert.arn = c.config.arn("cert/" + cert.id);
  cert.pem = issued->certificate.to_pem();
  cert.status = in.value("setAsActive", false) ? "ACTIVE" : "INACTIVE";
  cert.generation_id = uuid4();
  cert.created = cert.modified = c.now;
  cert.not_before = issued->certificate.not_before();
  cert.not_after = issued->certificate.not_after();
  json out{{"certificateArn", cert.arn},
           {"certificateId", cert.id},
           {"certificatePem", cert.pem},
           {"keyPair", {{"PublicKey", public_key_pem(issued->key)}, {"PrivateKey", issued->key.to_pem()}}}};
  const std::string id = cert.id;
  c.state.certificates.put(id, std::move(cert));  // the private key is returned, never kept
  return out;
}

ApiResult describe_certificate(RequestContext& c, const json& in) {
  const std::string id = text(in, "certificateId");
  if (auto e = check_certificate_id(id)) return *e;
  const Certificate* cert = c.state.certificates.find(id);
  if (!cert) return certificate_not_found(id);
  return json{{"certificateDescription",
               {{"certificateArn", cert->arn},
                {"certificateId", cert->id},
                {"status", cert->status},
                {"certificatePem", cert->pem},
                {"ownedBy", c.config.account_id},
                {"creationDate", epoch_seconds(cert->created)},
                {"lastModifiedDate", epoch_seconds(cert->modified)},
                {"customerVersion", 1},
                {"generationId", cert->generation_id},
                {"validity", {{"notBefore", epoch_seconds(cert->not_before)}, {"notAfter", epoch_seconds(cert->not_after)}}},
                {"certificateMode", "DEFAULT"}}}};
}

ApiResult update_certificate(RequestContext& c, const json& in) {
  const std::string id = text(in, "certificateId"), status = text(in, "newStatus");
  if (auto e = check_certificate_id(id)) return *e;
  static const std::set<std::string> all{"ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER", "REGISTER_INACTIVE",
                                         "PENDING_ACTIVATION"};
  if (!all.contains(status))
    return validation_error("newStatus", status,
                            "Member must satisfy enum value set: [ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, "
                            "REGISTER_INACTIVE, PENDING_ACTIVATION]");
  if (status != "ACTIVE" && status != "INACTIVE" && status != "REVOKED")
    return invalid_request("The status " + status + " cannot be set with UpdateCertificate");
  const Certificate* cert = c.state.certificates.find(id);
  if (!cert) return certificate_not_found(id);
  if (cert->status == "REVOKED" && status != "REVOKED")
    return certificate_state("The certificate " + id + " is revoked; a revoked certificate cannot be reactivated");
  if (cert->status == status) return json::object();
  Certificate* edit = c.state.certificates.edit(id);
  edit->status = status;
  edit->modified = c.now;
  edit->generation_id = uuid4();
  return json::object();
}

ApiResult delete_certificate(RequestContext& c, const json& in) {
  const std::string id = text(in, "certificateId");
  if (auto e = check_certificate_id(id)) return *e;
  const Certificate* cert = c.state.certificates.find(id);
  if (!cert) return certificate_not_found(id);
  if (cert->status == "ACTIVE")
    return certificate_state("Certificate " + id + " is ACTIVE; deactivate it (UpdateCertificate newStatus=INACTIVE) "
                             "before deleting it");
  if (!cert->things.empty())
    return delete_conflict("Things must be detached before deletion (arn: " + cert->arn + ")");
  const bool force = in.value("forceDelete", false);
  if (!cert->policies.empty() && !force)
    return delete_conflict("Certificate policies must be detached before deletion (arn: " + cert->arn + ")");
  for (const auto& policy : cert->policies)
    if (Policy* p = c.state.policies.edit(policy)) p->targets.erase(cert->arn);
  c.state.certificates.erase(id);
  return json::object();
}

//---------------------------------------------------------------------------------------------------
// Policies

ApiResult create_policy(RequestContext& c, const json& in) {
  const std::string name = text(in, "policyName"), document = text(in, "policyDocument");
  if (auto e = check_name("policyName", name, "_+=,.@-")) return *e;
  if (const Policy* p = c.state.policies.find(name))
    return already_exists("Policy cannot be created - name already exists (name=" + name + ")", name, p->arn);
  // The broker enforces what the document says, so it must parse the way the broker reads it.
  if (auto problem = check_policy_document(document)) return malformed_policy("Policy document is malformed: " + *problem);
  Policy p;
  p.name = name;
  p.arn = c.config.arn("policy/" + name);
  p.document = document;
  p.generation_id = uuid4();
  p.created = p.modified = c.now;
  if (in.contains("tags")) p.tags = in["tags"];
  const Policy& saved = c.state.policies.put(name, std::move(p));
  return json{{"policyName", saved.name}, {"policyArn", saved.arn}, {"policyDocument", saved.document},
              {"policyVersionId", "1"}};
}

ApiResult get_policy(RequestContext& c, const json& in) {
  const std::string name = text(in, "policyName");
  const Policy* p = c.state.policies.find(name);
  if (!p) return policy_not_found(name);
  return json{{"policyName", p->name},
              {"policyArn", p->arn},
              {"policyDocument", p->document},
              {"defaultVersionId", "1"},
              {"creationDate", epoch_seconds(p->created)},
              {"lastModifiedDate", epoch_seconds(p->modified)},
              {"generationId", p->generation_id}};
}

ApiResult delete_policy(RequestContext& c, const json& in) {
  const std::string name = text(in, "policyName");
  const Policy* p = c.state.policies.find(name);
  if (!p) return policy_not_found(name);
  if (!p->targets.empty())
    return delete_conflict("The policy cannot be deleted as the policy is attached to one or more principals (name=" +
                           name + ")");
  c.state.policies.erase(name);
  return json::object();
}

ApiResult attach_policy(RequestContext& c, const json& in) {
  const std::string name = text(in, "policyName"), target = text(in, "target");
  if (!c.state.policies.contains(name)) return policy_not_found(name);
  std::size_t attached = 0;
  const std::string cert_id = certificate_id_of(target);
  if (!cert_id.empty()) {
    const Certificate* cert = c.state.certificates.find(cert_id);
    if (!cert || cert->arn != target) return not_found("The target certificate " + target + " does not exist");
    if (cert->policies.contains(name)) return json::object();
    attached = cert->policies.size();
  } else if (target.starts_with("arn:")) {
    auto at = target.find(":thinggroup/");
    if (at == std::string::npos)
      return invalid_request("The target " + target + " is not a certificate ARN, a thing group ARN or a Cognito identity");
    const ThingGroup* g = c.state.thing_groups.find(target.substr(at + 12));
    if (!g || g->arn != target) return not_found("The target thing group " + target + " does not exist");
  } else if (check_name("target", target, ":_-", 256)) {
    return invalid_request("The target " + target + " is not a certificate ARN, a thing group ARN or a Cognito identity id");
  }
  if (cert_id.empty())
    for (const auto& [other, p] : c.state.policies.rows()) attached += p.targets.contains(target) ? 1 : 0;
  if (c.state.policies.find(name)->targets.contains(target)) return json::object();
  if (attached >= max_policies_per_target)
    return limit_exceeded("The target " + target + " already has " + std::to_string(max_policies_per_target) +
                          " policies attached, the most AWS IoT allows");
  c.state.policies.edit(name)->targets.insert(target);
  if (!cert_id.empty()) c.state.certificates.edit(cert_id)->policies.insert(name);
  return json::object();
}

ApiResult detach_policy(RequestContext& c, const json& in) {
  const std::string name = text(in, "policyName"), target = text(in, "target");
  const Policy* p = c.state.policies.find(name);
  if (!p) return policy_not_found(name);
  if (!p->targets.contains(target)) return json::object();
  c.state.policies.edit(name)->targets.erase(target);
  if (Certificate* cert = c.state.certificates.edit(certificate_id_of(target))) cert->policies.erase(name);
  return json::object();
}

ApiResult list_targets_for_policy(RequestContext& c, const json& in) {
  auto page = page_request(in, "pageSize", "marker");
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  const std::string name = text(in, "policyName");
  const Policy* p = c.state.policies.find(name);
  if (!p) return policy_not_found(name);
  json items = json::array();
  auto token = page_through(p->targets, std::get<PageRequest>(page), [](const auto&) { return true; },
                            [&](const std::string& t) { items.push_back(t); });
  return page_output("targets", std::move(items), token, "nextMarker");
}

//---------------------------------------------------------------------------------------------------
// Thing principals

ApiResult attach_thing_principal(RequestContext& c, const json& in) {
  const std::string thing = text(in, "thingName"), principal = text(in, "principal");
  if (!c.state.things.contains(thing)) return not_found("Thing " + thing + " cannot be found.");
  const std::string cert_id = certificate_id_of(principal);
  if (!cert_id.empty()) {
    const Certificate* cert = c.state.certificates.find(cert_id);
    if (!cert || cert->arn != principal) return not_found("The principal " + principal + " does not exist");
  } else if (principal.starts_with("arn:") || check_name("principal", principal, ":_-", 256)) {
    return invalid_request("The principal " + principal + " is not a certificate ARN or a Cognito identity id");
  }
  c.state.things.edit(thing)->principals.insert(principal);
  if (!cert_id.empty()) c.state.certificates.edit(cert_id)->things.insert(thing);
  return json::object();
}

ApiResult detach_thing_principal(RequestContext& c, const json& in) {
  const std::string thing = text(in, "thingName"), principal = text(in, "principal");
  const Thing* t = c.state.things.find(thing);
  if (!t) return not_found("Thing " + thing + " cannot be found.");
  if (!t->principals.contains(principal)) return json::object();
  c.state.things.edit(thing)->principals.erase(principal);
  if (Certificate* cert = c.state.certificates.edit(certificate_id_of(principal))) cert->things.erase(thing);
  return json::object();
}

ApiResult list_thing_principals(RequestContext& c, const json& in) {
  auto page = page_request(in);
  if (auto* e = std::get_if<ApiError>(&page)) return *e;
  const std::string thing = text(in, "thingName");
  const Thing* t = c.state.things.find(thing);
  if (!t) return not_found("Thing " + thing + " cannot be found.");
  json items = json::array();
  auto token = page_through(t->principals, std::get<PageRequest>(page), [](const auto&) { return true; },
                            [&](const std::string& p) { items.push_back(p); });
  return page_output("principals", std::move(items), token);
}

}  // namespace

void register_certificate_handlers(Router& r) {
  r.add("CreateKeysAndCertificate", create_keys_and_certificate, true);
  r.add("DescribeCertificate", describe_certificate, false);
  r.add("UpdateCertificate", update_certificate, true);
  r.add("DeleteCertificate", delete_certificate, true);
  r.add("CreatePolicy", create_policy, true);
  r.add("GetPolicy", get_policy, false);
  r.add("DeletePolicy", delete_policy, true);
  r.add("AttachPolicy", attach_policy, true);
  r.add("DetachPolicy", detach_policy, true);
  r.add("ListTargetsForPolicy", list_targets_for_policy, false);
  r.add("AttachThingPrincipal", attach_thing_principal, true);
  r.add("DetachThingPrincipal", detach_thing_principal, true);
  r.add("ListThingPrincipals", list_thing_principals, false);
}

}  // namespace fleetsim::local

// The local emulator's REST API, driven by fleetsim's own IoT client (which signs, retries and pages)
// and by raw signed requests where the client would refuse to send what we want to test.
#include "sim/local/api_server.hpp"

#include <catch2/catch.hpp>

#include <openssl/x509.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <fstream>
#include <regex>
#include <thread>

#include "sim/aws/http.hpp"
#include "sim/aws/iot_client.hpp"
#include "sim/aws/operations.hpp"
#include "sim/aws/sigv4.hpp"
#include "sim/local/router.hpp"
#include "sim/local/store.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::local;
using nlohmann::json;

namespace {

const std::string policy_document =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]})";

ApiServerOptions options_for(const std::string& state_dir) {
  ApiServerOptions o;
  o.state_dir = state_dir;
  o.data_endpoint_port = 18883;
  return o;
}

struct Server {
  std::unique_ptr<ApiServer> api;
  explicit Server(ApiServerOptions o, unsigned threads = 1) {
    auto created = ApiServer::create(std::move(o));
    if (!created) FAIL(created.error());
    api = std::move(created.value());
    auto port = api->start(threads);
    if (!port) FAIL(port.error());
  }
};

aws::IotClient make_client(const ApiServer& server, aws::Credentials creds = local_credentials(),
                           const Clock* clock = nullptr) {
  aws::IotClientOptions o;
  o.region = "us-east-1";
  o.endpoint_url = server.url();
  o.rate_limit = false;
  o.max_attempts = 2;
  o.sleep = [](Millis) {};
  o.clock = clock;
  if (!server.ca_file().empty()) o.http.ca_file = server.ca_file().string();
  return aws::IotClient(o, [creds]() -> Expected<aws::Credentials> { return creds; });
}

json ok(const aws::AwsResult<json>& r) {
  if (const auto* e = std::get_if<aws::AwsError>(&r)) FAIL(e->describe());
  return std::get<json>(r);
}

aws::AwsError fails(const aws::AwsResult<json>& r, int status, const std::string& code) {
  REQUIRE(std::holds_alternative<aws::AwsError>(r));
  const auto& e = std::get<aws::AwsError>(r);
  INFO(e.describe());
  CHECK(e.status == status);
  CHECK(e.code == code);
  CHECK(!e.request_id.empty());
  return e;
}

// A raw request, signed with the local keys unless told otherwise.
aws::HttpResponse raw(const ApiServer& server, const std::string& method, const std::string& path,
                      aws::QueryParams query = {}, const std::string& body = "", bool sign = true,
                      const std::string& service = "iot") {
  aws::SigningRequest req;
  req.method = method;
  req.host = "127.0.0.1:" + std::to_string(server.port());
  req.path = path;
  req.query = std::move(query);
  req.body = body;
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  if (sign) aws::sign(req, local_credentials(), "us-east-1", service, SystemClock().now());
  aws::HttpClient http;
  auto r = http.send({method, server.url() + req.target(), req.headers, body});
  REQUIRE(std::holds_alternative<aws::HttpResponse>(r));
  return std::get<aws::HttpResponse>(r);
}

std::string error_type(const aws::HttpResponse& r) { return r.header("x-amzn-ErrorType"); }

}  // namespace

TEST_CASE("the registry lifecycle: create, attach, every conflict, teardown", "[local][api]") {
  Server s(options_for(""));
  auto iot = make_client(*s.api);
  const std::string prefix = "arn:aws:iot:us-east-1:123456789012:";

  // Thing group, idempotent for the same properties.
  auto group = ok(iot.call("CreateThingGroup", {{"thingGroupName", "fleet"},
                                                {"thingGroupProperties", {{"thingGroupDescription", "sim"}}}}));
  CHECK(group["thingGroupArn"] == prefix + "thinggroup/fleet");
  CHECK(ok(iot.call("CreateThingGroup", {{"thingGroupName", "fleet"},
                                         {"thingGroupProperties", {{"thingGroupDescription", "sim"}}}}))["thingGroupId"] ==
        group["thingGroupId"]);
  fails(iot.call("CreateThingGroup", {{"thingGroupName", "fleet"}}), 409, "ResourceAlreadyExistsException");
  auto described_group = ok(iot.call("DescribeThingGroup", {{"thingGroupName", "fleet"}}));
  CHECK(described_group["thingGroupProperties"]["thingGroupDescription"] == "sim");
  CHECK(described_group["thingGroupMetadata"]["creationDate"].is_number());

  // Thing, idempotent for the same attributes.
  const json attrs{{"attributes", {{"model", "m1"}}}};
  auto thing = ok(iot.call("CreateThing", {{"thingName", "dev:1"}, {"attributePayload", attrs}}));
  CHECK(thing["thingArn"] == prefix + "thing/dev:1");
  CHECK(ok(iot.call("CreateThing", {{"thingName", "dev:1"}, {"attributePayload", attrs}}))["thingId"] == thing["thingId"]);
  fails(iot.call("CreateThing", {{"thingName", "dev:1"}}), 409, "ResourceAlreadyExistsException");
  fails(iot.call("CreateThing", {{"thingName", "bad name!"}}), 400, "InvalidRequestException");
  auto described = ok(iot.call("DescribeThing", {{"thingName", "dev:1"}}));
  CHECK(described["defaultClientId"] == "dev:1");
  CHECK(described["attributes"]["model"] == "m1");
  CHECK(described["version"] == 1);
  fails(iot.call("DescribeThing", {{"thingName", "nope"}}), 404, "ResourceNotFoundException");

  ok(iot.call("AddThingToThingGroup", {{"thingGroupName", "fleet"}, {"thingName", "dev:1"}}));
  fails(iot.call("AddThingToThingGroup", {{"thingGroupName", "nope"}, {"thingName", "dev:1"}}), 404,
        "ResourceNotFoundException");
  CHECK(ok(iot.call("ListThingsInThingGroup", {{"thingGroupName", "fleet"}}))["things"] == json{"dev:1"});

  // Keys and a certificate from the local CA.
  auto keys = ok(iot.call("CreateKeysAndCertificate", {{"setAsActive", true}}));
  const std::string cert_id = keys["certificateId"], cert_arn = keys["certificateArn"];
  CHECK(std::regex_match(cert_id, std::regex("[0-9a-f]{64}")));
  CHECK(cert_arn == prefix + "cert/" + cert_id);
  auto pem = pki::Certificate::from_pem(keys["certificatePem"].get<std::string>());
  REQUIRE(pem);
  CHECK(pem->fingerprint_sha256() == cert_id);
  CHECK(X509_verify(pem->get(), X509_get0_pubkey(s.api->ca_certificate().get())) == 1);
  auto key = pki::KeyPair::from_pem(keys["keyPair"]["PrivateKey"].get<std::string>());
  REQUIRE(key);
  CHECK(pem->matches(*key));
  CHECK(keys["keyPair"]["PublicKey"].get<std::string>().starts_with("-----BEGIN PUBLIC KEY-----"));
  auto cert = ok(iot.call("DescribeCertificate", {{"certificateId", cert_id}}))["certificateDescription"];
  CHECK(cert["status"] == "ACTIVE");
  CHECK(cert["certificatePem"] == keys["certificatePem"]);
  CHECK(cert["ownedBy"] == "123456789012");
  fails(iot.call("DescribeCertificate", {{"certificateId", "abc"}}), 400, "InvalidRequestException");
  fails(iot.call("DescribeCertificate", {{"certificateId", std::string(64, 'a')}}), 404, "ResourceNotFoundException");

  // Policy.
  auto policy = ok(iot.call("CreatePolicy", {{"policyName", "fleet-policy"}, {"policyDocument", policy_document}}));
  CHECK(policy["policyArn"] == prefix + "policy/fleet-policy");
  CHECK(policy["policyVersionId"] == "1");
  fails(iot.call("CreatePolicy", {{"policyName", "fleet-policy"}, {"policyDocument", policy_document}}), 409,
        "ResourceAlreadyExistsException");
  fails(iot.call("CreatePolicy", {{"policyName", "broken"}, {"policyDocument", "{not json"}}), 400,
        "MalformedPolicyException");
  CHECK(ok(iot.call("GetPolicy", {{"policyName", "fleet-policy"}}))["policyDocument"] == policy_document);

  // Attachments.
  ok(iot.call("AttachPolicy", {{"policyName", "fleet-policy"}, {"target", cert_arn}}));
  fails(iot.call("AttachPolicy", {{"policyName", "fleet-policy"}, {"target", prefix + "cert/" + std::string(64, 'b')}}),
        404, "ResourceNotFoundException");
  CHECK(ok(iot.call("ListTargetsForPolicy", {{"policyName", "fleet-policy"}}))["targets"] == json{cert_arn});
  ok(iot.call("AttachThingPrincipal", {{"thingName", "dev:1"}, {"principal", cert_arn}}));
  fails(iot.call("AttachThingPrincipal", {{"thingName", "nope"}, {"principal", cert_arn}}), 404,
        "ResourceNotFoundException");
  CHECK(ok(iot.call("ListThingPrincipals", {{"thingName", "dev:1"}}))["principals"] == json{cert_arn});

  // Teardown in the wrong order: every conflict AWS raises.
  auto e = fails(iot.call("DeleteThing", {{"thingName", "dev:1"}}), 400, "InvalidRequestException");
  CHECK(e.message.find("still attached to one or more principals") != std::string::npos);
  fails(iot.call("DeleteCertificate", {{"certificateId", cert_id}}), 406, "CertificateStateException");
  fails(iot.call("DeletePolicy", {{"policyName", "fleet-policy"}}), 409, "DeleteConflictException");
  ok(iot.call("UpdateCertificate", {{"certificateId", cert_id}, {"newStatus", "INACTIVE"}}));
  fails(iot.call("UpdateCertificate", {{"certificateId", cert_id}, {"newStatus", "BOGUS"}}), 400,
        "InvalidRequestException");
  fails(iot.call("DeleteCertificate", {{"certificateId", cert_id}}), 409, "DeleteConflictException");  // a thing
  ok(iot.call("DetachThingPrincipal", {{"thingName", "dev:1"}, {"principal", cert_arn}}));
  fails(iot.call("DeleteCertificate", {{"certificateId", cert_id}}), 409, "DeleteConflictException");  // a policy
  ok(iot.call("DetachPolicy", {{"policyName", "fleet-policy"}, {"target", cert_arn}}));
  CHECK(ok(iot.call("ListTargetsForPolicy", {{"policyName", "fleet-policy"}}))["targets"].empty());
  ok(iot.call("DeleteCertificate", {{"certificateId", cert_id}}));
  fails(iot.call("DescribeCertificate", {{"certificateId", cert_id}}), 404, "ResourceNotFoundException");
  ok(iot.call("DeletePolicy", {{"policyName", "fleet-policy"}}));
  fails(iot.call("GetPolicy", {{"policyName", "fleet-policy"}}), 404, "ResourceNotFoundException");
  fails(iot.call("DeleteThing", {{"thingName", "dev:1"}, {"expectedVersion", 7}}), 409, "VersionConflictException");
  ok(iot.call("DeleteThing", {{"thingName", "dev:1"}}));
  ok(iot.call("DeleteThing", {{"thingName", "dev:1"}}));  // AWS: deleting a missing thing succeeds
  fails(iot.call("DescribeThing", {{"thingName", "dev:1"}}), 404, "ResourceNotFoundException");
  CHECK(ok(iot.call("ListThingsInThingGroup", {{"thingGroupName", "fleet"}}))["things"].empty());
  ok(iot.call("DeleteThingGroup", {{"thingGroupName", "fleet"}}));
  fails(iot.call("DescribeThingGroup", {{"thingGroupName", "fleet"}}), 404, "ResourceNotFoundException");

  // A revoked certificate stays revoked; forceDelete detaches its policies.
  auto revoked = ok(iot.call("CreateKeysAndCertificate", {{"setAsActive", false}}));
  CHECK(ok(iot.call("DescribeCertificate", {{"certificateId", revoked["certificateId"]}}))["certificateDescription"]
            ["status"] == "INACTIVE");
  ok(iot.call("UpdateCertificate", {{"certificateId", revoked["certificateId"]}, {"newStatus", "REVOKED"}}));
  fails(iot.call("UpdateCertificate", {{"certificateId", revoked["certificateId"]}, {"newStatus", "ACTIVE"}}), 406,
        "CertificateStateException");
  ok(iot.call("CreatePolicy", {{"policyName", "p2"}, {"policyDocument", policy_document}}));
  ok(iot.call("AttachPolicy", {{"policyName", "p2"}, {"target", revoked["certificateArn"]}}));
  ok(iot.call("DeleteCertificate", {{"certificateId", revoked["certificateId"]}, {"forceDelete", true}}));
  ok(iot.call("DeletePolicy", {{"policyName", "p2"}}));
}

TEST_CASE("DescribeEndpoint answers with the local broker", "[local][api]") {
  Server s(options_for(""));
  auto iot = make_client(*s.api);
  CHECK(ok(iot.call("DescribeEndpoint", {{"endpointType", "iot:Data-ATS"}}))["endpointAddress"] == "127.0.0.1:18883");
  CHECK(ok(iot.call("DescribeEndpoint", {{"endpointType", "iot:Data"}}))["endpointAddress"] == "127.0.0.1:18883");
  fails(iot.call("DescribeEndpoint", {{"endpointType", "iot:Nope"}}), 400, "InvalidRequestException");
}

TEST_CASE("security profiles: CRUD, versions and VersionConflict", "[local][api]") {
  Server s(options_for(""));
  auto iot = make_client(*s.api);
  const json behaviors = json::array(
      {{{"name", "msgs-sent"}, {"metric", "aws:num-messages-sent"},
        {"criteria", {{"mlDetectionConfig", {{"confidenceLevel", "HIGH"}}}, {"consecutiveDatapointsToAlarm", 1}}}},
       {{"name", "auth-failures"}, {"metric", "aws:num-authorization-failures"},
        {"criteria", {{"comparisonOperator", "greater-than"}, {"value", {{"count", 5}}}, {"durationSeconds", 300}}}}});
  auto created = ok(iot.call("CreateSecurityProfile", {{"securityProfileName", "ml"},
                                                       {"securityProfileDescription", "ML detect"},
                                                       {"behaviors", behaviors}}));
  CHECK(created["securityProfileArn"] == "arn:aws:iot:us-east-1:123456789012:securityprofile/ml");
  fails(iot.call("CreateSecurityProfile", {{"securityProfileName", "ml"}}), 409, "ResourceAlreadyExistsException");
  fails(iot.call("CreateSecurityProfile",
                 {{"securityProfileName", "dup"}, {"behaviors", json::array({behaviors[0], behaviors[0]})}}),
        400, "InvalidRequestException");
  fails(iot.call("CreateSecurityProfile",
                 {{"securityProfileName", "badml"},
                  {"behaviors", json::array({{{"name", "x"}, {"criteria", {{"mlDetectionConfig", {{"confidenceLevel", "EXTREME"}}}}}}})}}),
        400, "InvalidRequestException");

  auto d = ok(iot.call("DescribeSecurityProfile", {{"securityProfileName", "ml"}}));
  CHECK(d["version"] == 1);
  CHECK(d["behaviors"] == behaviors);
  CHECK(d["securityProfileDescription"] == "ML detect");
  CHECK(d["creationDate"].is_number());

  auto u = ok(iot.call("UpdateSecurityProfile", {{"securityProfileName", "ml"},
                                                 {"expectedVersion", 1},
                                                 {"behaviors", json::array({behaviors[0]})}}));
  CHECK(u["version"] == 2);
  CHECK(u["behaviors"].size() == 1);
  CHECK(u["securityProfileDescription"] == "ML detect");  // untouched members stay
  auto conflict = fails(iot.call("UpdateSecurityProfile", {{"securityProfileName", "ml"}, {"expectedVersion", 1}}), 409,
                        "VersionConflictException");
  CHECK(conflict.message.find("version 2") != std::string::npos);
  fails(iot.call("UpdateSecurityProfile", {{"securityProfileName", "ml"}, {"deleteBehaviors", true}, {"behaviors", behaviors}}),
        400, "InvalidRequestException");
  u = ok(iot.call("UpdateSecurityProfile", {{"securityProfileName", "ml"}, {"deleteBehaviors", true}}));
  CHECK(u["version"] == 3);
  CHECK(u["behaviors"].empty());
  fails(iot.call("UpdateSecurityProfile", {{"securityProfileName", "nope"}}), 404, "ResourceNotFoundException");

  ok(iot.call("CreateSecurityProfile", {{"securityProfileName", "rules"}, {"behaviors", json::array({behaviors[1]})}}));
  auto all = ok(iot.call("ListSecurityProfiles"))["securityProfileIdentifiers"];
  REQUIRE(all.size() == 2);
  CHECK(all[0]["name"] == "ml");
  CHECK(all[1]["arn"] == "arn:aws:iot:us-east-1:123456789012:securityprofile/rules");
  auto by_metric = ok(iot.call("ListSecurityProfiles", {{"metricName", "aws:num-authorization-failures"}}));
  CHECK(by_metric["securityProfileIdentifiers"].size() == 1);

  fails(iot.call("DeleteSecurityProfile", {{"securityProfileName", "ml"}, {"expectedVersion", 1}}), 409,
        "VersionConflictException");
  ok(iot.call("DeleteSecurityProfile", {{"securityProfileName", "ml"}, {"expectedVersion", 3}}));
  fails(iot.call("DescribeSecurityProfile", {{"securityProfileName", "ml"}}), 404, "ResourceNotFoundException");
}

TEST_CASE("security profile targets: attach, detach, limits", "[local][api]") {
  Server s(options_for(""));
  auto iot = make_client(*s.api);
  const std::string prefix = "arn:aws:iot:us-east-1:123456789012:";
  ok(iot.call("CreateThingGroup", {{"thingGroupName", "g"}}));
  for (int i = 0; i < 6; ++i) ok(iot.call("CreateSecurityProfile", {{"securityProfileName", "p" + std::to_string(i)}}));

  ok(iot.call("AttachSecurityProfile", {{"securityProfileName", "p0"}, {"securityProfileTargetArn", prefix + "thinggroup/g"}}));
  ok(iot.call("AttachSecurityProfile", {{"securityProfileName", "p0"}, {"securityProfileTargetArn", prefix + "all/things"}}));
  ok(iot.call("AttachSecurityProfile", {{"securityProfileName", "p0"}, {"securityProfileTargetArn", prefix + "thinggroup/g"}}));
  fails(iot.call("AttachSecurityProfile", {{"securityProfileName", "p0"}, {"securityProfileTargetArn", prefix + "thinggroup/none"}}),
        404, "ResourceNotFoundException");
  fails(iot.call("AttachSecurityProfile",
                 {{"securityProfileName", "p0"}, {"securityProfileTargetArn", "arn:aws:iot:eu-west-1:123456789012:all/things"}}),
        400, "InvalidRequestException");
  fails(iot.call("AttachSecurityProfile", {{"securityProfileName", "p0"}, {"securityProfileTargetArn", "garbage"}}), 400,
        "InvalidRequestException");
  fails(iot.call("AttachSecurityProfile", {{"securityProfileName", "none"}, {"securityProfileTargetArn", prefix + "all/things"}}),
        404, "ResourceNotFoundException");

  auto targets = ok(iot.call("ListTargetsForSecurityProfile", {{"securityProfileName", "p0"}}))["securityProfileTargets"];
  CHECK(targets == json::array({{{"arn", prefix + "all/things"}}, {{"arn", prefix + "thinggroup/g"}}}));

  for (int i = 1; i < 5; ++i)
    ok(iot.call("AttachSecurityProfile",
                {{"securityProfileName", "p" + std::to_string(i)}, {"securityProfileTargetArn", prefix + "thinggroup/g"}}));
  fails(iot.call("AttachSecurityProfile", {{"securityProfileName", "p5"}, {"securityProfileTargetArn", prefix + "thinggroup/g"}}),
        410, "LimitExceededException");
  ok(iot.call("DetachSecurityProfile", {{"securityProfileName", "p4"}, {"securityProfileTargetArn", prefix + "thinggroup/g"}}));
  ok(iot.call("AttachSecurityProfile", {{"securityProfileName", "p5"}, {"securityProfileTargetArn", prefix + "thinggroup/g"}}));
  CHECK(ok(iot.call("ListTargetsForSecurityProfile", {{"securityProfileName", "p4"}}))["securityProfileTargets"].empty());
  fails(iot.call("ListTargetsForSecurityProfile", {{"securityProfileName", "none"}}), 404, "ResourceNotFoundException");
}

TEST_CASE("mitigation actions", "[local][api]") {
  Server s(options_for(""));
  auto iot = make_client(*s.api);
  const std::string role = "arn:aws:iam::123456789012:role/mitigation";
  auto a = ok(iot.call("CreateMitigationAction",
                       {{"actionName", "quarantine"},
                        {"roleArn", role},
                        {"actionParams", {{"addThingsToThingGroupParams", {{"thingGroupNames", {"quarantine"}}}}}}}));
  CHECK(a["actionArn"] == "arn:aws:iot:us-east-1:123456789012:mitigationaction/quarantine");
  ok(iot.call("CreateMitigationAction", {{"actionName", "deactivate"}, {"roleArn", role},
                                         {"actionParams", {{"updateDeviceCertificateParams", {{"action", "DEACTIVATE"}}}}}}));
  fails(iot.call("CreateMitigationAction", {{"actionName", "quarantine"}, {"roleArn", role},
                                            {"actionParams", {{"updateDeviceCertificateParams", {{"action", "DEACTIVATE"}}}}}}),
        409, "ResourceAlreadyExistsException");
  fails(iot.call("CreateMitigationAction", {{"actionName", "x"}, {"roleArn", role}, {"actionParams", json::object()}}), 400,
        "InvalidRequestException");
  auto d = ok(iot.call("DescribeMitigationAction", {{"actionName", "quarantine"}}));
  CHECK(d["actionType"] == "ADD_THINGS_TO_THING_GROUP");
  CHECK(d["actionId"] == a["actionId"]);
  CHECK(d["roleArn"] == role);
  CHECK(ok(iot.call("ListMitigationActions"))["actionIdentifiers"].size() == 2);
  auto filtered = ok(iot.call("ListMitigationActions", {{"actionType", "UPDATE_DEVICE_CERTIFICATE"}}))["actionIdentifiers"];
  REQUIRE(filtered.size() == 1);
  CHECK(filtered[0]["actionName"] == "deactivate");
  ok(iot.call("DeleteMitigationAction", {{"actionName", "quarantine"}}));
  fails(iot.call("DescribeMitigationAction", {{"actionName", "quarantine"}}), 404, "ResourceNotFoundException");
}

TEST_CASE("List operations page with maxResults and opaque tokens", "[local][api]") {
  Server s(options_for(""));
  auto iot = make_client(*s.api);
  ok(iot.call("CreateThingGroup", {{"thingGroupName", "g"}}));
  for (int i = 0; i < 12; ++i) {
    const std::string name = "thing-" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    ok(iot.call("CreateThing", {{"thingName", name}}));
    ok(iot.call("AddThingToThingGroup", {{"thingGroupName", "g"}, {"thingName", name}}));
  }
  auto first = ok(iot.call("ListThings", {{"maxResults", 5}}));
  CHECK(first["things"].size() == 5);
  REQUIRE(first.contains("nextToken"));
  CHECK(first["nextToken"].get<std::string>().find("thing") == std::string::npos);  // opaque
  auto second = ok(iot.call("ListThings", {{"maxResults", 5}, {"nextToken", first["nextToken"]}}));
  CHECK(second["things"][0]["thingName"] == "thing-05");

  auto all = ok(iot.call_all("ListThings", {{"maxResults", 5}}, "things"));
  REQUIRE(all["things"].size() == 12);
  for (int i = 0; i < 12; ++i) CHECK(all["things"][i]["thingName"].get<std::string>().ends_with(std::to_string(i)));
  CHECK(ok(iot.call_all("ListThingsInThingGroup", {{"thingGroupName", "g"}, {"maxResults", 4}}, "things"))["things"].size() ==
        12);
  CHECK(ok(iot.call("ListThings", {{"maxResults", 12}}))["things"].size() == 12);
  CHECK_FALSE(ok(iot.call("ListThings", {{"maxResults", 12}})).contains("nextToken"));

  fails(iot.call("ListThings", {{"maxResults", 0}}), 400, "InvalidRequestException");
  auto e = fails(iot.call("ListThings", {{"maxResults", 251}}), 400, "InvalidRequestException");
  CHECK(e.message.find("less than or equal to 250") != std::string::npos);
  fails(iot.call("ListThings", {{"nextToken", "not-a-token"}}), 400, "InvalidRequestException");

  // ListTargetsForPolicy pages with pageSize and marker.
  ok(iot.call("CreatePolicy", {{"policyName", "p"}, {"policyDocument", policy_document}}));
  for (int i = 0; i < 3; ++i) {
    auto keys = ok(iot.call("CreateKeysAndCertificate"));
    ok(iot.call("AttachPolicy", {{"policyName", "p"}, {"target", keys["certificateArn"]}}));
  }
  auto page = ok(iot.call("ListTargetsForPolicy", {{"policyName", "p"}, {"pageSize", 2}}));
  CHECK(page["targets"].size() == 2);
  REQUIRE(page.contains("nextMarker"));
  auto rest = ok(iot.call("ListTargetsForPolicy", {{"policyName", "p"}, {"pageSize", 2}, {"marker", page["nextMarker"]}}));
  CHECK(rest["targets"].size() == 1);
  CHECK_FALSE(rest.contains("nextMarker"));
}

TEST_CASE("SigV4: wrong keys and missing signatures are refused as AWS refuses them", "[local][api][sigv4]") {
  Server s(options_for(""));
  auto wrong_secret = make_client(*s.api, {local_access_key_id, "wrong-secret", "", std::nullopt, "test"});
  auto e = fails(wrong_secret.call("ListThings"), 403, "SignatureDoesNotMatch");
  CHECK(e.message.find("does not match") != std::string::npos);
  auto unknown = make_client(*s.api, {"AKIAUNKNOWN", local_secret_access_key, "", std::nullopt, "test"});
  fails(unknown.call("ListThings"), 403, "UnrecognizedClientException");

  auto unsigned_request = raw(*s.api, "GET", "/things", {}, "", false);
  CHECK(unsigned_request.status == 403);
  CHECK(error_type(unsigned_request) == "MissingAuthenticationToken:");
  CHECK(!unsigned_request.header("x-amzn-RequestId").empty());
  CHECK(!unsigned_request.header("Date").empty());

  // Older botocore (and Debian's AWS CLI 2.9) sign IoT as "execute-api"; AWS accepts both names.
  CHECK(raw(*s.api, "GET", "/things", {}, "", true, "execute-api").status == 200);
  auto other_service = raw(*s.api, "GET", "/things", {}, "", true, "s3");
  CHECK(other_service.status == 403);
  CHECK(error_type(other_service) == "SignatureDoesNotMatch:");

  // A client whose clock is 20 minutes slow gets "Signature expired" with the server's Date, corrects
  // its skew and succeeds on the next attempt.
  ManualClock slow(SystemClock().now() - 20 * 60 * 1000);
  auto skewed = make_client(*s.api, local_credentials(), &slow);
  ok(skewed.call("ListThings"));
  CHECK(skewed.attempts() == 2);
}

TEST_CASE("unknown paths, unimplemented operations, bad bodies and oversized requests", "[local][api]") {
  Server s(options_for(""));
  auto unknown = raw(*s.api, "GET", "/no/such/path");
  CHECK(unknown.status == 404);
  CHECK(error_type(unknown) == "UnknownOperationException:");
  CHECK(raw(*s.api, "PATCH", "/things/x").status == 404);

  auto iot = make_client(*s.api);
  // ListMetricValues needs the metric recorder, which only the Emulator around the API server has.
  fails(iot.call("ListMetricValues", {{"thingName", "t"}, {"metricName", "aws:num-messages-sent"}, {"startTime", 0}, {"endTime", 1}}),
        404, "UnknownOperationException");

  auto malformed = raw(*s.api, "POST", "/things/x", {}, "{not json");
  CHECK(malformed.status == 400);
  CHECK(error_type(malformed) == "SerializationException:");
  CHECK(json::parse(malformed.body).contains("message"));
  auto wrong_type = raw(*s.api, "POST", "/things/x", {}, R"({"attributePayload":"text"})");
  CHECK(wrong_type.status == 400);
  CHECK(error_type(wrong_type) == "SerializationException:");
  auto bad_bool = raw(*s.api, "POST", "/keys-and-certificate", {{"setAsActive", "maybe"}});
  CHECK(bad_bool.status == 400);
  CHECK(error_type(bad_bool) == "InvalidRequestException:");
  auto missing = raw(*s.api, "PUT", "/things/x/principals");  // no x-amzn-principal
  CHECK(missing.status == 400);
  CHECK(json::parse(missing.body)["message"].get<std::string>().find("principal") != std::string::npos);

  // ResourceAlreadyExists carries resourceId and resourceArn in the body.
  CHECK(raw(*s.api, "POST", "/thing-groups/g", {}, "{}").status == 200);
  auto exists = raw(*s.api, "POST", "/thing-groups/g", {}, R"({"thingGroupProperties":{"thingGroupDescription":"d"}})");
  CHECK(exists.status == 409);
  auto body = json::parse(exists.body);
  CHECK(body["resourceArn"] == "arn:aws:iot:us-east-1:123456789012:thinggroup/g");
  CHECK(body["resourceId"].is_string());

  // Over 1 MiB: 413 as soon as the header says so.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket sock(ioc);
  sock.connect({boost::asio::ip::make_address("127.0.0.1"), s.api->port()});
  const std::string head = "POST /things/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           "Content-Length: 2000000\r\n\r\n";
  boost::asio::write(sock, boost::asio::buffer(head));
  std::string reply(256, '\0');
  boost::system::error_code ec;
  auto n = sock.read_some(boost::asio::buffer(reply), ec);
  reply.resize(n);
  CHECK(reply.starts_with("HTTP/1.1 413"));
}

TEST_CASE("state survives a restart and keeps no private keys", "[local][api][store]") {
  test::TempDir dir;
  std::string cert_id, cert_pem, thing_id;
  {
    Server s(options_for(dir.path()));
    auto iot = make_client(*s.api);
    thing_id = ok(iot.call("CreateThing", {{"thingName", "t1"}}))["thingId"];
    ok(iot.call("CreateThingGroup", {{"thingGroupName", "g"}}));
    ok(iot.call("AddThingToThingGroup", {{"thingGroupName", "g"}, {"thingName", "t1"}}));
    auto keys = ok(iot.call("CreateKeysAndCertificate", {{"setAsActive", true}}));
    cert_id = keys["certificateId"];
    cert_pem = keys["certificatePem"];
    ok(iot.call("AttachThingPrincipal", {{"thingName", "t1"}, {"principal", keys["certificateArn"]}}));
    ok(iot.call("CreateSecurityProfile", {{"securityProfileName", "sp"}}));
    ok(iot.call("UpdateSecurityProfile", {{"securityProfileName", "sp"}, {"securityProfileDescription", "v2"}}));
    ok(iot.call("AttachSecurityProfile",
                {{"securityProfileName", "sp"}, {"securityProfileTargetArn", "arn:aws:iot:us-east-1:123456789012:thinggroup/g"}}));
  }
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.is_regular_file()) CHECK(test::read_text(e.path().string()).find("PRIVATE KEY") == std::string::npos);
  {
    Server s(options_for(dir.path()));
    auto iot = make_client(*s.api);
    CHECK(ok(iot.call("DescribeThing", {{"thingName", "t1"}}))["thingId"] == thing_id);
    CHECK(ok(iot.call("DescribeCertificate", {{"certificateId", cert_id}}))["certificateDescription"]["certificatePem"] ==
          cert_pem);
    CHECK(ok(iot.call("ListThingPrincipals", {{"thingName", "t1"}}))["principals"].size() == 1);
    CHECK(ok(iot.call("ListThingsInThingGroup", {{"thingGroupName", "g"}}))["things"] == json{"t1"});
    auto sp = ok(iot.call("DescribeSecurityProfile", {{"securityProfileName", "sp"}}));
    CHECK(sp["version"] == 2);
    CHECK(sp["securityProfileDescription"] == "v2");
    CHECK(ok(iot.call("ListTargetsForSecurityProfile", {{"securityProfileName", "sp"}}))["securityProfileTargets"].size() == 1);
    // The same CA issues after the restart.
    auto keys = ok(iot.call("CreateKeysAndCertificate"));
    auto pem = pki::Certificate::from_pem(keys["certificatePem"].get<std::string>());
    REQUIRE(pem);
    CHECK(X509_verify(pem->get(), X509_get0_pubkey(s.api->ca_certificate().get())) == 1);
  }
}

TEST_CASE("the store replays its journal after a crash, torn last line included", "[local][store]") {
  test::TempDir dir;
  {
    auto store = Store::open(dir.path());
    REQUIRE(store);
    for (int i = 0; i < 3; ++i) {
      auto s = (*store)->write([&](State& st) {
        Thing t;
        t.name = "t" + std::to_string(i);
        st.things.put(t.name, t);
      });
      REQUIRE(s);
    }
    auto s = (*store)->write([](State& st) { st.things.erase("t1"); });
    REQUIRE(s);
    // No checkpoint: as if the process died here. Then a torn write.
    std::ofstream(dir.path() + "/api-state.journal", std::ios::app) << R"({"changes":[{"table":"things","ke)";
  }
  auto store = Store::open(dir.path());
  REQUIRE(store);
  auto names = (*store)->read([](const State& st) {
    std::vector<std::string> out;
    for (const auto& [k, v] : st.things.rows()) out.push_back(k);
    return out;
  });
  CHECK(names == std::vector<std::string>{"t0", "t2"});
  CHECK(test::read_text(dir.path() + "/api-state.journal").empty());  // folded into the snapshot

  auto second = Store::open(dir.path());
  REQUIRE_FALSE(second);
  CHECK(second.error().find("in use by another fleetsim local emulator") != std::string::npos);
  store.value().reset();

  std::ofstream(dir.path() + "/api-state.json") << "{broken";
  auto broken = Store::open(dir.path());
  REQUIRE_FALSE(broken);
  CHECK(broken.error().find("api-state.json") != std::string::npos);
}

TEST_CASE("HTTPS with a server certificate from the local CA", "[local][api][tls]") {
  test::TempDir dir;
  auto o = options_for(dir.path());
  o.tls = true;
  Server s(o);
  CHECK(s.api->url().starts_with("https://127.0.0.1:"));
  auto iot = make_client(*s.api);
  ok(iot.call("CreateThing", {{"thingName", "secure"}}));
  CHECK(ok(iot.call("ListThings"))["things"].size() == 1);
}

TEST_CASE("concurrent clients on a multi-threaded server", "[local][api]") {
  Server s(options_for(""), 2);
  std::vector<std::thread> clients;
  std::atomic<int> failures{0};
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&, c] {
      auto iot = make_client(*s.api);
      for (int i = 0; i < 10; ++i)
        if (!std::holds_alternative<json>(iot.call("CreateThing", {{"thingName", "c" + std::to_string(c) + "-" + std::to_string(i)}})))
          ++failures;
    });
  for (auto& t : clients) t.join();
  CHECK(failures == 0);
  auto iot = make_client(*s.api);
  CHECK(ok(iot.call_all("ListThings", json::object(), "things"))["things"].size() == 40);
}

TEST_CASE("routing and deserialization invert the client's serialization", "[local][router]") {
  Labels labels;
  const auto* op = match_operation("PUT", "/thing-groups/addThingToThingGroup", labels);
  REQUIRE(op);
  CHECK(op->name == "AddThingToThingGroup");
  op = match_operation("GET", "/things/dev%3A1/principals", labels);
  REQUIRE(op);
  CHECK(op->name == "ListThingPrincipals");
  CHECK(labels == Labels{{"thingName", "dev:1"}});
  CHECK(match_operation("GET", "/things/", labels) == nullptr);
  CHECK(match_operation("POST", "/security-profiles", labels) == nullptr);

  const std::vector<std::pair<std::string, json>> cases{
      {"ListViolationEvents",
       {{"startTime", 1704067200.5}, {"endTime", 1704070800}, {"listSuppressedAlerts", true}, {"maxResults", 25},
        {"thingName", "a b/c"}}},
      {"AttachThingPrincipal", {{"thingName", "dev:1"}, {"principal", "arn:aws:iot:us-east-1:1:cert/ab"}}},
      {"UpdateSecurityProfile",
       {{"securityProfileName", "p"}, {"expectedVersion", 3}, {"behaviors", json::array({{{"name", "b"}}})},
        {"deleteAlertTargets", true}}},
      {"AttachSecurityProfile",
       {{"securityProfileName", "p"}, {"securityProfileTargetArn", "arn:aws:iot:us-east-1:1:thinggroup/my group"}}},
      {"PutVerificationStateOnViolation", {{"violationId", "v-1"}, {"verificationState", "FALSE_POSITIVE"}}},
  };
  for (const auto& [name, input] : cases) {
    INFO(name);
    const auto* model = aws::find_operation(name);
    REQUIRE(model);
    auto wire = aws::serialize(*model, input);
    REQUIRE(wire);
    Labels found;
    const auto* matched = match_operation(wire->method, wire->path, found);
    REQUIRE(matched == model);
    auto back = deserialize(*model, found, wire->query, wire->headers, wire->body);
    REQUIRE(std::holds_alternative<json>(back));
    CHECK(std::get<json>(back) == input);
  }

  // Query timestamps: ISO 8601 with micro- or milliseconds, or epoch seconds.
  const auto* events = aws::find_operation("ListViolationEvents");
  for (const auto& t : {"2024-01-01T00:00:00.500000Z", "2024-01-01T00:00:00.5Z", "1704067200.5"}) {
    auto in = deserialize(*events, {}, {{"startTime", t}, {"endTime", "2024-01-01T01:00:00Z"}}, {}, "");
    REQUIRE(std::holds_alternative<json>(in));
    CHECK(std::get<json>(in)["startTime"] == 1704067200.5);
  }
  auto bad = deserialize(*events, {}, {{"startTime", "yesterday"}, {"endTime", "1"}}, {}, "");
  REQUIRE(std::holds_alternative<ApiError>(bad));
  CHECK(std::get<ApiError>(bad).code == "InvalidRequestException");
  auto missing = deserialize(*events, {}, {{"startTime", "1"}}, {}, "");
  REQUIRE(std::holds_alternative<ApiError>(missing));
  CHECK(std::get<ApiError>(missing).message.find("endTime") != std::string::npos);
}

TEST_CASE("serving on the caller's io_context, and stopping it cleanly", "[local][api]") {
  boost::asio::io_context ioc;  // outlives the server, as start(io_context&) requires
  auto created = ApiServer::create(options_for(""));
  REQUIRE(created);
  auto& api = *created.value();
  auto port = api.start(ioc);
  REQUIRE(port);
  CHECK(*port == api.port());
  std::thread runner([&] { ioc.run(); });
  {
    auto iot = make_client(api);
    ok(iot.call("CreateThing", {{"thingName", "t"}}));
    ok(iot.call("DescribeThing", {{"thingName", "t"}}));  // on the same kept-alive connection
    api.stop();  // closes the acceptor and that connection: run() returns with nothing left to do
    runner.join();
  }
  CHECK(api.store().read([](const State& s) { return s.things.size(); }) == 1);
}

TEST_CASE("an idle connection is closed at its deadline", "[local][api]") {
  auto o = options_for("");
  o.idle_timeout = std::chrono::milliseconds(200);
  Server s(o);
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket sock(ioc);
  sock.connect({boost::asio::ip::make_address("127.0.0.1"), s.api->port()});
  const auto start = std::chrono::steady_clock::now();
  char byte;
  boost::system::error_code ec;
  sock.read_some(boost::asio::buffer(&byte, 1), ec);
  CHECK(ec);  // closed by the server, not by us
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

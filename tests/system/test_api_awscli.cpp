// The real AWS CLI (Debian's /usr/bin/aws, botocore's serializers and parsers) as the judge of the local
// emulator's REST API: the commands a user types with --endpoint-url, their exit codes and JSON output.
#include <catch2/catch.hpp>

#include <openssl/x509.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "sim/local/api_server.hpp"
#include "tests/support/awscli.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::local;
using nlohmann::json;

namespace {

const std::string account_prefix = "arn:aws:iot:us-east-1:123456789012:";

struct Cli : test::AwsCli {
  std::unique_ptr<ApiServer> server;

  explicit Cli(ApiServerOptions options) {
    auto created = ApiServer::create(std::move(options));
    if (!created) FAIL(created.error());
    server = std::move(created.value());
    auto port = server->start(1);
    if (!port) FAIL(port.error());
    endpoint_url = server->url();
  }
};

ApiServerOptions options(const std::string& state_dir) {
  ApiServerOptions o;
  o.state_dir = state_dir;
  return o;
}

// The AWS guide's ML Detect behaviors (devguide, "ML Detect guide": six ML-capable cloud-side metrics).
const std::string ml_behaviors = R"([
  {"name":"num-messages-sent-ml-behavior","metric":"aws:num-messages-sent",
   "criteria":{"consecutiveDatapointsToAlarm":1,"consecutiveDatapointsToClear":1,"mlDetectionConfig":{"confidenceLevel":"HIGH"}},"suppressAlerts":true},
  {"name":"num-authorization-failures-ml-behavior","metric":"aws:num-authorization-failures",
   "criteria":{"consecutiveDatapointsToAlarm":1,"consecutiveDatapointsToClear":1,"mlDetectionConfig":{"confidenceLevel":"HIGH"}},"suppressAlerts":true},
  {"name":"num-connection-attempts-ml-behavior","metric":"aws:num-connection-attempts",
   "criteria":{"consecutiveDatapointsToAlarm":1,"consecutiveDatapointsToClear":1,"mlDetectionConfig":{"confidenceLevel":"HIGH"}},"suppressAlerts":true},
  {"name":"num-disconnects-ml-behavior","metric":"aws:num-disconnects",
   "criteria":{"consecutiveDatapointsToAlarm":1,"consecutiveDatapointsToClear":1,"mlDetectionConfig":{"confidenceLevel":"HIGH"}},"suppressAlerts":true},
  {"name":"num-messages-received-ml-behavior","metric":"aws:num-messages-received",
   "criteria":{"consecutiveDatapointsToAlarm":1,"consecutiveDatapointsToClear":1,"mlDetectionConfig":{"confidenceLevel":"HIGH"}},"suppressAlerts":true},
  {"name":"message-byte-size-ml-behavior","metric":"aws:message-byte-size",
   "criteria":{"consecutiveDatapointsToAlarm":1,"consecutiveDatapointsToClear":1,"mlDetectionConfig":{"confidenceLevel":"HIGH"}},"suppressAlerts":true}
])";

}  // namespace

TEST_CASE("the AWS CLI provisions things and certificates against the emulator", "[system][awscli]") {
  if (!std::filesystem::exists(test::aws_cli_path)) FAIL("the AWS CLI is not installed at " + test::aws_cli_path + " (scripts/bootstrap installs awscli)");
  test::TempDir state;
  Cli cli(options(state.path()));

  auto thing = cli.ok({"create-thing", "--thing-name", "x"});
  CHECK(thing["thingName"] == "x");
  CHECK(thing["thingArn"] == account_prefix + "thing/x");
  CHECK(thing["thingId"].is_string());
  CHECK(cli.ok({"create-thing", "--thing-name", "x"})["thingId"] == thing["thingId"]);  // idempotent
  cli.ok({"create-thing", "--thing-name", "y", "--attribute-payload", R"({"attributes":{"model":"m1"}})"});
  CHECK(cli.ok({"describe-thing", "--thing-name", "y"})["attributes"]["model"] == "m1");
  cli.fails({"describe-thing", "--thing-name", "nope"}, "ResourceNotFoundException");

  // The CLI pages on its own: --page-size 1 makes it follow nextToken.
  auto things = cli.ok({"list-things", "--page-size", "1"});
  REQUIRE(things["things"].size() == 2);
  CHECK(things["things"][1]["thingName"] == "y");

  auto keys = cli.ok({"create-keys-and-certificate", "--set-as-active"});
  const std::string id = keys["certificateId"];
  CHECK(keys["certificateArn"] == account_prefix + "cert/" + id);
  auto pem = pki::Certificate::from_pem(keys["certificatePem"].get<std::string>());
  REQUIRE(pem);
  CHECK(X509_verify(pem->get(), X509_get0_pubkey(cli.server->ca_certificate().get())) == 1);
  auto key = pki::KeyPair::from_pem(keys["keyPair"]["PrivateKey"].get<std::string>());
  REQUIRE(key);
  CHECK(pem->matches(*key));
  CHECK(cli.ok({"describe-certificate", "--certificate-id", id})["certificateDescription"]["status"] == "ACTIVE");

  cli.ok({"attach-thing-principal", "--thing-name", "x", "--principal", keys["certificateArn"]});
  CHECK(cli.ok({"list-thing-principals", "--thing-name", "x"})["principals"] == json{keys["certificateArn"]});
  cli.fails({"delete-thing", "--thing-name", "x"}, "InvalidRequestException");
  cli.fails({"delete-certificate", "--certificate-id", id}, "CertificateStateException");

  auto endpoint = cli.ok({"describe-endpoint", "--endpoint-type", "iot:Data-ATS"});
  CHECK(endpoint["endpointAddress"] == "127.0.0.1");  // the default broker port, 8883, is implied
}

TEST_CASE("the AWS CLI runs the Device Defender guide's profile commands", "[system][awscli]") {
  test::TempDir state;
  Cli cli(options(state.path()));
  cli.ok({"create-thing-group", "--thing-group-name", "fleet"});

  auto created = cli.ok({"create-security-profile", "--security-profile-name", "ml-profile",
                         "--security-profile-description", "ML Detect", "--behaviors", ml_behaviors});
  CHECK(created["securityProfileArn"] == account_prefix + "securityprofile/ml-profile");
  cli.fails({"create-security-profile", "--security-profile-name", "ml-profile"}, "ResourceAlreadyExistsException");

  auto listed = cli.ok({"list-security-profiles"});
  REQUIRE(listed["securityProfileIdentifiers"].size() == 1);
  CHECK(listed["securityProfileIdentifiers"][0]["name"] == "ml-profile");

  const std::string target = account_prefix + "thinggroup/fleet";
  cli.ok({"attach-security-profile", "--security-profile-name", "ml-profile", "--security-profile-target-arn", target});
  auto targets = cli.ok({"list-targets-for-security-profile", "--security-profile-name", "ml-profile"});
  CHECK(targets["securityProfileTargets"] == json::array({{{"arn", target}}}));
  cli.fails({"attach-security-profile", "--security-profile-name", "ml-profile", "--security-profile-target-arn",
             account_prefix + "thinggroup/missing"},
            "ResourceNotFoundException");

  auto described = cli.ok({"describe-security-profile", "--security-profile-name", "ml-profile"});
  CHECK(described["version"] == 1);
  CHECK(described["behaviors"].size() == 6);
  CHECK(described["behaviors"][0]["criteria"]["mlDetectionConfig"]["confidenceLevel"] == "HIGH");
  CHECK(described["creationDate"].is_string());  // the CLI parsed our epoch seconds as a timestamp

  auto updated = cli.ok({"update-security-profile", "--security-profile-name", "ml-profile", "--expected-version", "1",
                         "--security-profile-description", "updated"});
  CHECK(updated["version"] == 2);
  CHECK(updated["securityProfileDescription"] == "updated");
  cli.fails({"update-security-profile", "--security-profile-name", "ml-profile", "--expected-version", "1"},
            "VersionConflictException");

  auto action = cli.ok({"create-mitigation-action", "--action-name", "quarantine", "--role-arn",
                        "arn:aws:iam::123456789012:role/mitigation", "--action-params",
                        R"({"addThingsToThingGroupParams":{"thingGroupNames":["fleet"]}})"});
  CHECK(action["actionArn"] == account_prefix + "mitigationaction/quarantine");
  CHECK(cli.ok({"list-mitigation-actions"})["actionIdentifiers"].size() == 1);

  // Wrong keys: the CLI reports AWS's SigV4 error.
  cli.secret = "not-the-secret";
  cli.fails({"list-security-profiles"}, "SignatureDoesNotMatch");
}

TEST_CASE("the AWS CLI over HTTPS with the local CA as its bundle", "[system][awscli][tls]") {
  test::TempDir state;
  auto o = options(state.path());
  o.tls = true;
  Cli cli(o);
  cli.extra = {"--ca-bundle", cli.server->ca_file().string()};
  CHECK(cli.ok({"create-thing", "--thing-name", "secure"})["thingName"] == "secure");
  CHECK(cli.ok({"list-things"})["things"].size() == 1);
}

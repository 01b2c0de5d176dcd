// Provisioning against the emulator's AWS IoT API on loopback (SigV4-checked, same shapes as AWS):
// run twice (nothing duplicated), interrupted and resumed, and torn down to nothing.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <set>

#include "sim/aws/provision.hpp"
#include "sim/local/api_server.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::test;
using namespace std::chrono_literals;

namespace {

const char* scenario_yaml = R"(version: 1
name: prov
clock: {time_scale: 60, duration: 1h}
fleet:
  - group: dev
    count: 5
    thing_name: prov-{index:02}
    thing_group: prov-group
    topics: {telemetry: 'dt/{thing}/t', commands: 'cmd/{thing}'}
    baseline:
      publish: {topic: telemetry, rate: 1/min}
      receive: {topic: commands, rate: 1/min}
      device_metrics: {every: 5m}
security_profile:
  name: prov-ml
  targets: [prov-group]
  behaviors:
    - {name: sent, metric: aws:num-messages-sent, criteria: {mlDetectionConfig: {confidenceLevel: HIGH}}, suppressAlerts: true}
)";

struct Emulator {
  TempDir dir;
  std::unique_ptr<local::ApiServer> server;
  explicit Emulator(bool tls = false) {
    local::ApiServerOptions o;
    o.tls = tls;
    o.state_dir = dir.path() + "/state";
    auto s = local::ApiServer::create(o);
    REQUIRE(s);
    server = std::move(s.value());
    REQUIRE(server->start(1));
  }
  aws::IotClient client() const {
    aws::IotClientOptions o;
    o.region = "us-east-1";
    o.endpoint_url = server->url();
    o.rate_limit = false;
    return aws::IotClient(o, [] { return Expected<aws::Credentials>(local::local_credentials()); });
  }
};

std::vector<std::string> fleetsim_command(const Emulator& e, const std::string& command, const std::string& scenario,
                                  const std::string& certs) {
  return {"/usr/bin/env", std::string("AWS_ACCESS_KEY_ID=") + local::local_access_key_id,
          std::string("AWS_SECRET_ACCESS_KEY=") + local::local_secret_access_key, "AWS_CONFIG_FILE=/dev/null",
          "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", FLEETSIM_BINARY, command,
          scenario, "--certs", certs, "--endpoint-url", e.server->url(), "--region", "us-east-1"};
}

nlohmann::json ok(aws::AwsResult<nlohmann::json> r) {
  if (auto* e = std::get_if<aws::AwsError>(&r)) FAIL(e->describe());
  return std::get<nlohmann::json>(r);
}

std::set<std::string> certificate_ids(const std::string& manifest) {
  std::set<std::string> ids;
  for (std::size_t start = 0, end; (end = manifest.find('\n', start)) != std::string::npos; start = end + 1) {
    auto e = nlohmann::json::parse(manifest.substr(start, end - start));
    if (e["event"] == "certificate") ids.insert(e["certificate_id"].get<std::string>());
  }
  return ids;
}

}  // namespace

TEST_CASE("provision twice, then teardown leaves nothing behind", "[provision]") {
  Emulator emu;
  TempDir work;
  auto scenario = work.write("prov.yaml", scenario_yaml);
  auto certs = work.path() + "/certs";

  auto first = run_process(fleetsim_command(emu, "provision", scenario, certs), 60s);
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(first.out.find("5 things created, 0 already there") != std::string::npos);
  auto ids = certificate_ids(read_text(certs + "/manifest.jsonl"));
  CHECK(ids.size() == 6);  // five things and the controller

  auto client = emu.client();
  auto things = ok(client.call_all("ListThingsInThingGroup", {{"thingGroupName", "prov-group"}}, "things"));
  CHECK(things["things"].size() == 5);
  for (int i = 1; i <= 5; ++i) {
    std::string name = "prov-0" + std::to_string(i);
    auto principals = ok(client.call("ListThingPrincipals", {{"thingName", name}}));
    CHECK(principals["principals"].size() == 1);
    struct stat st {};
    REQUIRE(stat((certs + "/" + name + ".key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  auto targets = ok(client.call("ListTargetsForSecurityProfile", {{"securityProfileName", "prov-ml"}}));
  REQUIRE(targets["securityProfileTargets"].size() == 1);
  CHECK(targets["securityProfileTargets"][0]["arn"].get<std::string>().ends_with("thinggroup/prov-group"));
  auto policy = ok(client.call("GetPolicy", {{"policyName", "fleetsim-prov-things"}}));
  CHECK(policy["policyDocument"].get<std::string>().find("client/${iot:Connection.Thing.ThingName}") != std::string::npos);

  auto second = run_process(fleetsim_command(emu, "provision", scenario, certs), 60s);
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.out.find("0 things created, 5 already there") != std::string::npos);
  CHECK(certificate_ids(read_text(certs + "/manifest.jsonl")) == ids);  // no new certificates

  auto down = run_process(fleetsim_command(emu, "teardown", scenario, certs), 60s);
  INFO(down.err);
  REQUIRE(down.exit_code == 0);
  CHECK(ok(client.call_all("ListThings", nlohmann::json::object(), "things"))["things"].empty());
  CHECK(ok(client.call_all("ListSecurityProfiles", nlohmann::json::object(), "securityProfileIdentifiers"))
            ["securityProfileIdentifiers"].empty());
  for (const auto& id : ids) {
    auto r = client.call("DescribeCertificate", {{"certificateId", id}});
    REQUIRE(std::holds_alternative<aws::AwsError>(r));
    CHECK(std::get<aws::AwsError>(r).code == "ResourceNotFoundException");
  }
  auto group = client.call("DescribeThingGroup", {{"thingGroupName", "prov-group"}});
  CHECK(std::holds_alternative<aws::AwsError>(group));
  auto gone_policy = client.call("GetPolicy", {{"policyName", "fleetsim-prov-things"}});
  CHECK(std::holds_alternative<aws::AwsError>(gone_policy));
}

TEST_CASE("an interrupted provision resumes without duplicating anything", "[provision]") {
  Emulator emu;
  TempDir work;
  aws::ProvisionPlan plan;
  plan.scenario = "resume";
  for (int i = 1; i <= 6; ++i) plan.things.push_back({"r-0" + std::to_string(i), "resume-group"});
  plan.publish_topics = {"dt/{thing}/t"};
  plan.certs_dir = work.path() + "/certs";
  auto client = emu.client();
  auto partial = aws::provision(client, plan, {{}, 2});
  CHECK_FALSE(partial.ok);
  CHECK(partial.things_created == 2);
  auto rest = aws::provision(client, plan);
  INFO(rest.error);
  REQUIRE(rest.ok);
  CHECK(rest.things_skipped == 2);
  CHECK(rest.things_created == 4);
  CHECK(certificate_ids(read_text(plan.certs_dir.string() + "/manifest.jsonl")).size() == 6);
  for (const auto& t : plan.things)
    CHECK(ok(client.call("ListThingPrincipals", {{"thingName", t.name}}))["principals"].size() == 1);
  auto down = aws::teardown(client, plan.certs_dir);
  INFO(down.error);
  REQUIRE(down.ok);
  CHECK(ok(client.call_all("ListThings", nlohmann::json::object(), "things"))["things"].empty());
}

TEST_CASE("over HTTPS the emulator's certificate is verified", "[provision]") {
  Emulator emu(true);
  TempDir work;
  auto scenario = work.write("prov.yaml", scenario_yaml);
  auto args = fleetsim_command(emu, "provision", scenario, work.path() + "/certs");
  REQUIRE(emu.server->url().starts_with("https://"));
  auto untrusted = run_process(args, 60s);
  CHECK(untrusted.exit_code == 3);
  CHECK(untrusted.err.find("TlsError") != std::string::npos);
  CHECK(untrusted.err.find("certificate verify failed") != std::string::npos);
  args.push_back("--ca-bundle");
  args.push_back(emu.server->ca_file().string());
  auto trusted = run_process(args, 60s);
  INFO(trusted.err);
  CHECK(trusted.exit_code == 0);
  CHECK(trusted.out.find("5 things created") != std::string::npos);
}

// The control-plane commands as a user runs them: against the emulator's API where it has the
// operation, against a scripted fake AWS endpoint (SigV4-checked) for the Detect read operations.
#include <catch2/catch.hpp>

#include <atomic>
#include <nlohmann/json.hpp>

#include "sim/aws/sigv4.hpp"
#include "sim/local/api_server.hpp"
#include "tests/support/mosquitto.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/aws/fake_http_server.hpp"

using namespace fleetsim;
using namespace fleetsim::test;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> command(const std::string& endpoint, std::vector<std::string> args) {
  std::vector<std::string> argv{"/usr/bin/env", std::string("AWS_ACCESS_KEY_ID=") + local::local_access_key_id,
                                std::string("AWS_SECRET_ACCESS_KEY=") + local::local_secret_access_key,
                                "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
                                "AWS_EC2_METADATA_DISABLED=true", FLEETSIM_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const auto& a : {std::string("--endpoint-url"), endpoint, std::string("--region"), std::string("us-east-1")})
    argv.push_back(a);
  return argv;
}

// A fake endpoint that checks SigV4 like AWS and answers from `pages` in turn.
struct FakeDetect {
  std::vector<std::string> pages;
  std::size_t next = 0;
  std::atomic<int> bad{0};
  FakeHttpServer server{[this](const FakeRequest& r) {
    aws::Headers h(r.headers.begin(), r.headers.end());
    auto v = aws::verify(r.method, r.target, h, r.body,
                         [](std::string_view) { return std::optional(local::local_credentials()); }, "us-east-1", "iot",
                         SystemClock().now());
    if (!v) {
      ++bad;
      return FakeResponse::json(R"({"message":"bad signature"})", 403);
    }
    return FakeResponse::json(pages.at(std::min(next++, pages.size() - 1)));
  }};
};

const char* profile_scenario = R"(version: 1
name: cmds
clock: {time_scale: 1, duration: 1h}
fleet:
  - group: dev
    count: 2
    topics: {t: 'dt/{thing}'}
    baseline: {publish: {topic: t, rate: 1/min}}
security_profile:
  name: cmds-ml
  targets: [dev]
  behaviors:
    - {name: sent, metric: aws:num-messages-sent, criteria: {mlDetectionConfig: {confidenceLevel: HIGH}}, suppressAlerts: true}
)";

}  // namespace

TEST_CASE("profile apply creates, then updates with the version it read; show and delete", "[aws-commands]") {
  TempDir dir;
  local::ApiServerOptions o;
  auto server = local::ApiServer::create(o);
  REQUIRE(server);
  REQUIRE(server.value()->start(1));
  auto url = server.value()->url();
  auto scenario = dir.write("cmds.yaml", profile_scenario);
  auto created = run_process(command(url, {"profile", "apply", scenario}), 30s);
  INFO(created.err);
  CHECK(created.exit_code == 0);
  CHECK(created.out.find("created security profile cmds-ml") != std::string::npos);
  auto updated = run_process(command(url, {"profile", "apply", scenario}), 30s);
  CHECK(updated.exit_code == 0);
  CHECK(updated.out.find("updated security profile cmds-ml to version 2") != std::string::npos);
  auto shown = run_process(command(url, {"profile", "show", scenario}), 30s);
  CHECK(shown.exit_code == 0);
  CHECK(shown.out.find("aws:num-messages-sent") != std::string::npos);
  CHECK(shown.out.find("HIGH") != std::string::npos);
  auto json = run_process(command(url, {"profile", "show", scenario, "--output", "json"}), 30s);
  CHECK(nlohmann::json::parse(json.out)["version"] == 2);
  CHECK(run_process(command(url, {"profile", "delete", scenario}), 30s).exit_code == 0);
  auto missing = run_process(command(url, {"profile", "show", scenario}), 30s);
  CHECK(missing.exit_code == 3);
  CHECK(missing.err.find("DescribeSecurityProfile failed: HTTP 404 ResourceNotFoundException") != std::string::npos);
}

TEST_CASE("mitigation create and list", "[aws-commands]") {
  local::ApiServerOptions o;
  auto server = local::ApiServer::create(o);
  REQUIRE(server);
  REQUIRE(server.value()->start(1));
  auto url = server.value()->url();
  auto made = run_process(command(url, {"mitigation", "create", "--action-name", "quarantine", "--role-arn",
                                        "arn:aws:iam::123456789012:role/mitigation", "--thing-group", "quarantine"}),
                          30s);
  INFO(made.err);
  CHECK(made.exit_code == 0);
  auto listed = run_process(command(url, {"mitigation", "list", "--output", "json"}), 30s);
  REQUIRE(listed.exit_code == 0);
  auto actions = nlohmann::json::parse(listed.out);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0]["actionName"] == "quarantine");
}

TEST_CASE("status --wait polls until every model is ACTIVE, and gives up at the timeout", "[aws-commands]") {
  const char* pending = R"({"summaries":[{"securityProfileName":"p","behaviorName":"sent","modelStatus":"PENDING_BUILD","datapointsCollectionPercentage":40.5}]})";
  const char* active = R"({"summaries":[{"securityProfileName":"p","behaviorName":"sent","modelStatus":"ACTIVE","datapointsCollectionPercentage":100,"lastModelRefreshDate":1796436000.5}]})";
  FakeDetect fake;
  fake.pages = {pending, pending, active};
  auto r = run_process(command(fake.server.url(), {"status", "--wait", "--interval", "50ms", "--timeout", "20s"}), 30s);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("ACTIVE") != std::string::npos);
  CHECK(r.out.find("2026-12-05T02:00:00.500Z") != std::string::npos);
  CHECK(fake.server.request_count() == 3);
  CHECK(fake.bad == 0);
  FakeDetect stuck;
  stuck.pages = {pending};
  auto t = run_process(command(stuck.server.url(), {"status", "--wait", "--interval", "50ms", "--timeout", "300ms"}), 30s);
  CHECK(t.exit_code == 1);
  CHECK(t.out.find("PENDING_BUILD") != std::string::npos);
}

TEST_CASE("violations events pages through every result, with suppressed alerts", "[aws-commands]") {
  FakeDetect fake;
  fake.pages = {
      R"({"violationEvents":[{"thingName":"a","behavior":{"name":"sent"},"violationEventType":"in-alarm","violationEventTime":1796436000}],"nextToken":"t2"})",
      R"({"violationEvents":[{"thingName":"b","behavior":{"name":"sent"},"violationEventType":"in-alarm","violationEventTime":1796436060},{"thingName":"a","behavior":{"name":"sent"},"violationEventType":"alarm-cleared","violationEventTime":1796436300}]})"};
  auto r = run_process(command(fake.server.url(), {"violations", "events", "--start-time", "2026-12-05T00:00:00Z",
                                                   "--end-time", "2026-12-06T00:00:00Z", "--output", "json"}),
                       30s);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto events = nlohmann::json::parse(r.out);
  REQUIRE(events.size() == 3);
  CHECK(events[2]["violationEventType"] == "alarm-cleared");
  auto requests = fake.server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].target.find("listSuppressedAlerts=true") != std::string::npos);
  CHECK(requests[0].target.find("startTime=2026-12-05T00%3A00%3A00Z") != std::string::npos);
  CHECK(requests[1].target.find("nextToken=t2") != std::string::npos);
  CHECK(fake.bad == 0);
}

TEST_CASE("run --target aws finds the data endpoint with DescribeEndpoint and connects there", "[aws-commands]") {
  TempDir broker_dir, dir;
  Mosquitto broker(broker_dir.path(), {.tls = true});
  local::ApiServerOptions o;
  o.data_endpoint_host = "127.0.0.1";
  o.data_endpoint_port = static_cast<std::uint16_t>(broker.port());
  auto server = local::ApiServer::create(o);
  REQUIRE(server);
  REQUIRE(server.value()->start(1));
  auto certs = dir.path() + "/certs";
  std::filesystem::create_directories(certs);
  for (auto name : {"aws-01", "aws-02"}) broker.issue_client(certs, name);
  auto scenario = dir.write("aws.yaml", R"(version: 1
name: awsrun
clock: {time_scale: 1, duration: 3s}
target: aws
fleet:
  - group: dev
    count: 2
    thing_name: aws-{index:02}
    topics: {t: 'dt/{thing}'}
    baseline: {publish: {topic: t, rate: 10/s}}
)");
  auto r = run_process(command(server.value()->url(), {"run", scenario, "--certs", certs, "--ca", broker.ca_file(),
                                                       "--out", dir.path() + "/run", "--quiet"}),
                       60s);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("data endpoint: 127.0.0.1:" + std::to_string(broker.port())) != std::string::npos);
  auto stats = nlohmann::json::parse(read_text(dir.path() + "/run/stats.json"));
  CHECK(stats["achieved"]["connected"] == 2);
  CHECK(stats["achieved"]["published"].get<double>() >= 30);
  CHECK(broker.log().find("as aws-01 (") != std::string::npos);
}

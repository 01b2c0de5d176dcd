// The whole local emulator on loopback: provisioned through fleetsim's provisioning code, devices are
// independent Paho clients over mutual TLS with the certificates the emulator issued, time is a manual
// scenario clock, and the real AWS CLI reads training progress, violations and metric values back.
#include <catch2/catch.hpp>

#include <mqtt/client.h>

#include <filesystem>
#include <fstream>

#include "sim/aws/iot_client.hpp"
#include "sim/aws/provision.hpp"
#include "sim/local/api_server.hpp"
#include "sim/local/broker.hpp"
#include "sim/ledger/ledger.hpp"
#include "sim/local/emulator.hpp"
#include "tests/support/awscli.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::local;
using nlohmann::json;

namespace {

constexpr EpochMillis t0 = 1'800'000'000'000 - 1'800'000'000'000 % 300'000;  // a window boundary
constexpr Millis window{300'000};

aws::IotClient client_for(const Emulator& e) {
  aws::IotClientOptions o;
  o.region = "us-east-1";
  o.endpoint_url = e.api_url();
  o.rate_limit = false;
  o.max_attempts = 1;
  o.sleep = [](Millis) {};
  return aws::IotClient(o, []() -> Expected<aws::Credentials> { return local_credentials(); });
}

json ml_behavior(const std::string& name, const std::string& metric) {
  return {{"name", name},
          {"metric", metric},
          {"criteria", {{"consecutiveDatapointsToAlarm", 1}, {"consecutiveDatapointsToClear", 1},
                        {"mlDetectionConfig", {{"confidenceLevel", "MEDIUM"}}}}},
          {"suppressAlerts", true}};
}

// A device: Paho's synchronous client, QoS 1, so a publish returns once the broker acknowledged it.
struct Device {
  std::unique_ptr<mqtt::client> client;
  Device(const std::string& url, const std::string& thing, const std::filesystem::path& certs, const std::string& ca) {
    client = std::make_unique<mqtt::client>(url, thing, mqtt::create_options(MQTTVERSION_3_1_1));
    auto ssl = mqtt::ssl_options_builder()
                   .trust_store(ca)
                   .key_store((certs / (thing + ".pem")).string())
                   .private_key((certs / (thing + ".key")).string())
                   .finalize();
    auto opts = mqtt::connect_options_builder().ssl(ssl).clean_session(true).keep_alive_interval(std::chrono::seconds(60)).finalize();
    client->connect(opts);
  }
  void publish(const std::string& topic, int n, std::size_t bytes = 100) {
    for (int i = 0; i < n; ++i) client->publish(topic, std::string(bytes, 'x').data(), bytes, 1, false);
  }
};

}  // namespace

TEST_CASE("the emulator trains on baseline traffic, flags a flood and answers the AWS CLI", "[system][emulator]") {
  if (!std::filesystem::exists(test::aws_cli_path)) FAIL("the AWS CLI is not installed (scripts/bootstrap installs awscli)");
  test::TempDir dir;
  ManualClock clock(t0 + 1'000);
  EmulatorOptions o;
  o.state_dir = std::filesystem::path(dir.path()) / "state";
  o.ca_dir = std::filesystem::path(dir.path()) / "ca";
  o.clock = &clock;
  o.window = window;
  o.training = Millis(30 * 60'000);
  o.min_datapoints = 24;             // 4 things x 6 windows
  o.publishes_per_second = 1e9;      // the manual clock does not move while the devices publish
  o.connects_per_client_id_per_second = 1e9;
  auto created = Emulator::create(o);
  if (!created) FAIL(created.error());
  Emulator& emulator = **created;
  REQUIRE(emulator.start());

  // Provision four things, their policy and the profile through the same code `fleetsim provision` uses.
  auto client = client_for(emulator);
  aws::ProvisionPlan plan;
  plan.scenario = "emulator-test";
  for (int i = 0; i < 4; ++i) plan.things.push_back({"dev-" + std::to_string(i), "fleet"});
  plan.publish_topics = {"dt/{thing}/telemetry"};
  plan.certs_dir = std::filesystem::path(dir.path()) / "certs";
  plan.security_profile = {{"securityProfileName", "ml"},
                           {"behaviors", {ml_behavior("sent", "aws:num-messages-sent"),
                                          ml_behavior("size", "aws:message-byte-size")}}};
  plan.profile_target_groups = {"fleet"};
  auto provisioned = aws::provision(client, plan);
  REQUIRE(provisioned.ok);

  const std::string ca = emulator.ca_file().string();
  std::vector<std::unique_ptr<Device>> devices;
  for (const auto& t : plan.things) devices.push_back(std::make_unique<Device>(emulator.mqtt_url(), t.name, plan.certs_dir, ca));

  // A thing may publish only on its own topics: dev-0 publishing as dev-1 is denied and disconnected.
  {
    Device intruder(emulator.mqtt_url(), "dev-3", plan.certs_dir, ca);  // replaces devices[3]'s connection
    CHECK_THROWS(intruder.publish("dt/dev-1/telemetry", 1));
  }
  devices[3] = std::make_unique<Device>(emulator.mqtt_url(), "dev-3", plan.certs_dir, ca);

  test::AwsCli cli;
  cli.endpoint_url = emulator.api_url();
  auto run_window = [&](int index, int flood_messages) {
    for (std::size_t d = 0; d < devices.size(); ++d)
      devices[d]->publish("dt/dev-" + std::to_string(d) + "/telemetry", d == 0 && flood_messages ? flood_messages : 10 + int(d % 2));
    clock.set(t0 + (index + 1) * window.count() + 1'000);
    return emulator.evaluate(clock.now());
  };

  // Six training windows: PENDING_BUILD until then, ACTIVE after.
  for (int w = 0; w < 5; ++w) run_window(w, 0);
  auto pending = cli.ok({"get-behavior-model-training-summaries", "--security-profile-name", "ml"})["summaries"];
  REQUIRE(pending.size() == 2);
  CHECK(pending[0]["modelStatus"] == "PENDING_BUILD");
  CHECK(pending[0]["datapointsCollectionPercentage"].get<double>() > 0);
  for (int w = 5; w < 8; ++w) CHECK(run_window(w, 0) == 0);  // baseline after training: no alarms
  auto active = cli.ok({"get-behavior-model-training-summaries", "--security-profile-name", "ml"})["summaries"];
  CHECK(active[0]["modelStatus"] == "ACTIVE");

  // dev-0 floods: 400 messages in the window instead of 10.
  CHECK(run_window(8, 400) >= 1);
  auto violations = cli.ok({"list-active-violations", "--security-profile-name", "ml", "--list-suppressed-alerts"});
  REQUIRE(violations["activeViolations"].size() == 1);
  CHECK(violations["activeViolations"][0]["thingName"] == "dev-0");
  CHECK(violations["activeViolations"][0]["behavior"]["name"] == "sent");
  CHECK(violations["activeViolations"][0]["lastViolationValue"]["count"] == 400);
  // Suppressed alerts are invisible unless asked for.
  CHECK(cli.ok({"list-active-violations", "--security-profile-name", "ml"})["activeViolations"].empty());

  // Back to normal: the alarm clears.
  run_window(9, 0);
  auto events = cli.ok({"list-violation-events", "--start-time", std::to_string(t0 / 1000), "--end-time",
                        std::to_string(clock.now() / 1000 + 1), "--list-suppressed-alerts"})["violationEvents"];
  REQUIRE(events.size() == 2);
  CHECK(events[0]["violationEventType"] == "in-alarm");
  CHECK(events[0]["violationEventAdditionalInfo"]["confidenceLevel"] == "MEDIUM");
  CHECK(events[1]["violationEventType"] == "alarm-cleared");
  CHECK(events[0]["violationId"] == events[1]["violationId"]);

  // fleetsim reconcile against the emulator's API: a ledger that says dev-0 flooded in window 8 makes the
  // alarm a true positive, and --write-verification writes that back with PutVerificationStateOnViolation.
  {
    test::TempDir run;
    std::ofstream(run.path() + "/scenario.yaml") << "version: 1\nname: emu\nclock: {time_scale: 1, duration: 1h}\n"
                                                    "fleet:\n  - group: dev\n    count: 4\n    thing_name: dev-{index}\n"
                                                    "    topics: {t: 'dt/{thing}/telemetry'}\n"
                                                    "    baseline: {publish: {topic: t, rate: 2/min}}\n";
    ledger::Header h;
    h.run_id = "emu";
    h.scenario = {"emu", "scenario.yaml", "abc"};
    h.start_ms = t0;
    h.target = emulator.mqtt_url();
    auto writer = ledger::LedgerWriter::open(ledger::default_ledger_path(run.path()), h, {false});
    REQUIRE(writer);
    ledger::AnomalyStart flood;
    flood.anomaly = "flood";
    flood.kind = "message-flood";
    flood.thing = "dev-0";
    flood.primary_metrics = {"aws:num-messages-sent"};
    flood.t_ms = t0 + 8 * window.count();
    flood.planned_end_ms = t0 + 9 * window.count();
    REQUIRE_FALSE(writer.value()->anomaly_start(flood));
    REQUIRE_FALSE(writer.value()->anomaly_end({ledger::make_anomaly_id("flood", 0, "dev-0"), "dev-0", "flood", flood.planned_end_ms}));
    REQUIRE_FALSE(writer.value()->run_end({clock.now(), ledger::RunEndReason::completed}));
    auto r = test::run_fleetsim_with_local_keys({"reconcile", run.path(), "--violations", "aws", "--endpoint-url",
                                                 emulator.api_url(), "--write-verification"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("recall 1") != std::string::npos);
    auto verified = cli.ok({"list-violation-events", "--start-time", std::to_string(t0 / 1000), "--end-time",
                            std::to_string(clock.now() / 1000 + 1), "--list-suppressed-alerts", "--verification-state",
                            "TRUE_POSITIVE"})["violationEvents"];
    CHECK(verified.size() == 2);  // the in-alarm and its alarm-cleared
  }

  // The broker's counts per window, as ListMetricValues reports them.
  auto metrics = cli.ok({"list-metric-values", "--thing-name", "dev-0", "--metric-name", "aws:num-messages-sent",
                         "--start-time", std::to_string(t0 / 1000), "--end-time", std::to_string(clock.now() / 1000 + 1)});
  std::vector<std::int64_t> counts;
  for (const auto& d : metrics["metricDatumList"]) counts.push_back(d["value"]["count"]);
  CHECK(std::find(counts.begin(), counts.end(), 400) != counts.end());
  CHECK(counts.size() == 10);

  // The violation history and the trained model survive a restart of the emulator.
  devices.clear();
  emulator.stop();
  created.value().reset();  // releases the state directory's lock
  auto again = Emulator::create(o);
  if (!again) FAIL(again.error());
  REQUIRE((*again)->start());
  cli.endpoint_url = (*again)->api_url();
  auto after = cli.ok({"list-violation-events", "--start-time", std::to_string(t0 / 1000), "--end-time",
                       std::to_string(clock.now() / 1000 + 1), "--list-suppressed-alerts"})["violationEvents"];
  CHECK(after.size() == 2);
  auto summaries = cli.ok({"get-behavior-model-training-summaries", "--security-profile-name", "ml"})["summaries"];
  CHECK(summaries[0]["modelStatus"] == "ACTIVE");
}

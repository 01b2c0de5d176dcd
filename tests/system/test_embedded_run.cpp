// `fleetsim run SCENARIO` with the local target: the emulator in-process, provisioned by fleetsim, the
// fleet over mutual TLS on the emulator's clock, and the detector's violations in the run directory.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sim/ledger/ledger.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::test;
using nlohmann::json;

TEST_CASE("fleetsim run without a target runs the fleet against the embedded emulator", "[system][embedded]") {
  TempDir dir;
  const std::string out = dir.path() + "/run";
  auto r = run_fleetsim({"run", source_path("tests/data/scenarios/embedded-small.yaml"), "--out", out, "--quiet"},
                        std::chrono::seconds(120));
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);

  // The ledger says which thing flooded and when.
  std::vector<std::filesystem::path> files{ledger::default_ledger_path(out)};
  auto ledgers = ledger::read_ledgers(files);
  REQUIRE(ledgers);
  const ledger::Window* flood = nullptr;
  for (const auto& w : ledgers->windows)
    if (w.anomaly == "flood") flood = &w;
  REQUIRE(flood);
  REQUIRE(flood->end_ms);

  // The emulator's detector saw it: an in-alarm on that thing's messages-sent behavior during the flood.
  std::ifstream in(out + "/violations.jsonl");
  REQUIRE(in);
  std::vector<json> events;
  for (std::string line; std::getline(in, line);) events.push_back(json::parse(line));
  bool caught = false;
  for (const auto& e : events) {
    auto t = static_cast<EpochMillis>(e["violationEventTime"].get<double>() * 1000);
    if (e["thingName"] == flood->thing && e["violationEventType"] == "in-alarm" &&
        e["behavior"]["metric"] == "aws:num-messages-sent" && t >= flood->start_ms && t <= *flood->end_ms + 10 * 60'000)
      caught = true;
  }
  CHECK(caught);

  // Things connected with the certificates provisioning wrote (0600 keys), the state is in the run.
  CHECK(std::filesystem::exists(out + "/emulator/api-state.json"));
  auto key = std::filesystem::path(out) / "certs" / (flood->thing + ".key");
  REQUIRE(std::filesystem::exists(key));
  CHECK((std::filesystem::status(key).permissions() & std::filesystem::perms::group_all) == std::filesystem::perms::none);
  auto stats = json::parse(std::ifstream(out + "/stats.json"));
  // Every byte the broker sent parsed (a worker's shared read buffer once lost TLS data here).
  CHECK(stats["stats"]["disconnects"]["protocol"] == 0);
  // The policy probe's denied publishes were answered as AWS answers them: the connection is closed.
  CHECK(stats["stats"]["disconnects"]["after_denied"].get<int>() > 0);
  CHECK(stats["stats"]["disconnects"]["by_peer"] == 0);
  CHECK(stats["achieved"]["connected"].get<int>() >= 8);
  CHECK(stats["achieved"]["acked"].get<double>() > 0);     // QoS 1 publishes acknowledged by the emulator
  CHECK(stats["achieved"]["received"].get<double>() > 0);  // commands routed from the controller to things

  // The run ends with the harness's reports: the anomalies caught, at most one false alarm.
  auto report = json::parse(std::ifstream(out + "/report.json"));
  CHECK(report["anomalies"] == 3);
  CHECK(report["recall"].get<double>() >= 0.8);
  CHECK(report["false_alarms"].get<int>() <= 1);
  CHECK(report["sources"]["metrics"].is_string());  // metrics.jsonl was written and read
  for (const char* f : {"/report.md", "/junit.xml", "/report.html", "/metrics.jsonl"})
    CHECK(std::filesystem::file_size(out + f) > 0);
  CHECK(r.out.find("report.html") != std::string::npos);
}

TEST_CASE("fleetsim run refuses shards with the embedded emulator", "[system][embedded]") {
  auto r = run_fleetsim({"run", source_path("tests/data/scenarios/embedded-small.yaml"), "--shard", "0/2"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("embedded local emulator") != std::string::npos);
}

TEST_CASE("fleetsim run exits 1 when the embedded run misses the scenario's expectations", "[system][embedded]") {
  TempDir dir;
  // The same scenario with a gate no 5-minute window can meet: detection within one minute.
  std::string text = read_text(source_path("tests/data/scenarios/embedded-small.yaml"));
  text.replace(text.find("expect:"), std::string::npos, "expect:\n  recall: 0.8\n  time_to_detect: {p90: 1m}\n");
  const std::string scenario = dir.write("strict.yaml", text), out = dir.path() + "/run";
  auto r = run_fleetsim({"run", scenario, "--out", out, "--quiet"}, std::chrono::seconds(120));
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 1);
  auto report = json::parse(std::ifstream(out + "/report.json"));
  REQUIRE(report["expectations_missed"].size() == 1);
  CHECK(report["expectations_missed"][0].get<std::string>().find("time to detect p90") != std::string::npos);
  CHECK(std::filesystem::exists(out + "/junit.xml"));
}

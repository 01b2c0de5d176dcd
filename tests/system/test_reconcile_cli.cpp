// fleetsim reconcile on a hand-built run directory: figures worked out here, and the expect gate.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "sim/ledger/ledger.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::test;

namespace {

constexpr EpochMillis t0 = 1796436000000;
constexpr EpochMillis minute = 60'000;

std::string scenario(const std::string& expect) {
  return R"(version: 1
name: rec
clock: {time_scale: 60, duration: 4h}
fleet:
  - group: dev
    count: 4
    thing_name: r-{index:02}
    topics: {t: 'dt/{thing}'}
    baseline: {publish: {topic: t, rate: 1/min}}
expect: )" + expect + "\n";
}

void write_run(const std::string& dir, const std::string& expect) {
  std::ofstream(dir + "/scenario.yaml") << scenario(expect);
  ledger::Header h;
  h.run_id = "rec";
  h.scenario = {"rec", "scenario.yaml", "abc"};
  h.time_scale = 60;
  h.start_ms = t0;
  h.target = "mqtt://127.0.0.1:1883";
  auto w = ledger::LedgerWriter::open(ledger::default_ledger_path(dir), h, {false});
  REQUIRE(w);
  auto start = [&](const std::string& thing, EpochMillis at) {
    ledger::AnomalyStart a;
    a.anomaly = "flood";
    a.kind = "message-flood";
    a.thing = thing;
    a.primary_metrics = {"aws:num-messages-sent"};
    a.t_ms = at;
    a.planned_end_ms = at + 20 * minute;
    REQUIRE_FALSE(w.value()->anomaly_start(a));
    REQUIRE_FALSE(w.value()->anomaly_end({ledger::make_anomaly_id("flood", 0, thing), thing, "flood", at + 20 * minute}));
  };
  start("r-01", t0 + 60 * minute);
  start("r-02", t0 + 120 * minute);
  REQUIRE_FALSE(w.value()->run_end({t0 + 240 * minute, ledger::RunEndReason::completed}));
}

std::string event(const std::string& thing, EpochMillis t) {
  return nlohmann::json{{"violationId", "v" + std::to_string(t)}, {"thingName", thing},
                        {"behavior", {{"name", "sent"}, {"metric", "aws:num-messages-sent"}}},
                        {"violationEventAdditionalInfo", {{"confidenceLevel", "MEDIUM"}}},
                        {"violationEventType", "in-alarm"}, {"violationEventTime", double(t) / 1000.0}}
      .dump();
}

}  // namespace

TEST_CASE("reconcile scores a run and gates on its expectations", "[reconcile-cli]") {
  TempDir dir;
  write_run(dir.path(), "{recall: 0.5, false_alarms_per_thing_day: 10, time_to_detect: {p50: 10m}}");
  // r-01 detected 5 minutes in; r-02 missed; r-03 alarms with no anomaly: a false alarm.
  auto violations = dir.write("v.jsonl", event("r-01", t0 + 65 * minute) + "\n" + event("r-03", t0 + 30 * minute) + "\n");
  auto r = run_fleetsim({"reconcile", dir.path(), "--violations", violations});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("anomalies 2, detected 1, recall 0.5") != std::string::npos);
  auto report = nlohmann::json::parse(read_text(dir.path() + "/report.json"));
  CHECK(report["schema"] == 1);
  CHECK(report["recall"] == 0.5);
  CHECK(report["false_alarms"] == 1);
  CHECK(report["time_to_detect_ms"]["p50"] == 5 * minute);
  // 4 things × 4 h = 16 thing-hours, minus 2 × (20 + 15) minutes of windows and grace.
  CHECK(report["clean_thing_days"].get<double>() == Approx((16.0 * 60 - 70) / (24 * 60)));
  CHECK(report["expectations_missed"].empty());

  TempDir strict;
  write_run(strict.path(), "{recall: 1.0}");
  auto missed = run_fleetsim({"reconcile", strict.path(), "--violations", violations});
  CHECK(missed.exit_code == 1);
  CHECK(missed.out.find("MISSED: recall 0.5 < 1") != std::string::npos);

  auto bad = run_fleetsim({"reconcile", dir.path(), "--violations", dir.write("bad.jsonl", "{\"thingName\": 1}\n")});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("bad.jsonl") != std::string::npos);
}

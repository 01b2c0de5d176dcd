#pragma once
// A hand-built run directory for the reconcile system tests: 4 things over 4 hours; message floods on
// r-01 (60..80 min) and r-02 (120..140 min); violation events and metric values written by the test.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "sim/ledger/ledger.hpp"

namespace fleetsim::test::reconcile_fixture {

constexpr EpochMillis t0 = 1796436000000;
constexpr EpochMillis minute = 60'000;

inline std::string scenario(const std::string& expect) {
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

inline void write_run(const std::string& dir, const std::string& expect) {
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

inline std::string event(const std::string& thing, EpochMillis t, const std::string& type = "in-alarm",
                         const std::string& confidence = "MEDIUM") {
  return nlohmann::json{{"violationId", "v-" + thing + "-" + std::to_string(t)}, {"thingName", thing},
                        {"behavior", {{"name", "sent"}, {"metric", "aws:num-messages-sent"}}},
                        {"violationEventAdditionalInfo", {{"confidenceLevel", confidence}}},
                        {"violationEventType", type}, {"violationEventTime", double(t) / 1000.0}}
      .dump();
}

/// metrics.jsonl: every thing sends 10 messages per 5-minute window; r-01's flood shows (x20), r-02's does not.
inline std::string metrics() {
  std::string out;
  for (const char* thing : {"r-01", "r-02", "r-03", "r-04"})
    for (int m = 5; m <= 240; m += 5) {
      bool flood = std::string(thing) == "r-01" && m > 60 && m <= 80;
      out += nlohmann::json{{"thing", thing}, {"metric", "aws:num-messages-sent"},
                            {"timestamp", double(t0 + m * minute) / 1000.0}, {"value", {{"count", flood ? 200 : 10}}}}
                 .dump() + "\n";
    }
  return out;
}

}  // namespace fleetsim::test::reconcile_fixture

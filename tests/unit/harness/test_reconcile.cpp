#include "sim/harness/reconcile.hpp"
#include "sim/harness/violations.hpp"

#include <catch2/catch.hpp>

using namespace fleetsim;
using namespace fleetsim::harness;

namespace {

constexpr EpochMillis t0 = 1796436000000;  // 2026-12-05T02:00:00Z
constexpr EpochMillis minute = 60'000;

ledger::Window window(std::string thing, std::string kind, std::string metric, EpochMillis start, EpochMillis end) {
  ledger::Window w;
  w.id = kind + "@" + thing + "@" + std::to_string(start);
  w.thing = std::move(thing);
  w.anomaly = kind;
  w.kind = std::move(kind);
  w.primary_metrics = {std::move(metric)};
  w.start_ms = start;
  w.end_ms = end;
  return w;
}

ViolationEvent event(std::string thing, std::string metric, std::string type, EpochMillis t, std::string confidence = "MEDIUM") {
  return {"v-" + thing + std::to_string(t), thing, metric + "-behavior", metric, std::move(type), std::move(confidence), t};
}

ReconcileOptions options() {
  ReconcileOptions o;
  o.grace = Millis(10 * minute);
  o.run_start = t0;
  o.run_end = t0 + 24 * 60 * minute;  // one day
  o.things = {"a", "b", "c", "d"};
  return o;
}

}  // namespace

TEST_CASE("detection, time to detect and time to clear", "[reconcile]") {
  std::vector<ledger::Window> w{window("a", "message-flood", "aws:num-messages-sent", t0 + 60 * minute, t0 + 75 * minute)};
  std::vector<ViolationEvent> e{event("a", "aws:num-messages-sent", "in-alarm", t0 + 65 * minute),
                                event("a", "aws:num-messages-sent", "alarm-cleared", t0 + 80 * minute)};
  auto r = reconcile(w, e, options());
  REQUIRE(r.windows.size() == 1);
  CHECK(r.windows[0].detected);
  CHECK(r.windows[0].time_to_detect == Millis(5 * minute));
  CHECK(r.windows[0].time_to_clear == Millis(5 * minute));
  CHECK(r.recall() == 1.0);
  CHECK(r.false_alarms.empty());
  // Four things for a day, minus thing a's 15 + 10 minutes of window and grace.
  CHECK(r.clean_thing_days == Approx(4.0 - 25.0 / (24 * 60)));
}

TEST_CASE("alarms just inside and just outside the grace", "[reconcile]") {
  auto w = window("a", "silence", "aws:num-messages-sent", t0 + 60 * minute, t0 + 75 * minute);
  auto inside = reconcile({w}, {event("a", "aws:num-messages-sent", "in-alarm", t0 + 85 * minute)}, options());
  CHECK(inside.windows[0].detected);
  CHECK(inside.windows[0].time_to_detect == Millis(25 * minute));
  auto outside = reconcile({w}, {event("a", "aws:num-messages-sent", "in-alarm", t0 + 85 * minute + 1)}, options());
  CHECK_FALSE(outside.windows[0].detected);
  REQUIRE(outside.false_alarms.size() == 1);  // unexplained, so a false alarm
}

TEST_CASE("an alarm on another metric detects nothing but is not a false alarm during the window", "[reconcile]") {
  auto w = window("a", "authorization-failures", "aws:num-authorization-failures", t0 + 60 * minute, t0 + 75 * minute);
  auto r = reconcile({w}, {event("a", "aws:num-disconnects", "in-alarm", t0 + 62 * minute)}, options());
  CHECK_FALSE(r.windows[0].detected);
  CHECK(r.false_alarms.empty());
}

TEST_CASE("overlapping anomalies on one thing are scored separately", "[reconcile]") {
  std::vector<ledger::Window> w{window("b", "message-flood", "aws:num-messages-sent", t0 + 60 * minute, t0 + 90 * minute),
                                window("b", "payload-inflation", "aws:message-byte-size", t0 + 70 * minute, t0 + 80 * minute)};
  auto r = reconcile(w, {event("b", "aws:message-byte-size", "in-alarm", t0 + 72 * minute)}, options());
  CHECK_FALSE(r.windows[0].detected);
  CHECK(r.windows[1].detected);
  CHECK(r.windows[1].time_to_detect == Millis(2 * minute));
  CHECK(r.recall() == 0.5);
  auto kinds = r.by_kind();
  CHECK(kinds["payload-inflation"] == std::pair<std::size_t, std::size_t>{1, 1});
  CHECK(kinds["message-flood"] == std::pair<std::size_t, std::size_t>{0, 1});
  // b's busy time is the union 60..100 min: 40 minutes, not 30 + 20.
  CHECK(r.clean_thing_days == Approx(4.0 - 40.0 / (24 * 60)));
}

TEST_CASE("an alarm already active when the anomaly starts is flagged, not credited", "[reconcile]") {
  auto w = window("c", "message-flood", "aws:num-messages-sent", t0 + 60 * minute, t0 + 75 * minute);
  auto r = reconcile({w}, {event("c", "aws:num-messages-sent", "in-alarm", t0 + 30 * minute)}, options());
  CHECK(r.windows[0].already_in_alarm);
  CHECK_FALSE(r.windows[0].detected);
  CHECK(r.false_alarms.size() == 1);  // the earlier alarm itself is unexplained
  auto cleared = reconcile({w}, {event("c", "aws:num-messages-sent", "in-alarm", t0 + 30 * minute),
                                 event("c", "aws:num-messages-sent", "alarm-cleared", t0 + 40 * minute)},
                           options());
  CHECK_FALSE(cleared.windows[0].already_in_alarm);
}

TEST_CASE("invalidated alarms, other confidence levels and events outside the run are ignored", "[reconcile]") {
  auto w = window("d", "silence", "aws:num-messages-sent", t0 + 60 * minute, t0 + 75 * minute);
  auto o = options();
  o.confidence = "HIGH";
  auto r = reconcile({w},
                     {event("d", "aws:num-messages-sent", "alarm-invalidated", t0 + 61 * minute, "HIGH"),
                      event("d", "aws:num-messages-sent", "in-alarm", t0 + 62 * minute, "LOW"),
                      event("d", "aws:num-messages-sent", "in-alarm", t0 - 5 * minute, "HIGH"),
                      event("a", "aws:num-messages-sent", "in-alarm", o.run_end + 11 * minute, "HIGH")},
                     o);
  CHECK_FALSE(r.windows[0].detected);
  CHECK(r.false_alarms.empty());
}

TEST_CASE("an open window (torn ledger) runs to the end of the run", "[reconcile]") {
  auto w = window("a", "reconnect-storm", "aws:num-connection-attempts", t0 + 60 * minute, 0);
  w.end_ms.reset();
  auto o = options();
  auto r = reconcile({w}, {event("a", "aws:num-connection-attempts", "in-alarm", o.run_end - minute)}, o);
  CHECK(r.windows[0].detected);
  CHECK(r.windows[0].time_to_detect == Millis(o.run_end - minute - (t0 + 60 * minute)));
}

TEST_CASE("false alarms per thing-day and time-to-detect percentiles", "[reconcile]") {
  std::vector<ledger::Window> w;
  std::vector<ViolationEvent> e;
  for (int i = 0; i < 10; ++i) {
    auto start = t0 + (100 + i * 60) * minute;
    w.push_back(window("a", "message-flood", "aws:num-messages-sent", start, start + 20 * minute));
    e.push_back(event("a", "aws:num-messages-sent", "in-alarm", start + (i + 1) * minute));
  }
  e.push_back(event("b", "aws:num-messages-sent", "in-alarm", t0 + 10 * minute));
  e.push_back(event("c", "aws:num-messages-sent", "in-alarm", t0 + 20 * minute));
  auto r = reconcile(w, e, options());
  CHECK(r.recall() == 1.0);
  CHECK(r.time_to_detect_percentile(50) == Millis(5 * minute));
  CHECK(r.time_to_detect_percentile(90) == Millis(9 * minute));
  CHECK(r.time_to_detect_percentile(100) == Millis(10 * minute));
  CHECK(r.false_alarms.size() == 2);
  double clean_days = 4.0 - 10 * 30.0 / (24 * 60);
  CHECK(r.false_alarms_per_thing_day() == Approx(2 / clean_days));
}

TEST_CASE("confidence levels are nested: HIGH counts at MEDIUM and LOW, LOW only at LOW", "[reconcile]") {
  std::vector<ledger::Window> w{window("a", "message-flood", "aws:num-messages-sent", t0 + 60 * minute, t0 + 75 * minute),
                                window("b", "message-flood", "aws:num-messages-sent", t0 + 60 * minute, t0 + 75 * minute)};
  std::vector<ViolationEvent> e{event("a", "aws:num-messages-sent", "in-alarm", t0 + 62 * minute, "HIGH"),
                                event("b", "aws:num-messages-sent", "in-alarm", t0 + 63 * minute, "LOW")};
  CHECK(counts_at("HIGH", "LOW"));
  CHECK(counts_at("", "HIGH"));  // rule-based events carry no level
  CHECK_FALSE(counts_at("MEDIUM", "HIGH"));
  auto at = [&](const std::string& level) {
    auto o = options();
    o.confidence = level;
    return reconcile(w, e, o);
  };
  CHECK(at("LOW").recall() == 1.0);     // both
  CHECK(at("MEDIUM").recall() == 0.5);  // a's HIGH event only
  CHECK(at("HIGH").recall() == 0.5);
  CHECK(at("").recall() == 1.0);        // no level asked: every event
  // At HIGH, b's LOW alarm is not scored at all: neither a detection nor a false alarm.
  CHECK(at("HIGH").false_alarms.empty());
}

TEST_CASE("recall per primary metric, side-effect metrics separately, per behavior, and precision", "[reconcile]") {
  auto w = window("a", "reconnect-storm", "aws:num-connection-attempts", t0 + 60 * minute, t0 + 75 * minute);
  w.primary_metrics.push_back("aws:num-disconnects");
  w.side_effect_metrics = {"aws:num-messages-sent"};
  std::vector<ViolationEvent> e{
      event("a", "aws:num-disconnects", "in-alarm", t0 + 64 * minute),       // detects on its second primary metric
      event("a", "aws:num-messages-sent", "in-alarm", t0 + 66 * minute),     // side effect: neither true nor false
      event("a", "aws:listening-tcp-ports", "in-alarm", t0 + 70 * minute),   // unrelated, inside the window: neither
      event("b", "aws:num-disconnects", "in-alarm", t0 + 300 * minute),      // false alarm
      event("a", "aws:num-disconnects", "alarm-cleared", t0 + 78 * minute)};
  auto r = reconcile({w}, e, options());
  REQUIRE(r.windows[0].detected);
  CHECK(r.windows[0].time_to_detect == Millis(4 * minute));
  CHECK(r.windows[0].time_to_clear == Millis(3 * minute));
  CHECK(r.time_to_clear_percentile(90) == Millis(3 * minute));
  auto metrics = r.by_metric();
  CHECK(metrics["aws:num-connection-attempts"].detected == 0);
  CHECK(metrics["aws:num-connection-attempts"].total == 1);
  CHECK(metrics["aws:num-disconnects"].recall() == 1.0);
  auto side = r.side_effects();
  REQUIRE(side.size() == 1);
  CHECK(side["aws:num-messages-sent"].detected == 1);
  CHECK(r.alarms == 4);
  CHECK(r.true_alarms.size() == 1);
  CHECK(r.false_alarms.size() == 1);
  CHECK(r.precision() == 0.5);  // 1 true ÷ (1 true + 1 false); the side-effect and unrelated alarms count for neither
  auto behaviors = r.by_behavior();
  CHECK(behaviors["aws:num-disconnects-behavior"].windows.detected == 1);
  CHECK(behaviors["aws:num-disconnects-behavior"].windows.total == 1);
  CHECK(behaviors["aws:num-disconnects-behavior"].alarms == 2);
  CHECK(behaviors["aws:num-disconnects-behavior"].false_alarms == 1);
  CHECK(behaviors["aws:num-messages-sent-behavior"].windows.total == 0);  // not a primary metric of any window
}

TEST_CASE("a ledger torn by a crash: the open window ends at the run's end", "[reconcile]") {
  // The process died while writing the anomaly_end: the reader reports the torn line, the window stays open.
  std::string text =
      R"({"type":"header","seq":0,"schema":1,"tool":"fleetsim 0","run_id":"r","scenario":{"name":"s","file":"s.yaml","sha256":"x"},"seed":1,"shard":"0/1","clock":{"time_scale":60,"start":"2026-12-05T02:00:00Z","start_ms":1796436000000},"target":"local","written_at":"2026-12-05T02:00:00Z"})"
      "\n"
      R"({"type":"anomaly_start","seq":1,"id":"f#0@a","anomaly":"f","kind":"message-flood","occurrence":0,"thing":"a","primary_metrics":["aws:num-messages-sent"],"side_effect_metrics":[],"strength":"x20","strength_value":20,"mode":"","t":"2026-12-05T03:00:00Z","t_ms":1796439600000,"planned_end_ms":1796440500000})"
      "\n"
      R"({"type":"heartbeat","seq":2,"t":"2026-12-05T03:30:00Z","t_ms":1796441400000,"stats":{}})"
      "\n"
      R"({"type":"anomaly_end","seq":3,"id":"f#0@a","thi)";
  auto ledger = ledger::read_ledger_text(text, "torn.jsonl");
  REQUIRE(ledger);
  bool torn = false;
  for (const auto& i : ledger->issues) torn |= i.kind == ledger::IssueKind::torn_last_line;
  CHECK(torn);
  REQUIRE(ledger->windows.size() == 1);
  CHECK(ledger->windows[0].open());
  auto o = options();
  o.run_end = *ledger->last_heartbeat_ms;  // 03:30, as load_run derives it when there is no run_end
  // An alarm 25 minutes after the planned end (03:15) but before the run's end (03:30) + grace still detects.
  auto r = reconcile(ledger->windows, {event("a", "aws:num-messages-sent", "in-alarm", t0 + 100 * minute)}, o);
  CHECK(r.windows[0].detected);
  CHECK(r.windows[0].time_to_detect == Millis(40 * minute));
}

TEST_CASE("events outside the run's range", "[reconcile]") {
  auto o = options();
  auto w = window("a", "message-flood", "aws:num-messages-sent", o.run_end - 10 * minute, o.run_end);
  std::vector<ViolationEvent> e{
      event("b", "aws:num-messages-sent", "in-alarm", o.run_start - 1),                // before the run: ignored
      event("a", "aws:num-messages-sent", "in-alarm", o.run_end + 5 * minute),         // in the grace: detects
      event("c", "aws:num-messages-sent", "in-alarm", o.run_end + 6 * minute),         // in the grace, unexplained: not false
      event("a", "aws:num-messages-sent", "in-alarm", o.run_end + 10 * minute + 1)};   // after range + grace: ignored
  auto r = reconcile({w}, e, o);
  CHECK(r.windows[0].detected);
  CHECK(r.windows[0].time_to_detect == Millis(15 * minute));
  CHECK(r.false_alarms.empty());
  CHECK(r.events.size() == 2);
  CHECK(r.alarms == 0);  // alarms counts in-alarm events up to the run's end
}

TEST_CASE("things that never connected count as observed thing-days with no events", "[reconcile]") {
  // Neither the ledger nor stats.json says which things connected: every thing of the run is observed.
  auto o = options();
  o.things = {"a", "never-connected"};
  auto r = reconcile({}, {event("a", "aws:num-messages-sent", "in-alarm", t0 + 60 * minute)}, o);
  CHECK(r.clean_thing_days == Approx(2.0));
  CHECK(r.false_alarms_per_thing_day() == Approx(0.5));
  CHECK(r.recall() == 1.0);  // no windows
  CHECK(r.precision() == 0.0);  // 0 true ÷ (0 true + 1 false)
}

TEST_CASE("a violation event's confidence: its own level, else its ML behavior's", "[reconcile]") {
  nlohmann::json j = {{"thingName", "a"}, {"violationEventType", "alarm-cleared"}, {"violationEventTime", 1796436000.5},
                      {"behavior", {{"name", "sent"}, {"metric", "aws:num-messages-sent"},
                                    {"criteria", {{"mlDetectionConfig", {{"confidenceLevel", "HIGH"}}}}}}}};
  auto e = violation_from_json(j);
  REQUIRE(e);
  CHECK(e->confidence == "HIGH");
  CHECK(e->t == 1796436000500);
  j["violationEventAdditionalInfo"] = {{"confidenceLevel", "LOW"}};
  CHECK(violation_from_json(j)->confidence == "LOW");
  j["behavior"].erase("criteria");
  j.erase("violationEventAdditionalInfo");
  CHECK(violation_from_json(j)->confidence.empty());  // a rule behavior
}

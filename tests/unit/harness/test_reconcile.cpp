#include "sim/harness/reconcile.hpp"

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

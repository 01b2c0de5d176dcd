#include "sim/local/detector.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <numbers>

using namespace fleetsim;
using namespace fleetsim::local;
using nlohmann::json;

namespace {

constexpr EpochMillis t0 = 1'700'000'100'000;  // a multiple of 5 minutes
constexpr std::int64_t five_min = 300'000;

DetectorSettings settings(std::uint64_t min_datapoints = 100, bool adapt = true) {
  DetectorSettings s;
  if (!adapt) s.adapt_half_life = Millis(0);
  s.window = Millis(five_min);
  s.training = Millis(3'600'000);
  s.min_datapoints = min_datapoints;
  s.seed = 7;
  return s;
}

json ml(const std::string& name, const std::string& metric, const std::string& level = "MEDIUM", int to_alarm = 1,
        int to_clear = 1) {
  return json{{"name", name},
              {"metric", metric},
              {"criteria",
               {{"consecutiveDatapointsToAlarm", to_alarm},
                {"consecutiveDatapointsToClear", to_clear},
                {"mlDetectionConfig", {{"confidenceLevel", level}}}}},
              {"suppressAlerts", true}};
}

json rule(const std::string& name, const std::string& metric, const std::string& op, json value, int duration = 0) {
  json criteria{{"comparisonOperator", op}, {"value", value}};
  if (duration) criteria["durationSeconds"] = duration;
  return json{{"name", name}, {"metric", metric}, {"criteria", criteria}};
}

ProfileTargets profile(const std::string& name, json behaviors, std::set<std::string, std::less<>> things) {
  return ProfileTargets{name, std::move(behaviors), std::move(things), false};
}

// Window k (0-based from t0) with the given counts per thing.
ClosedWindow window(int k, const std::map<std::string, std::map<std::string, double>>& values) {
  ClosedWindow w{t0 + k * five_min, t0 + (k + 1) * five_min, {}};
  for (const auto& [thing, metrics] : values)
    for (const auto& [metric, v] : metrics) w.things[thing][metric] = MetricValue::count(static_cast<std::uint64_t>(v));
  return w;
}

std::vector<ViolationEvent> of_type(const std::vector<ViolationEvent>& events, ViolationEventType t) {
  std::vector<ViolationEvent> out;
  for (const auto& e : events)
    if (e.type == t) out.push_back(e);
  return out;
}

std::uint64_t poisson(Rng& rng, double mean) {
  if (mean <= 0) return 0;
  if (mean > 30) return static_cast<std::uint64_t>(std::max(0.0, std::round(rng.normal(mean, std::sqrt(mean)))));
  const double limit = std::exp(-mean);
  double p = rng.uniform01();
  std::uint64_t k = 0;
  while (p > limit && k < 1000) p *= rng.uniform01(), ++k;
  return k;
}

const std::vector<std::string> sent = {"aws:num-messages-sent"};

}  // namespace

TEST_CASE("Training progresses from PENDING_BUILD to ACTIVE on time and datapoints", "[detector]") {
  Detector d(settings(100));
  const auto p = profile("p", json::array({ml("sent", "aws:num-messages-sent")}), {"a", "b", "c", "d", "e"});
  std::map<std::string, std::map<std::string, double>> values;
  for (auto t : {"a", "b", "c", "d", "e"}) values[t] = {{"aws:num-messages-sent", 60}};
  CHECK(d.training_summaries("p").empty());  // nothing seen yet
  for (int k = 0; k < 20; ++k) {
    d.evaluate(window(k, values), {p});
    auto s = d.training_summaries("p");
    REQUIRE(s.size() == 1);
    const double expected = std::min(100.0, 5.0 * (k + 1));  // 5 datapoints a window, 100 wanted
    CHECK(s[0].datapoints_collection_percentage == Approx(expected));
    // ACTIVE once both a full hour (12 windows) and 100 datapoints (20 windows) are in: window 19.
    if (k < 19) {
      CHECK(s[0].model_status == "PENDING_BUILD");
      CHECK_FALSE(s[0].to_json().contains("trainingDataCollectionStartDate"));
      CHECK_FALSE(s[0].to_json().contains("lastModelRefreshDate"));
    } else {
      CHECK(s[0].model_status == "ACTIVE");
      CHECK(*s[0].training_data_collection_start == t0);
      CHECK(*s[0].last_model_refresh == t0 + 20 * five_min);
      CHECK(s[0].to_json()["trainingDataCollectionStartDate"] == Approx(double(t0) / 1000));
    }
  }
  // With enough things the hour is the gate: 12 windows of 10 things.
  Detector quick(settings(100));
  std::set<std::string, std::less<>> ten;
  values.clear();
  for (int i = 0; i < 10; ++i) ten.insert("t" + std::to_string(i)), values["t" + std::to_string(i)] = {{"aws:num-messages-sent", 60}};
  for (int k = 0; k < 12; ++k) {
    quick.evaluate(window(k, values), {profile("p", json::array({ml("sent", "aws:num-messages-sent")}), ten)});
    CHECK(quick.training_summaries()[0].model_status == (k == 11 ? "ACTIVE" : "PENDING_BUILD"));
  }
}

TEST_CASE("A step up and a drop are caught at the right window and levels", "[detector]") {
  Detector d(settings(12, false));
  const auto p = profile("p",
                         json::array({ml("low", "aws:num-messages-sent", "LOW"), ml("medium", "aws:num-messages-sent", "MEDIUM"),
                                      ml("high", "aws:num-messages-sent", "HIGH")}),
                         {"a"});
  const double baseline[] = {58, 60, 62};
  for (int k = 0; k < 12; ++k) CHECK(d.evaluate(window(k, {{"a", {{"aws:num-messages-sent", baseline[k % 3]}}}}), {p}).empty());
  // Centre 60 (Anscombe 15.54), spread 1.4826 * MAD(=0.26) < 1: the Poisson floor 1 rules.
  auto b = d.bounds("p", "medium", "a", ConfidenceLevel::medium);
  REQUIRE(b);
  CHECK(b->upper == Approx(120));                 // x2 beats inverse(15.54 + 6) = 115.6
  CHECK(b->lower == Approx(22.38).margin(0.01));  // inverse(15.54 - 6), below 60 / 2
  CHECK(d.bounds("p", "high", "a", ConfidenceLevel::high)->upper == Approx(180));
  CHECK(d.bounds("p", "low", "a", ConfidenceLevel::low)->upper == Approx(95.08).margin(0.01));

  CHECK(d.evaluate(window(12, {{"a", {{"aws:num-messages-sent", 90}}}}), {p}).empty());  // x1.5: inside LOW
  auto up = d.evaluate(window(13, {{"a", {{"aws:num-messages-sent", 150}}}}), {p});  // x2.5: LOW and MEDIUM
  REQUIRE(up.size() == 2);
  CHECK(up[0].behavior["name"] == "low");
  CHECK(up[1].behavior["name"] == "medium");
  CHECK(*up[1].confidence == ConfidenceLevel::medium);
  CHECK(up[1].to_json()["violationEventAdditionalInfo"]["confidenceLevel"] == "MEDIUM");
  CHECK(up[1].to_json()["metricValue"] == json{{"count", 150}});
  CHECK(up[1].time == t0 + 14 * five_min);
  auto cleared = d.evaluate(window(14, {{"a", {{"aws:num-messages-sent", 60}}}}), {p});
  CHECK(of_type(cleared, ViolationEventType::alarm_cleared).size() == 2);
  CHECK(cleared[0].violation_id == up[0].violation_id);
  auto silence = d.evaluate(window(15, {{"a", {{"aws:num-messages-sent", 0}}}}), {p});  // a drop to 0: every level
  CHECK(of_type(silence, ViolationEventType::in_alarm).size() == 3);
  auto big = d.evaluate(window(16, {{"a", {{"aws:num-messages-sent", 1200}}}}), {p});  // still violating: no new events
  CHECK(big.empty());
  CHECK(d.active_violations().size() == 3);
  CHECK(d.active_violations()[0].last_violation_value.scalar == 1200);
  CHECK(d.active_violations()[0].violation_start_time == t0 + 16 * five_min);
  CHECK(d.active_violations()[0].last_violation_time == t0 + 17 * five_min);
}

TEST_CASE("Consecutive datapoints to alarm and to clear", "[detector]") {
  Detector d(settings(12));
  const auto p = profile("p", json::array({ml("sent", "aws:num-messages-sent", "MEDIUM", 3, 2)}), {"a"});
  int k = 0;
  auto feed = [&](double v) { return d.evaluate(window(k++, {{"a", {{"aws:num-messages-sent", v}}}}), {p}); };
  for (int i = 0; i < 12; ++i) feed(60);
  CHECK(feed(500).empty());
  CHECK(feed(500).empty());
  CHECK(feed(60).empty());  // the streak is broken
  CHECK(feed(500).empty());
  CHECK(feed(500).empty());
  auto alarm = feed(500);  // the third in a row
  REQUIRE(alarm.size() == 1);
  CHECK(alarm[0].type == ViolationEventType::in_alarm);
  CHECK(feed(60).empty());   // one compliant datapoint is not enough to clear
  CHECK(feed(500).empty());  // and it resets the clear streak
  CHECK(feed(60).empty());
  auto clear = feed(60);
  REQUIRE(clear.size() == 1);
  CHECK(clear[0].type == ViolationEventType::alarm_cleared);
  CHECK(clear[0].violation_id == alarm[0].violation_id);
}

TEST_CASE("Zero baselines: a count that is always 0 alarms only on a real burst", "[detector]") {
  Detector d(settings(12, false));
  const auto p = profile("p",
                         json::array({ml("low", "aws:num-authorization-failures", "LOW"),
                                      ml("medium", "aws:num-authorization-failures", "MEDIUM"),
                                      ml("high", "aws:num-authorization-failures", "HIGH")}),
                         {"a"});
  int k = 0;
  auto feed = [&](double v) { return d.evaluate(window(k++, {{"a", {{"aws:num-authorization-failures", v}}}}), {p}); };
  for (int i = 0; i < 12; ++i) feed(0);
  // Anscombe centre 2*sqrt(3/8) = 1.2247, floor 1: LOW above 6.45, MEDIUM above 12.7, HIGH above 25.8; no drops.
  CHECK(d.bounds("p", "low", "a", ConfidenceLevel::low)->upper == Approx(6.45).margin(0.01));
  CHECK(d.bounds("p", "medium", "a", ConfidenceLevel::medium)->upper == Approx(12.68).margin(0.01));
  CHECK(d.bounds("p", "high", "a", ConfidenceLevel::high)->upper == Approx(25.76).margin(0.01));
  CHECK(std::isinf(d.bounds("p", "medium", "a", ConfidenceLevel::medium)->lower));
  CHECK(feed(1).empty());
  CHECK(feed(2).empty());
  CHECK(feed(6).empty());
  CHECK(feed(0).empty());
  auto seven = feed(7);
  REQUIRE(seven.size() == 1);
  CHECK(seven[0].behavior["name"] == "low");
  feed(0);
  CHECK(feed(13).size() == 2);
  feed(0);
  CHECK(feed(30).size() == 3);
}

TEST_CASE("The centre follows slow drift but not a step", "[detector]") {
  const auto p = profile("p", json::array({ml("sent", "aws:num-messages-sent", "MEDIUM")}), {"a"});
  for (bool adapt : {true, false}) {
    Detector d(settings(12, adapt));
    int k = 0, alarms = 0;
    for (; k < 12; ++k) d.evaluate(window(k, {{"a", {{"aws:num-messages-sent", 60}}}}), {p});
    for (int i = 0; i < 120; ++i, ++k)  // +1% a window: x3.3 after ten hours
      alarms += int(d.evaluate(window(k, {{"a", {{"aws:num-messages-sent", std::round(60 * std::pow(1.01, i))}}}}), {p}).size());
    CHECK(alarms == (adapt ? 0 : 1));
    auto step = d.evaluate(window(k, {{"a", {{"aws:num-messages-sent", 60 * std::pow(1.01, 120) * 4}}}}), {p});
    if (adapt) CHECK(step.size() == 1);
  }
}

namespace {

// A quickstart-like fleet: 30 sensors (~60 messages a window, 20% diurnal) and 10 gateways (~30), rare
// reconnects, a partial first window, device reports every window; anomalies as the quickstart injects them.
struct Fleet {
  struct Anomaly {
    std::string name;
    std::string thing;
    int from, to;  // evaluation windows, inclusive
  };
  Rng rng;
  double phase;  // diurnal phase at t0, radians
  std::vector<std::string> things;
  std::vector<Anomaly> anomalies;
  static constexpr int training_windows = 12;

  Fleet(std::uint64_t seed, double phase) : rng(seed), phase(phase) {
    for (int i = 1; i <= 30; ++i) things.push_back("qs-sensor-" + std::to_string(100 + i).substr(1));
    for (int i = 1; i <= 10; ++i) things.push_back("qs-gateway-" + std::to_string(100 + i).substr(1));
  }
  bool gateway(const std::string& t) const { return t.starts_with("qs-gateway"); }
  const Anomaly* active(const std::string& thing, int e) const {
    for (const auto& a : anomalies)
      if (a.thing == thing && e >= a.from && e <= a.to) return &a;
    return nullptr;
  }
  // Window k counted from the start of training.
  ClosedWindow make(int k) {
    ClosedWindow w{t0 + k * five_min, t0 + (k + 1) * five_min, {}};
    const int e = k - training_windows;
    const double diurnal = 1 + 0.2 * std::cos(phase + 2 * std::numbers::pi * k / 288.0);
    for (const auto& t : things) {
      const bool gw = gateway(t);
      const Anomaly* a = active(t, e);
      const std::string kind = a ? a->name : "";
      const double part = k == 0 ? rng.uniform(0.1, 1.0) : 1.0;  // connected part-way into the first window
      double sent_mean = (gw ? 30 : 60 * diurnal) * part;
      if (kind == "flood") sent_mean *= 20;
      if (kind == "silence") sent_mean = 0.3;
      const auto n = poisson(rng, sent_mean);
      double received = double(poisson(rng, (gw ? 20 : 5) * part));
      if (kind == "command-storm") received *= 25;
      double attempts = k == 0 ? 1 : 0, disconnects = 0, auth = 0;
      if (rng.uniform01() < (gw ? 2.0 : 1.0) / 288) attempts += 1, disconnects += 1;
      if (rng.uniform01() < 0.001) attempts += 1, disconnects += 1;  // a reconnect that needed a retry
      if (kind == "policy-probe") auth = 30, attempts += 30, disconnects += 30;
      if (kind == "flapping") attempts += 20, disconnects += 20;
      auto& m = w.things[t];
      m["aws:num-messages-sent"] = MetricValue::count(n);
      m["aws:num-messages-received"] = MetricValue::count(std::uint64_t(received));
      m["aws:num-authorization-failures"] = MetricValue::count(std::uint64_t(auth));
      m["aws:num-connection-attempts"] = MetricValue::count(std::uint64_t(attempts));
      m["aws:num-disconnects"] = MetricValue::count(std::uint64_t(disconnects));
      if (n > 0) {
        double size = gw ? 1024 + 100 * (2.0 + 0.4 * rng.normal(0, 1)) : 200 + 200 * std::pow(rng.uniform01(), 1.0 / double(n));
        if (kind == "fat-payloads") size = 32768;
        m["aws:message-byte-size"] = MetricValue::count(std::uint64_t(size));
      }
      double bytes_out = gw ? 49152 * rng.uniform(0.9, 1.1) : double(n) * 330 + rng.normal(0, 60 * std::sqrt(double(n) + 1)) + 450;
      if (kind == "fat-payloads") bytes_out = double(n) * 32800;
      if (kind == "exfiltration") bytes_out *= 30;
      if (k == 0) bytes_out *= part;
      m["aws:all-bytes-out"] = MetricValue::count(std::uint64_t(std::max(0.0, bytes_out)));
      m["aws:num-listening-tcp-ports"] = MetricValue::count(gw ? 3 : (kind == "backdoor" ? 6 : 2));
      m["aws:num-established-tcp-connections"] = MetricValue::count(gw ? (kind == "botnet" ? 44 : 4) : 2);
    }
    return w;
  }
};

json quickstart_behaviors(const std::string& level) {
  json b = json::array();
  for (auto [name, metric] : std::initializer_list<std::pair<const char*, const char*>>{
           {"messages-sent", "aws:num-messages-sent"},
           {"messages-received", "aws:num-messages-received"},
           {"message-size", "aws:message-byte-size"},
           {"authorization-failures", "aws:num-authorization-failures"},
           {"connection-attempts", "aws:num-connection-attempts"},
           {"disconnects", "aws:num-disconnects"},
           {"bytes-out", "aws:all-bytes-out"},
           {"listening-tcp-ports", "aws:num-listening-tcp-ports"},
           {"established-connections", "aws:num-established-tcp-connections"}})
    b.push_back(ml(std::string(name) + (level == "MEDIUM" ? "" : "-" + level), metric, level));
  return b;
}

}  // namespace

TEST_CASE("Quickstart-like fleet: every anomaly caught at MEDIUM with at most one false alarm", "[detector]") {
  for (std::uint64_t seed : {1, 2, 3, 4, 5}) {
    Fleet fleet(seed, 2 * std::numbers::pi * double(seed) / 5);  // a different time of day for each run
    fleet.anomalies = {{"flood", "qs-sensor-02", 1, 3},          {"flood", "qs-sensor-19", 1, 3},
                       {"fat-payloads", "qs-sensor-16", 5, 7},   {"fat-payloads", "qs-sensor-30", 5, 7},
                       {"command-storm", "qs-gateway-09", 9, 11}, {"policy-probe", "qs-sensor-01", 13, 15},
                       {"policy-probe", "qs-sensor-18", 13, 15},  {"flapping", "qs-sensor-05", 17, 19},
                       {"flapping", "qs-sensor-15", 17, 19},      {"silence", "qs-sensor-05", 21, 24},
                       {"silence", "qs-sensor-24", 21, 24},       {"exfiltration", "qs-gateway-03", 26, 28},
                       {"backdoor", "qs-sensor-08", 27, 29},      {"botnet", "qs-gateway-05", 30, 32}};
    Detector d(settings(400));
    ProfileTargets p{"quickstart-ml", quickstart_behaviors("MEDIUM"), {}, false};
    for (const auto& t : fleet.things) p.things.insert(t);
    std::set<std::pair<std::string, int>> caught;  // (thing, anomaly start)
    int false_alarms = 0, evaluations = 0;
    for (int k = 0; k < Fleet::training_windows + 36; ++k) {
      const ClosedWindow w = fleet.make(k);
      for (const auto& e : of_type(d.evaluate(w, {p}), ViolationEventType::in_alarm)) {
        REQUIRE(k >= Fleet::training_windows);  // nothing alarms while training
        if (const auto* a = fleet.active(e.thing_name, k - Fleet::training_windows))
          caught.insert({e.thing_name, a->from});
        else
          ++false_alarms, UNSCOPED_INFO("false alarm: " << e.thing_name << " " << e.behavior["name"] << " "
                                                          << e.metric_value->to_json().dump() << " window " << k);
      }
      if (k >= Fleet::training_windows) evaluations += int(w.things.size()) * 9;
      if (k == Fleet::training_windows - 1)
        for (const auto& s : d.training_summaries()) CHECK(s.model_status == "ACTIVE");
    }
    std::printf("quickstart-like run, seed %llu: %d false alarms at MEDIUM in %d evaluations, %zu of %zu anomalies caught\n",
                static_cast<unsigned long long>(seed), false_alarms, evaluations, caught.size(), fleet.anomalies.size());
    CHECK(false_alarms <= 1);
    for (const auto& a : fleet.anomalies) {
      INFO("missed " << a.name << " on " << a.thing);
      CHECK(caught.contains({a.thing, a.from}));
    }
  }
}

TEST_CASE("False alarm rate on pure baseline over three days", "[detector]") {
  Fleet fleet(99, 0.0);
  Detector d(settings(400));
  ProfileTargets p{"baseline", json::array(), {}, false};
  for (const auto& level : {"LOW", "MEDIUM", "HIGH"})
    for (const auto& b : quickstart_behaviors(level)) p.behaviors.push_back(b);
  for (const auto& t : fleet.things) p.things.insert(t);
  std::map<std::string, int> alarms;
  const int windows = 3 * 288;
  long evaluations = 0;  // per level
  for (int k = 0; k < windows; ++k) {
    const ClosedWindow w = fleet.make(k);
    for (const auto& e : of_type(d.evaluate(w, {p}), ViolationEventType::in_alarm))
      ++alarms[std::string(to_string(*e.confidence))];
    if (k >= Fleet::training_windows) evaluations += long(w.things.size()) * 9;
  }
  for (const auto& level : {"LOW", "MEDIUM", "HIGH"})
    std::printf("baseline false alarms at %-6s: %d in %ld evaluations (%.2e per evaluation)\n", level, alarms[level],
                evaluations, double(alarms[level]) / double(evaluations));
  CHECK(alarms["HIGH"] == 0);
  CHECK(alarms["MEDIUM"] <= 2);
  CHECK(alarms["HIGH"] <= alarms["MEDIUM"]);
  CHECK(alarms["MEDIUM"] <= alarms["LOW"]);
  CHECK(double(alarms["LOW"]) / double(evaluations) < 1e-3);
}

TEST_CASE("Static rules with every operator", "[detector]") {
  struct Case {
    std::string op, metric;
    json value;
    MetricValue measured;
    bool violates;
  };
  const std::vector<Case> cases = {
      {"less-than", "aws:num-messages-sent", {{"count", 10}}, MetricValue::count(9), true},
      {"less-than", "aws:num-messages-sent", {{"count", 10}}, MetricValue::count(10), false},
      {"less-than-equals", "aws:num-messages-sent", {{"count", 10}}, MetricValue::count(10), true},
      {"less-than-equals", "aws:num-messages-sent", {{"count", 10}}, MetricValue::count(11), false},
      {"greater-than", "aws:num-messages-sent", {{"count", 10}}, MetricValue::count(11), true},
      {"greater-than", "aws:num-messages-sent", {{"count", 10}}, MetricValue::count(10), false},
      {"greater-than-equals", "aws:message-byte-size", {{"count", 1024}}, MetricValue::count(1024), true},
      {"greater-than-equals", "aws:message-byte-size", {{"count", 1024}}, MetricValue::count(1023), false},
      {"not-in-port-set", "aws:listening-tcp-ports", {{"ports", {22, 443}}}, MetricValue::port_set({22, 31337}), true},
      {"not-in-port-set", "aws:listening-tcp-ports", {{"ports", {22, 443}}}, MetricValue::port_set({22}), false},
      {"not-in-port-set", "aws:listening-tcp-ports", {{"ports", {22, 443}}}, MetricValue::port_set({}), false},
      {"in-port-set", "aws:listening-udp-ports", {{"ports", {69}}}, MetricValue::port_set({68, 69}), true},
      {"in-port-set", "aws:listening-udp-ports", {{"ports", {69}}}, MetricValue::port_set({68}), false},
      {"in-cidr-set", "aws:destination-ip-addresses", {{"cidrs", {"192.168.0.0/16"}}},
       MetricValue::cidr_set({"10.0.0.1", "192.168.4.4"}), true},
      {"in-cidr-set", "aws:destination-ip-addresses", {{"cidrs", {"192.168.0.0/16"}}}, MetricValue::cidr_set({"10.0.0.1"}),
       false},
      {"not-in-cidr-set", "aws:source-ip-address", {{"cidrs", {"10.0.0.0/8", "127.0.0.1/32"}}},
       MetricValue::cidr_set({"127.0.0.2"}), true},
      {"not-in-cidr-set", "aws:source-ip-address", {{"cidrs", {"10.0.0.0/8", "127.0.0.1/32"}}},
       MetricValue::cidr_set({"10.9.9.9"}), false},
      {"in-set", "aws:destination-ip-addresses", {{"strings", {"a", "b"}}}, *MetricValue::from_json({{"strings", {"b"}}}), true},
      {"in-set", "aws:destination-ip-addresses", {{"strings", {"a", "b"}}}, *MetricValue::from_json({{"strings", {"c"}}}), false},
      {"not-in-set", "aws:listening-tcp-ports", {{"numbers", {22.0, 443.0}}}, MetricValue::port_set({8080}), true},
      {"not-in-set", "aws:listening-tcp-ports", {{"numbers", {22.0, 443.0}}}, MetricValue::port_set({443}), false},
  };
  for (const auto& c : cases) {
    INFO(c.op << " " << c.value.dump() << " vs " << c.measured.to_json().dump());
    Detector d(settings());
    ClosedWindow w{t0, t0 + five_min, {}};
    w.things["a"][c.metric] = c.measured;
    auto events = d.evaluate(w, {profile("p", json::array({rule("r", c.metric, c.op, c.value)}), {"a"})});
    CHECK(events.size() == (c.violates ? 1u : 0u));
    if (c.violates) {
      CHECK(events[0].to_json()["metricValue"] == c.measured.to_json());
      CHECK_FALSE(events[0].to_json().contains("violationEventAdditionalInfo"));
    }
  }
}

TEST_CASE("Static rules sum cloud-side counts over durationSeconds in whole windows", "[detector]") {
  Detector d(settings());
  const auto p = profile("p", json::array({rule("r", "aws:num-messages-sent", "greater-than", {{"count", 100}}, 900)}), {"a"});
  CHECK(d.evaluate(window(0, {{"a", {{"aws:num-messages-sent", 40}}}}), {p}).empty());  // 40
  CHECK(d.evaluate(window(1, {{"a", {{"aws:num-messages-sent", 40}}}}), {p}).empty());  // 80
  auto e = d.evaluate(window(2, {{"a", {{"aws:num-messages-sent", 40}}}}), {p});        // 120 over 15 minutes
  REQUIRE(e.size() == 1);
  CHECK(e[0].metric_value->scalar == 120);
  auto c = d.evaluate(window(3, {{"a", {{"aws:num-messages-sent", 0}}}}), {p});  // 80: the first window left
  REQUIRE(c.size() == 1);
  CHECK(c[0].type == ViolationEventType::alarm_cleared);
}

TEST_CASE("Alarms are invalidated after two days without datapoints, or when no longer monitored", "[detector]") {
  Detector d(settings());
  const json r = rule("r", "aws:num-messages-sent", "greater-than", {{"count", 100}});
  auto p = profile("p", json::array({r}), {"a", "b", "c"});
  auto e = d.evaluate(window(0, {{"a", {{"aws:num-messages-sent", 500}}},
                                 {"b", {{"aws:num-messages-sent", 500}}},
                                 {"c", {{"aws:num-messages-sent", 500}}}}),
                      {p});
  REQUIRE(e.size() == 3);
  // "b" is no longer targeted: its violation is invalidated at once.
  p.things.erase("b");
  auto e2 = d.evaluate(window(1, {{"a", {{"aws:num-messages-sent", 500}}}, {"c", {{"aws:num-messages-sent", 500}}}}), {p});
  REQUIRE(e2.size() == 1);
  CHECK(e2[0].thing_name == "b");
  CHECK(e2[0].type == ViolationEventType::alarm_invalidated);
  CHECK(e2[0].violation_id == e[1].violation_id);
  CHECK_FALSE(e2[0].to_json().contains("metricValue"));
  // "a" goes quiet; "c" keeps violating. The last datapoint of "a" is at the end of window 1.
  const int two_days = int(2 * millis_per_day / five_min);  // 576 windows
  int invalidated_at = -1;
  for (int k = 2; k < 2 + two_days + 3; ++k) {
    for (const auto& ev : d.evaluate(window(k, {{"c", {{"aws:num-messages-sent", 500}}}}), {p})) {
      CHECK(ev.thing_name == "a");
      CHECK(ev.type == ViolationEventType::alarm_invalidated);
      CHECK(invalidated_at == -1);
      invalidated_at = k;
    }
  }
  CHECK(invalidated_at == 2 + two_days);  // the first window ending more than two days after window 1's end
  // Removing the behavior invalidates the remaining violation.
  auto gone = d.evaluate(window(700, {{"c", {{"aws:num-messages-sent", 500}}}}), {profile("p", json::array(), {"c"})});
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].thing_name == "c");
  CHECK(gone[0].type == ViolationEventType::alarm_invalidated);
  CHECK(d.active_violations().empty());
}

TEST_CASE("Events keep suppressAlerts and verification states", "[detector]") {
  Detector d(settings());
  json r = rule("r", "aws:num-messages-sent", "greater-than", {{"count", 100}});
  r["suppressAlerts"] = true;
  auto e = d.evaluate(window(0, {{"a", {{"aws:num-messages-sent", 500}}}}), {profile("p", json::array({r}), {"a"})});
  REQUIRE(e.size() == 1);
  CHECK(e[0].suppress_alerts());
  CHECK(e[0].to_json()["behavior"]["suppressAlerts"] == true);
  CHECK(e[0].violation_id.size() == 36);
  CHECK(e[0].violation_id[14] == '4');
  CHECK(d.set_verification_state(e[0].violation_id, "TRUE_POSITIVE", "seen it"));
  CHECK(d.active_violations()[0].to_json()["verificationState"] == "TRUE_POSITIVE");
  CHECK(d.violation_events()[0].verification_description == "seen it");
  CHECK_FALSE(d.set_verification_state("no-such-id", "FALSE_POSITIVE", ""));
}

TEST_CASE("Unsupported behaviors are named", "[detector]") {
  json stat = rule("s", "aws:all-bytes-out", "less-than-equals", {{"count", 1}});
  stat["criteria"].erase("value");
  stat["criteria"]["statisticalThreshold"] = {{"statistic", "p50"}};
  REQUIRE(Detector::unsupported(stat));
  CHECK(Detector::unsupported(stat)->find("statisticalThreshold") != std::string::npos);
  CHECK(Detector::unsupported(ml("x", "aws:listening-tcp-ports")));  // not ML-capable
  CHECK_FALSE(Detector::unsupported(ml("x", "aws:num-disconnects")));
  CHECK_FALSE(Detector::unsupported(rule("r", "aws:source-ip-address", "in-cidr-set", {{"cidrs", {"10.0.0.0/8"}}})));
}

TEST_CASE("Saved state survives a restart mid-training and while in alarm", "[detector]") {
  auto p = profile("p", json::array({ml("sent", "aws:num-messages-sent", "MEDIUM", 1, 2),
                                     rule("r", "aws:num-messages-sent", "greater-than", {{"count", 300}}, 600)}),
                   {"a", "b"});
  Rng rng(5);
  std::vector<ClosedWindow> series;
  for (int k = 0; k < 40; ++k) {
    double a = double(poisson(rng, 60)), b = double(poisson(rng, 30));
    if (k >= 20 && k < 25) a = 400;
    series.push_back(window(k, {{"a", {{"aws:num-messages-sent", a}}}, {"b", {{"aws:num-messages-sent", b}}}}));
  }
  auto run = [&](int restart_at) {
    auto d = std::make_unique<Detector>(settings(20));
    std::vector<json> events;
    for (int k = 0; k < 40; ++k) {
      if (k == restart_at) d = std::make_unique<Detector>(Detector::load(json::parse(d->save().dump()), settings(20)));
      for (const auto& e : d->evaluate(series[k], {p})) events.push_back(e.to_json());
    }
    return std::pair{events, d->save()};
  };
  const auto reference = run(-1);
  REQUIRE(reference.first.size() >= 4);  // the ML and rule alarms and their clears
  for (int restart : {6, 22, 26}) {  // training; in alarm; in alarm with a clear streak under way
    INFO("restart before window " << restart);
    const auto restarted = run(restart);
    CHECK(restarted.first == reference.first);
    CHECK(restarted.second == reference.second);
  }
}

#include "sim/scenario/anomaly_kinds.hpp"

#include <catch2/catch.hpp>

#include "sim/scenario/loader.hpp"
#include "sim/scenario/metrics.hpp"
#include "sim/scenario/window_model.hpp"
#include "tests/unit/scenario/scenario_text.hpp"

using namespace fleetsim;
using namespace fleetsim::scenario;

namespace {

LoadResult load_anomaly(const std::string& anomaly_fields) {
  auto text = test::minimal_scenario("anomalies:\n  - {name: a, things: {group: sensors, count: 2}, start: 2h, duration: 20m, " +
                                     anomaly_fields + "}\n");
  auto r = load_scenario_text(text, "k.yaml");
  if (r.ok()) check_scenario(*r.scenario, r.diagnostics);
  return r;
}

std::string errors(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += format_diagnostic(d) + "\n";
  return out;
}

}  // namespace

TEST_CASE("every anomaly kind loads with its default strength, and its primary metrics stand out") {
  REQUIRE(anomaly_kinds().size() == 9);
  for (const auto& kind : anomaly_kinds()) {
    DYNAMIC_SECTION(kind.name) {
      auto r = load_anomaly("kind: " + std::string(kind.name));
      INFO(errors(r));
      REQUIRE(r.ok());
      const auto& s = *r.scenario;
      const auto& a = s.anomalies.at(0);
      CHECK(a.kind == kind.kind);
      CHECK(a.strength.text == kind.default_strength);
      CHECK(a.mode == (kind.modes.empty() ? "" : std::string(kind.modes.front())));
      auto metrics = affected_metrics(a.kind, a.mode);
      REQUIRE_FALSE(metrics.primary.empty());
      for (auto m : metrics.primary) CHECK(find_metric(m) != nullptr);
      for (auto m : metrics.side_effects) CHECK(find_metric(m) != nullptr);
      auto effects = anomaly_effects(s, a, s.fleet[0], evaluation_window(s));
      REQUIRE(effects.size() == metrics.primary.size() + metrics.side_effects.size());
      for (const auto& e : effects)
        if (e.primary) {
          INFO(e.metric << " baseline " << e.baseline.low << ".." << e.baseline.high << " during " << e.during);
          CHECK(e.verdict == MetricEffect::Verdict::stands_out);
        }
    }
  }
}

TEST_CASE("each kind declares the metrics Device Defender would see move") {
  auto auth = affected_metrics(AnomalyKind::authorization_failures, "publish");
  CHECK(auth.primary == std::vector<std::string_view>{"aws:num-authorization-failures"});
  CHECK(auth.side_effects == std::vector<std::string_view>{"aws:num-disconnects", "aws:num-connection-attempts"});
  CHECK(affected_metrics(AnomalyKind::device_listening_ports, "udp").primary ==
        std::vector<std::string_view>{"aws:num-listening-udp-ports"});
  CHECK(affected_metrics(AnomalyKind::reconnect_storm, "").primary.size() == 2);
  for (const auto& k : anomaly_kinds()) {
    auto m = affected_metrics(k.kind, k.modes.empty() ? "" : k.modes.front());
    for (auto name : m.primary) CHECK(find_metric(name)->device_side == k.device_side);
  }
}

TEST_CASE("strengths are written in the forms each kind accepts") {
  CHECK(load_anomaly("kind: message-flood, strength: 50/s").scenario->anomalies[0].strength.form == StrengthForm::rate);
  CHECK(load_anomaly("kind: message-flood, strength: x5").scenario->anomalies[0].strength.value == 5);
  CHECK(load_anomaly("kind: payload-inflation, strength: 8KiB").scenario->anomalies[0].strength.value == 8192);
  CHECK(load_anomaly("kind: silence, strength: 80%").scenario->anomalies[0].strength.value == Approx(0.8));
  auto bad = load_anomaly("kind: message-flood, strength: 5KiB");
  REQUIRE_FALSE(bad.ok());
  CHECK(errors(bad).find("'5KiB' is not a strength for message-flood; write a multiplier of the baseline such as x20 "
                         "or a rate such as 30/min") != std::string::npos);
  CHECK(errors(load_anomaly("kind: silence, strength: x2")).find("a percentage such as 80%") != std::string::npos);
}

TEST_CASE("modes, topics and kind-specific rules") {
  CHECK(load_anomaly("kind: authorization-failures, mode: subscribe").scenario->anomalies[0].mode == "subscribe");
  CHECK(errors(load_anomaly("kind: authorization-failures, mode: publsh")).find("write publish, subscribe or both") !=
        std::string::npos);
  CHECK(errors(load_anomaly("kind: message-flood, mode: tcp")).find("takes no mode") != std::string::npos);
  CHECK(errors(load_anomaly("kind: message-flood, topic: x")).find("only authorization-failures takes a topic") !=
        std::string::npos);
  CHECK(errors(load_anomaly("kind: authorization-failures, topic: 'dt/{thing}/t'")).find("which its policy allows") !=
        std::string::npos);
  CHECK(errors(load_anomaly("kind: mesage-flood")).find("did you mean 'message-flood'?") != std::string::npos);
  CHECK(errors(load_anomaly("kind: payload-inflation, strength: 1MiB")).find("128 KB") != std::string::npos);
}

TEST_CASE("device-side kinds need device metric reports; receive floods need a receive topic") {
  auto text = test::minimal_scenario(
      "anomalies:\n  - {name: a, kind: device-bytes-out, things: {group: sensors, count: 1}, start: 2h, duration: 20m}\n"
      "  - {name: b, kind: receive-flood, things: {group: sensors, count: 1}, start: 2h, duration: 20m}\n");
  text.erase(text.find("      receive:"), text.find("      device_metrics") - text.find("      receive:"));
  text.erase(text.find("      device_metrics"), text.find("\nanomalies") - text.find("      device_metrics") + 1);
  auto r = load_scenario_text(text, "k.yaml");
  REQUIRE(r.ok());
  check_scenario(*r.scenario, r.diagnostics);
  auto all = errors(r);
  CHECK(all.find("sends no device metric reports") != std::string::npos);
  CHECK(all.find("receives no commands") != std::string::npos);
}

TEST_CASE("plan effects follow the strength and dilute in a window the anomaly only partly covers") {
  auto r = load_anomaly("kind: message-flood, strength: x10");
  REQUIRE(r.ok());
  const auto& s = *r.scenario;
  auto full = anomaly_effects(s, s.anomalies[0], s.fleet[0], Millis(300'000));
  // 12/min baseline plus one device report per 5-minute window; x10 → 120/min.
  CHECK(full[0].baseline.mean == Approx(61));
  CHECK(full[0].during == Approx(601));
  auto anomaly = s.anomalies[0];
  anomaly.duration = Millis(150'000);  // half a window
  auto half = anomaly_effects(s, anomaly, s.fleet[0], Millis(300'000));
  CHECK(half[0].during == Approx((61 + 601) / 2.0));
  // A flood beyond the per-connection quota is capped at it.
  anomaly.strength.value = 1000;
  anomaly.duration = Millis(600'000);
  CHECK(anomaly_effects(s, anomaly, s.fleet[0], Millis(300'000))[0].during == Approx(100 * 300 + 1));
}

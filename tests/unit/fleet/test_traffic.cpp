// Test that the header file is self-contained.
#include "sim/fleet/traffic.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/rng.hpp"
#include "sim/scenario/loader.hpp"
#include "tests/unit/scenario/scenario_text.hpp"

using namespace fleetsim;
using namespace fleetsim::fleet;
using fleetsim::scenario::Scenario;
using fleetsim::test::minimal_scenario;
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------------------------
// Helpers: scenarios from YAML text, every anomaly of a scenario active at once.

namespace {

/// Loads and checks a scenario, failing the test with the first error if it is not valid. Unchecked,
/// only structure and units count: for what `validate` would refuse but the functions must still bound.
Scenario load(const std::string& text, bool checked = true) {
  auto r = scenario::load_scenario_text(text, "t.yaml");
  if (r.scenario && checked) scenario::check_scenario(*r.scenario, r.diagnostics);
  for (const auto& d : r.diagnostics)
    if (d.severity == Diagnostic::Severity::error) FAIL(format_diagnostic(d) << "\n" << text);
  REQUIRE(r.scenario);
  return *r.scenario;
}

/// Replaces the one occurrence of `from` in `text`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

/// The minimal scenario's device_metrics line, to swap for variants.
const std::string metrics_line = "device_metrics: {every: 5m, listening_tcp_ports: [22]}";

/// The minimal scenario with its device_metrics replaced by `{every: 5m, FIELDS}`.
std::string with_metrics(const std::string& fields, const std::string& extra = {}) {
  return replaced(minimal_scenario(extra), metrics_line, "device_metrics: {every: 5m, " + fields + "}");
}

/// One anomaly list item on one sensor; `more` adds fields such as ", mode: udp".
std::string anomaly(const std::string& kind, const std::string& strength = {}, const std::string& more = {}) {
  static int n = 0;
  return "  - {name: a" + std::to_string(++n) + ", kind: " + kind +
         ", things: {group: sensors, count: 1}, start: 1h, duration: 10m" +
         (strength.empty() ? "" : ", strength: " + strength) + more + "}\n";
}

std::string with_anomalies(const std::vector<std::string>& items, std::string base = minimal_scenario()) {
  if (!items.empty()) base += "anomalies:\n";
  for (const auto& i : items) base += i;
  return base;
}

/// The knobs with every anomaly of the scenario active on the thing.
Knobs knobs_of(const Scenario& s) {
  std::vector<ActiveEffect> effects;
  for (const auto& a : s.anomalies) effects.push_back({&a, "ledger-" + a.name, 0, 600'000});
  return knobs_for(effects, s.fleet.at(0));
}

/// The knobs of anomaly list items on the minimal scenario.
Knobs knobs_with(const std::vector<std::string>& items, bool checked = true) {
  return knobs_of(load(with_anomalies(items), checked));
}

/// A midnight UTC, far from the epoch.
constexpr EpochMillis midnight = 20'000 * millis_per_day;
constexpr EpochMillis hour = 3'600'000;

json report(const Scenario& s, const Knobs& k, const TrafficCounters& c = {}, std::uint64_t seed = 1,
            std::uint64_t id = 42) {
  Rng rng(seed);
  const auto text = device_report(s.fleet.at(0), k, id, c, rng);
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  INFO(text);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

std::vector<int> ports_of(const json& listening) {
  std::vector<int> out;
  for (const auto& p : listening["ports"]) out.push_back(p["port"].get<int>());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// knobs_for

TEST_CASE("knobs: no active anomaly leaves every knob neutral") {
  const auto s = load(minimal_scenario());
  const auto k = knobs_for({}, s.fleet[0]);
  CHECK(k.publish_multiplier == 1);
  CHECK_FALSE(k.publish_rate);
  CHECK(k.payload_multiplier == 1);
  CHECK_FALSE(k.payload_size);
  CHECK(k.receive_multiplier == 1);
  CHECK_FALSE(k.receive_rate);
  CHECK(k.auth_failure_rate == 0);
  CHECK(k.reconnect_rate == 0);
  CHECK(k.silenced == 0);
  CHECK(k.bytes_out_multiplier == 1);
  CHECK_FALSE(k.bytes_out);
  CHECK(k.extra_tcp_ports == 0);
  CHECK(k.extra_udp_ports == 0);
  CHECK(k.extra_connections == 0);
}

TEST_CASE("knobs: message-flood") {
  SECTION("a multiplier multiplies the rate") {
    const auto k = knobs_with({anomaly("message-flood", "x5")});
    CHECK(k.publish_multiplier == 5);
    CHECK_FALSE(k.publish_rate);
  }
  SECTION("the default strength is x20") {
    CHECK(knobs_with({anomaly("message-flood")}).publish_multiplier == 20);
  }
  SECTION("a rate is an absolute rate per second") {
    const auto k = knobs_with({anomaly("message-flood", "30/min")});
    CHECK(k.publish_multiplier == 1);
    REQUIRE(k.publish_rate);
    CHECK(*k.publish_rate == Approx(0.5));
  }
  SECTION("overlapping floods: multipliers compound, absolute rates take the highest") {
    const auto k = knobs_with({anomaly("message-flood", "x5"), anomaly("message-flood", "x4"),
                             anomaly("message-flood", "2/s"), anomaly("message-flood", "30/min")});
    CHECK(k.publish_multiplier == 20);
    CHECK(*k.publish_rate == Approx(2));
  }
}

TEST_CASE("knobs: payload-inflation") {
  CHECK(knobs_with({anomaly("payload-inflation", "x10")}).payload_multiplier == 10);
  const auto k = knobs_with({anomaly("payload-inflation", "64KiB"), anomaly("payload-inflation", "16KiB"),
                           anomaly("payload-inflation", "x3"), anomaly("payload-inflation", "x2")});
  CHECK(k.payload_size == std::uint64_t{65536});
  CHECK(k.payload_multiplier == 6);
}

TEST_CASE("knobs: receive-flood") {
  CHECK(knobs_with({anomaly("receive-flood", "x8")}).receive_multiplier == 8);
  const auto k = knobs_with({anomaly("receive-flood", "1/s"), anomaly("receive-flood", "3/s"),
                           anomaly("receive-flood", "x2"), anomaly("receive-flood", "x2")});
  CHECK(*k.receive_rate == Approx(3));
  CHECK(k.receive_multiplier == 4);
  CHECK(k.publish_multiplier == 1);  // a receive flood leaves publishing alone
}

TEST_CASE("knobs: authorization-failures") {
  SECTION("rate, default mode, no explicit topic") {
    const auto k = knobs_with({anomaly("authorization-failures", "6/min")});
    CHECK(k.auth_failure_rate == Approx(0.1));
    CHECK(k.auth_mode == "publish");
    CHECK(k.auth_topic.empty());
  }
  SECTION("mode and topic as written") {
    const auto k = knobs_with({anomaly("authorization-failures", "1/s", ", mode: subscribe, topic: 'secret/{thing}'")});
    CHECK(k.auth_failure_rate == Approx(1));
    CHECK(k.auth_mode == "subscribe");
    CHECK(k.auth_topic == "secret/{thing}");
  }
  SECTION("overlapping occurrences add their rates") {
    const auto k = knobs_with({anomaly("authorization-failures", "6/min"), anomaly("authorization-failures", "12/min")});
    CHECK(k.auth_failure_rate == Approx(0.3));
  }
}

TEST_CASE("knobs: reconnect-storm rates add up") {
  CHECK(knobs_with({anomaly("reconnect-storm", "6/min")}).reconnect_rate == Approx(0.1));
  CHECK(knobs_with({anomaly("reconnect-storm", "6/min"), anomaly("reconnect-storm", "1/s")}).reconnect_rate ==
        Approx(1.1));
}

TEST_CASE("knobs: silence takes the strongest") {
  CHECK(knobs_with({anomaly("silence")}).silenced == Approx(1.0));  // default 100%
  CHECK(knobs_with({anomaly("silence", "80%"), anomaly("silence", "50%")}).silenced == Approx(0.8));
}

TEST_CASE("knobs: device-bytes-out") {
  CHECK(knobs_with({anomaly("device-bytes-out", "x10")}).bytes_out_multiplier == 10);
  const auto k = knobs_with({anomaly("device-bytes-out", "1MiB"), anomaly("device-bytes-out", "2MiB"),
                           anomaly("device-bytes-out", "x3")});
  CHECK(k.bytes_out == std::uint64_t{2 * 1024 * 1024});
  CHECK(k.bytes_out_multiplier == 3);
}

TEST_CASE("knobs: device-listening-ports counts tcp and udp apart and adds overlaps") {
  const auto k = knobs_with({anomaly("device-listening-ports", "3"), anomaly("device-listening-ports", "2", ", mode: tcp"),
                           anomaly("device-listening-ports", "4", ", mode: udp")});
  CHECK(k.extra_tcp_ports == 5);
  CHECK(k.extra_udp_ports == 4);
}

TEST_CASE("knobs: device-connections, absolute and as a multiplier of the baseline") {
  SECTION("a count adds that many connections") {
    CHECK(knobs_with({anomaly("device-connections", "20")}).extra_connections == 20);
  }
  SECTION("x3 of a baseline of 2 adds 4, to make 6") {
    const auto s = load(with_anomalies({anomaly("device-connections", "x3")},
                                       with_metrics("listening_tcp_ports: [22], established_connections: 2")));
    CHECK(knobs_of(s).extra_connections == 4);
  }
  SECTION("overlaps add") {
    CHECK(knobs_with({anomaly("device-connections", "20"), anomaly("device-connections", "x3")}).extra_connections ==
          22);  // baseline 1: x3 adds 2
  }
}

TEST_CASE("knobs: different kinds on one thing each turn their own knob") {
  const auto k = knobs_with({anomaly("message-flood", "x5"), anomaly("payload-inflation", "x2"),
                           anomaly("silence", "50%"), anomaly("device-listening-ports", "1")});
  CHECK(k.publish_multiplier == 5);
  CHECK(k.payload_multiplier == 2);
  CHECK(k.silenced == Approx(0.5));
  CHECK(k.extra_tcp_ports == 1);
  CHECK(k.receive_multiplier == 1);
  CHECK(k.bytes_out_multiplier == 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Rates

TEST_CASE("effective_rate follows the diurnal curve") {
  scenario::Diurnal d;
  d.amplitude = 0.5;
  d.peak = Millis(14 * hour);
  CHECK(effective_rate(2.0, d, midnight + 14 * hour) == Approx(3.0));      // peak: ×1.5
  CHECK(effective_rate(2.0, d, midnight + 2 * hour) == Approx(1.0));       // trough, 12 h away: ×0.5
  CHECK(effective_rate(2.0, d, midnight + 8 * hour) == Approx(2.0));       // a quarter day away: ×1
  CHECK(effective_rate(2.0, d, midnight + 20 * hour) == Approx(2.0));
  CHECK(effective_rate(2.0, d, midnight - 10 * hour) == Approx(3.0));      // yesterday's peak
  CHECK(effective_rate(2.0, d, 2 * hour) == Approx(1.0));                  // the epoch's own day
  d.amplitude = 1.0;
  CHECK(effective_rate(2.0, d, midnight + 2 * hour) == Approx(0.0).margin(1e-12));  // never below 0
  d.amplitude = 0;
  for (EpochMillis h = 0; h < 24; ++h) CHECK(effective_rate(2.0, d, midnight + h * hour) == 2.0);
}

TEST_CASE("publish_rate and receive_rate follow the diurnal curve from the scenario") {
  const auto s = load(replaced(minimal_scenario(), metrics_line,
                               metrics_line + "\n      diurnal: {amplitude: 0.5, peak: \"14:00\"}"));
  const auto& g = s.fleet[0];
  const Knobs k;
  CHECK(publish_rate(g, k, midnight + 14 * hour) == Approx(0.2 * 1.5));  // 12/min at peak
  CHECK(publish_rate(g, k, midnight + 2 * hour) == Approx(0.2 * 0.5));
  CHECK(receive_rate(g, k, midnight + 14 * hour) == Approx(1.5 / 60));    // 1/min at peak
  CHECK(receive_rate(g, k, midnight + 2 * hour) == Approx(0.5 / 60));
}

TEST_CASE("next_interval: mean 1/rate, each within ±jitter") {
  SECTION("with jitter") {
    Rng rng(3);
    const int n = 20000;
    double sum = 0;
    std::int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < n; ++i) {
      auto d = next_interval(2.0, 0.1, rng);  // mean 500 ms, 450..550
      REQUIRE(d);
      sum += double(d->count());
      lo = std::min<std::int64_t>(lo, d->count());
      hi = std::max<std::int64_t>(hi, d->count());
    }
    CHECK(sum / n == Approx(500).epsilon(0.005));
    CHECK(lo >= 450);
    CHECK(hi <= 550);
    CHECK(lo <= 452);  // the whole ±10% band is used
    CHECK(hi >= 548);
  }
  SECTION("an awkward rate keeps its mean") {
    Rng rng(4);
    double sum = 0;
    for (int i = 0; i < 20000; ++i) sum += double(next_interval(0.3, 0.25, rng)->count());
    CHECK(sum / 20000 == Approx(1000.0 / 0.3).epsilon(0.01));
  }
  SECTION("without jitter it is exact") {
    Rng rng(5);
    for (int i = 0; i < 10; ++i) CHECK(next_interval(0.2, 0, rng) == Millis(5000));
  }
  SECTION("a zero or negative rate has no next event") {
    Rng rng(6);
    CHECK_FALSE(next_interval(0, 0.1, rng));
    CHECK_FALSE(next_interval(-1, 0.1, rng));
  }
  SECTION("a very high rate still waits at least 1 ms") {
    Rng rng(7);
    CHECK(next_interval(1e6, 0.1, rng) == Millis(1));
  }
  SECTION("the same seed gives the same intervals") {
    Rng a(9), b(9);
    for (int i = 0; i < 100; ++i) CHECK(next_interval(1.0, 0.3, a) == next_interval(1.0, 0.3, b));
  }
}

TEST_CASE("publish_rate under message floods") {
  const EpochMillis t = midnight + 5 * hour;
  auto rate = [&](const std::vector<std::string>& items) {
    const auto s = load(with_anomalies(items));
    return publish_rate(s.fleet[0], knobs_of(s), t);
  };
  CHECK(rate({}) == Approx(0.2));                                  // 12/min
  CHECK(rate({anomaly("message-flood", "x5")}) == Approx(1.0));
  CHECK(rate({anomaly("message-flood", "120/min")}) == Approx(2.0));
  CHECK(rate({anomaly("message-flood", "6/min")}) == Approx(0.2));  // a flood never slows the thing down
  CHECK(rate({anomaly("message-flood", "x5"), anomaly("message-flood", "30/min")}) == Approx(1.0));
  CHECK(rate({anomaly("receive-flood", "x5")}) == Approx(0.2));
}

TEST_CASE("receive_rate under receive floods") {
  const EpochMillis t = midnight + 5 * hour;
  const auto s = load(with_anomalies({anomaly("receive-flood", "x20")}));
  CHECK(receive_rate(s.fleet[0], Knobs{}, t) == Approx(1.0 / 60));
  CHECK(receive_rate(s.fleet[0], knobs_of(s), t) == Approx(20.0 / 60));
  const auto abs = load(with_anomalies({anomaly("receive-flood", "5/s")}));
  CHECK(receive_rate(abs.fleet[0], knobs_of(abs), t) == Approx(5));

  SECTION("a thing without a receive topic receives nothing, flood or not") {
    // check_scenario refuses this combination; receive_rate must hold regardless.
    const auto none = load(with_anomalies({anomaly("receive-flood", "5/s")},
                                          replaced(minimal_scenario(), "      receive: {topic: commands, rate: 1/min}\n", "")),
                           false);
    REQUIRE(none.fleet[0].baseline.receive.topic.empty());
    CHECK(receive_rate(none.fleet[0], knobs_of(none), t) == 0);
  }
}

TEST_CASE("payload_size: baseline, inflated, capped at 128 KiB") {
  Rng rng(1);
  const auto s = load(minimal_scenario());  // fixed 256 B
  const auto& g = s.fleet[0];
  CHECK(payload_size(g, Knobs{}, rng) == 256);
  CHECK(payload_size(g, knobs_with({anomaly("payload-inflation", "x10")}), rng) == 2560);
  CHECK(payload_size(g, knobs_with({anomaly("payload-inflation", "64KiB")}), rng) == 65536);
  // check_scenario refuses strengths over the AWS limit; the cap holds even without it.
  CHECK(payload_size(g, knobs_with({anomaly("payload-inflation", "x1000")}, false), rng) == 131072);   // 256000
  CHECK(payload_size(g, knobs_with({anomaly("payload-inflation", "200KiB")}, false), rng) == 131072);
  CHECK(payload_size(g, knobs_with({anomaly("payload-inflation", "128KiB")}, false), rng) == 131072);
  CHECK(payload_size(g, knobs_with({anomaly("payload-inflation", "x500")}, false), rng) == 128000);  // just under

  SECTION("a distribution is sampled, then multiplied") {
    const auto u = load(replaced(minimal_scenario(), "payload: 256B", "payload: 200B..400B"));
    const auto k = knobs_with({anomaly("payload-inflation", "x2")});
    std::uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 5000; ++i) {
      const auto v = payload_size(u.fleet[0], k, rng);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    CHECK(lo >= 400);
    CHECK(hi <= 800);
    CHECK(lo < 420);
    CHECK(hi > 780);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// device_report

TEST_CASE("device_report: valid JSON in the Device Defender shape") {
  const auto s = load(minimal_scenario());
  const auto j = report(s, Knobs{}, {}, 1, 42);
  CHECK(j["header"]["report_id"] == 42);
  CHECK(j["header"]["version"] == "1.0");
  const auto& m = j["metrics"];
  for (auto key : {"network_stats", "tcp_connections", "listening_tcp_ports", "listening_udp_ports"}) {
    INFO(key);
    CHECK(m.contains(key));
  }
  CHECK(ports_of(m["listening_tcp_ports"]) == std::vector<int>{22});
  CHECK(m["listening_tcp_ports"]["total"] == 1);
  CHECK(m["listening_tcp_ports"]["ports"][0]["interface"] == "eth0");
  CHECK(m["listening_udp_ports"]["ports"].is_array());
  CHECK(m["listening_udp_ports"]["total"] == 0);
  const auto& est = m["tcp_connections"]["established_connections"];
  CHECK(est["total"] == 1);  // the MQTT connection itself
  REQUIRE(est["connections"].size() == 1);
  CHECK(est["connections"][0]["remote_addr"].get<std::string>().find(':') != std::string::npos);
  CHECK(est["connections"][0].contains("local_port"));
}

TEST_CASE("device_report: auto network stats are the thing's own traffic since the last report") {
  const auto s = load(minimal_scenario());
  const TrafficCounters c{1234, 567, 12, 9};
  const auto n = report(s, Knobs{}, c)["metrics"]["network_stats"];
  CHECK(n["bytes_out"] == 1234);
  CHECK(n["bytes_in"] == 567);
  CHECK(n["packets_out"] == 12);
  CHECK(n["packets_in"] == 9);
}

TEST_CASE("device_report: explicit network stats vary within their jitter") {
  const auto s = load(with_metrics("bytes_in: 1000B, bytes_out: 5000B, packets_in: 10, packets_out: 50, jitter: 0.1"));
  const TrafficCounters ignored{777, 777, 777, 777};
  std::map<std::string, std::set<std::uint64_t>> distinct;
  std::size_t outside = 0;
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    const auto n = report(s, Knobs{}, ignored, seed)["metrics"]["network_stats"];
    const auto in_band = [](const json& v, double base) {
      const auto x = v.get<double>();
      return x >= base * 0.9 && x <= base * 1.1;
    };
    if (!in_band(n["bytes_in"], 1000) || !in_band(n["bytes_out"], 5000) || !in_band(n["packets_in"], 10) ||
        !in_band(n["packets_out"], 50))
      ++outside;
    for (const auto& [key, v] : n.items()) distinct[key].insert(v.get<std::uint64_t>());
  }
  CHECK(outside == 0);
  // Each field does vary: 9..11 packets in, 45..55 out, hundreds of byte counts.
  CHECK(distinct["bytes_in"].size() > 50);
  CHECK(distinct["bytes_out"].size() > 50);
  CHECK(distinct["packets_in"].size() == 3);
  CHECK(distinct["packets_out"].size() >= 8);

  SECTION("jitter 0 gives the values as written") {
    const auto exact = load(with_metrics("bytes_in: 1000B, bytes_out: 5000B, packets_in: 10, packets_out: 50, jitter: 0"));
    const auto n = report(exact, Knobs{}, ignored)["metrics"]["network_stats"];
    CHECK(n == json{{"bytes_in", 1000}, {"bytes_out", 5000}, {"packets_in", 10}, {"packets_out", 50}});
  }
  SECTION("explicit and auto mix per field") {
    const auto mixed = load(with_metrics("bytes_out: 5000B, jitter: 0"));
    const auto n = report(mixed, Knobs{}, TrafficCounters{1, 2, 3, 4})["metrics"]["network_stats"];
    CHECK(n == json{{"bytes_in", 2}, {"bytes_out", 5000}, {"packets_in", 4}, {"packets_out", 3}});
  }
}

TEST_CASE("device_report: extra listening ports and connections from the knobs, with correct totals") {
  const auto s = load(with_anomalies({anomaly("device-listening-ports", "3"),
                                      anomaly("device-listening-ports", "2", ", mode: udp"),
                                      anomaly("device-connections", "5")},
                                     with_metrics("listening_tcp_ports: [22, 443], listening_udp_ports: [53]")));
  const auto m = report(s, knobs_of(s))["metrics"];
  CHECK(ports_of(m["listening_tcp_ports"]) == std::vector<int>{22, 443, 31337, 31338, 31339});
  CHECK(m["listening_tcp_ports"]["total"] == 5);
  CHECK(ports_of(m["listening_udp_ports"]) == std::vector<int>{53, 31337, 31338});
  CHECK(m["listening_udp_ports"]["total"] == 3);

  const auto& est = m["tcp_connections"]["established_connections"];
  CHECK(est["total"] == 6);
  REQUIRE(est["connections"].size() == 6);
  std::set<std::string> remotes;
  for (const auto& c : est["connections"]) remotes.insert(c["remote_addr"].get<std::string>());
  CHECK(remotes.size() == 6);  // distinct peers, as destination-ip-addresses expects

  SECTION("without device-side anomalies the report is the baseline") {
    const auto b = report(s, Knobs{})["metrics"];
    CHECK(b["listening_tcp_ports"]["total"] == 2);
    CHECK(b["listening_udp_ports"]["total"] == 1);
    CHECK(b["tcp_connections"]["established_connections"]["total"] == 1);
  }
}

TEST_CASE("device_report: device-bytes-out scales bytes and packets out") {
  const TrafficCounters c{1000, 300, 10, 4};
  SECTION("a multiplier") {
    const auto s = load(with_anomalies({anomaly("device-bytes-out", "x10")}));
    const auto n = report(s, knobs_of(s), c)["metrics"]["network_stats"];
    CHECK(n["bytes_out"] == 10000);
    CHECK(n["packets_out"] == 100);
    CHECK(n["bytes_in"] == 300);  // inbound untouched
    CHECK(n["packets_in"] == 4);
  }
  SECTION("an absolute size sets bytes and scales packets in proportion") {
    const auto s = load(with_anomalies({anomaly("device-bytes-out", "1MiB")}));
    const auto n = report(s, knobs_of(s), c)["metrics"]["network_stats"];
    CHECK(n["bytes_out"] == 1048576);
    CHECK(n["packets_out"] == 10486);  // 10 × 1048576 / 1000, rounded
    CHECK(n["bytes_in"] == 300);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// denied_topic

TEST_CASE("denied_topic: an explicit template, else the neighbour's own topic") {
  SECTION("an explicit template is filled in with the thing itself") {
    const auto s = load(with_anomalies({anomaly("authorization-failures", "6/min", ", topic: 'secret/{thing}/x'")}));
    const auto k = knobs_of(s);
    CHECK(denied_topic(s.fleet[0], k, "s-01", "s-02", false) == "secret/s-01/x");
    CHECK(denied_topic(s.fleet[0], k, "s-01", "s-02", true) == "secret/s-01/x");
  }
  SECTION("without one: publish to the neighbour's telemetry, subscribe to its commands") {
    const auto s = load(with_anomalies({anomaly("authorization-failures", "6/min", ", mode: both")}));
    const auto k = knobs_of(s);
    CHECK(denied_topic(s.fleet[0], k, "s-01", "s-02", false) == "dt/s-02/t");
    CHECK(denied_topic(s.fleet[0], k, "s-01", "s-02", true) == "cmd/s-02");
  }
  SECTION("a group that receives nothing subscribes to the neighbour's telemetry") {
    const auto s = load(with_anomalies({anomaly("authorization-failures", "6/min", ", mode: subscribe")},
                                       replaced(minimal_scenario(), "      receive: {topic: commands, rate: 1/min}\n", "")));
    CHECK(denied_topic(s.fleet[0], knobs_of(s), "s-01", "s-02", true) == "dt/s-02/t");
  }
}

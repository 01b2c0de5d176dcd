#include "sim/local/metrics.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace fleetsim;
using namespace fleetsim::local;
using nlohmann::json;

namespace {

constexpr EpochMillis t0 = 1'700'000'100'000;  // a multiple of 5 minutes
constexpr std::int64_t five_min = 300'000;

ConnectionIdentity who(const std::string& id, const std::string& ip = "127.0.0.1") { return {id, "", ip}; }

std::uint64_t count(const ClosedWindow& w, const std::string& thing, const std::string& metric) {
  return static_cast<std::uint64_t>(w.things.at(thing).at(metric).scalar);
}

json report(std::uint64_t bytes_out, std::vector<int> tcp, std::vector<std::string> remotes) {
  json ports = json::array(), conns = json::array();
  for (int p : tcp) ports.push_back({{"port", p}, {"interface", "eth0"}});
  for (const auto& r : remotes) conns.push_back({{"remote_addr", r}, {"local_port", 40000}, {"local_interface", "eth0"}});
  return json{{"header", {{"report_id", 1}, {"version", "1.0"}}},
              {"metrics",
               {{"network_stats", {{"bytes_out", bytes_out}, {"bytes_in", 10}, {"packets_out", 3}, {"packets_in", 2}}},
                {"listening_tcp_ports", {{"ports", ports}, {"total", tcp.size()}}},
                {"tcp_connections", {{"established_connections", {{"connections", conns}, {"total", remotes.size()}}}}}}}};
}

}  // namespace

TEST_CASE("MetricsRecorder counts the cloud-side metrics per thing and window", "[metrics]") {
  ManualClock clock(t0 + 1000);
  MetricsRecorder rec(clock, Millis(five_min));
  BrokerObserver& hooks = rec;

  hooks.on_connect_attempt(who("a", "10.0.0.7"), true);
  hooks.on_message_from_device(who("a"), "t", 100);
  hooks.on_message_from_device(who("a"), "t", 250);
  hooks.on_message_from_device(who("a"), "t", 80);
  hooks.on_message_to_device(who("a"), "c", 10);
  hooks.on_message_to_device(who("a"), "c", 10);
  hooks.on_authorization_failure(who("a"), "iot:Publish", "x");
  hooks.on_connect_attempt(who("b"), false);  // refused, still an attempt

  clock.set(t0 + five_min - 1);
  CHECK(rec.close_windows(clock.now()).empty());  // the first window has not ended
  clock.set(t0 + five_min);
  auto closed = rec.close_windows(clock.now());
  REQUIRE(closed.size() == 1);
  const ClosedWindow& w1 = closed[0];
  CHECK(w1.start == t0);
  CHECK(w1.end == t0 + five_min);
  CHECK(count(w1, "a", "aws:num-messages-sent") == 3);
  CHECK(count(w1, "a", "aws:num-messages-received") == 2);
  CHECK(count(w1, "a", "aws:num-authorization-failures") == 1);
  CHECK(count(w1, "a", "aws:num-connection-attempts") == 1);
  CHECK(count(w1, "a", "aws:num-disconnects") == 0);
  CHECK(count(w1, "a", "aws:message-byte-size") == 250);  // the largest message of the window
  CHECK(w1.things.at("a").at("aws:source-ip-address").to_json() == json{{"cidrs", {"10.0.0.7"}}});
  CHECK(count(w1, "b", "aws:num-connection-attempts") == 1);
  CHECK(count(w1, "b", "aws:num-messages-sent") == 0);
  CHECK_FALSE(w1.things.at("a").contains("aws:all-bytes-out"));  // no report, no device-side metrics

  // Two silent windows: "a" stays connected, so it has zero datapoints (silence is visible); "b" does not.
  clock.set(t0 + 3 * five_min + 5);
  closed = rec.close_windows(clock.now());
  REQUIRE(closed.size() == 2);
  for (const auto& w : closed) {
    CHECK(w.things.size() == 1);
    CHECK(count(w, "a", "aws:num-messages-sent") == 0);
    CHECK(count(w, "a", "aws:num-connection-attempts") == 0);
    CHECK_FALSE(w.things.at("a").contains("aws:message-byte-size"));
  }
  CHECK(closed[1].start == t0 + 2 * five_min);

  // A disconnect in window 4; window 5 then has nothing for "a".
  hooks.on_disconnect(who("a"), DisconnectReason::client_initiated);
  clock.set(t0 + 5 * five_min);
  closed = rec.close_windows(clock.now());
  REQUIRE(closed.size() == 2);
  CHECK(count(closed[0], "a", "aws:num-disconnects") == 1);
  CHECK(closed[1].things.empty());
}

TEST_CASE("A thing that connects late and stays silent gets zeros only from its connect on", "[metrics]") {
  ManualClock clock(t0);
  MetricsRecorder rec(clock, Millis(five_min));
  clock.set(t0 + 2 * five_min + 10);
  rec.on_connect_attempt(who("late"), true);
  clock.set(t0 + 4 * five_min);
  auto closed = rec.close_windows(clock.now());
  REQUIRE(closed.size() == 4);
  CHECK(closed[0].things.empty());
  CHECK(closed[1].things.empty());
  CHECK(count(closed[2], "late", "aws:num-connection-attempts") == 1);
  CHECK(count(closed[3], "late", "aws:num-messages-sent") == 0);
  CHECK(count(closed[3], "late", "aws:num-connection-attempts") == 0);
}

TEST_CASE("Device-side metrics come from the window's accepted reports", "[metrics]") {
  ManualClock clock(t0);
  MetricsRecorder rec(clock, Millis(five_min));
  rec.on_device_report("dev", report(1000, {22, 443}, {"10.0.0.1:443", "10.0.0.2:443"}));
  clock.advance(Millis(60'000));
  rec.on_device_report("dev", report(500, {22, 443, 31337}, {"10.0.0.3:8883", "[fe80::1]:443"}));
  clock.set(t0 + five_min);
  auto closed = rec.close_windows(clock.now());
  REQUIRE(closed.size() == 1);
  const auto& m = closed[0].things.at("dev");
  CHECK(m.at("aws:all-bytes-out").scalar == 1500);  // deltas summed
  CHECK(m.at("aws:all-bytes-in").scalar == 20);
  CHECK(m.at("aws:all-packets-out").scalar == 6);
  CHECK(m.at("aws:num-listening-tcp-ports").scalar == 3);  // the last report's total
  CHECK(m.at("aws:num-established-tcp-connections").scalar == 2);
  CHECK(m.at("aws:listening-tcp-ports").to_json() == json{{"ports", {22, 443, 31337}}});
  CHECK(m.at("aws:destination-ip-addresses").to_json() == json{{"cidrs", {"10.0.0.3", "fe80::1"}}});
  CHECK_FALSE(m.contains("aws:num-messages-sent"));  // never connected under this name

  // Short member names are read too.
  rec.on_device_report("dev", json{{"hed", {{"rid", 2}, {"v", "1.0"}}},
                                   {"met", {{"ns", {{"bo", 7}, {"bi", 1}, {"po", 1}, {"pi", 1}}},
                                            {"tp", {{"pts", {{{"pt", 80}}}}, {"t", 1}}}}}});
  clock.set(t0 + 2 * five_min);
  closed = rec.close_windows(clock.now());
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].things.at("dev").at("aws:all-bytes-out").scalar == 7);
  CHECK(closed[0].things.at("dev").at("aws:listening-tcp-ports").ports == std::vector<int>{80});
}

TEST_CASE("ListMetricValues returns retained datapoints newest first", "[metrics]") {
  ManualClock clock(t0);
  MetricsRecorder rec(clock, Millis(five_min), Millis(3 * five_min));
  rec.on_connect_attempt(who("a"), true);
  for (int w = 0; w < 6; ++w) {
    clock.set(t0 + w * five_min + 1);
    for (int i = 0; i <= w; ++i) rec.on_message_from_device(who("a"), "t", 10);
    rec.close_windows(clock.now());
  }
  clock.set(t0 + 6 * five_min);
  rec.close_windows(clock.now());
  auto values = rec.metric_values("a", "aws:num-messages-sent", 0, t0 + 100 * five_min);
  REQUIRE(values.size() == 4);  // retention: 3 windows back from now, plus the window that straddles it
  CHECK(values[0].timestamp == t0 + 6 * five_min);
  CHECK(values[0].value.to_json() == json{{"count", 6}});
  CHECK(values[3].value.scalar == 3);
  auto ranged = rec.metric_values("a", "aws:num-messages-sent", t0 + 4 * five_min, t0 + 5 * five_min);
  REQUIRE(ranged.size() == 2);
  CHECK(ranged[0].value.scalar == 5);
  CHECK(rec.metric_values("a", "aws:not-a-metric", 0, t0 * 2).empty());
  CHECK(rec.metric_values("nobody", "aws:num-messages-sent", 0, t0 * 2).empty());
}

TEST_CASE("MetricValue has AWS's shapes", "[metrics]") {
  CHECK(MetricValue::count(5).to_json() == json{{"count", 5}});
  CHECK(MetricValue::number(1.5).to_json() == json{{"number", 1.5}});
  CHECK(MetricValue::port_set({443, 22, 22}).to_json() == json{{"ports", {22, 443}}});
  CHECK(MetricValue::cidr_set({"10.0.0.2", "10.0.0.1"}).to_json() == json{{"cidrs", {"10.0.0.1", "10.0.0.2"}}});
  auto s = MetricValue::from_json(json{{"strings", {"b", "a"}}});
  REQUIRE(s);
  CHECK(s->to_json() == json{{"strings", {"a", "b"}}});
  CHECK(MetricValue::from_json(json{{"numbers", {1.0, 2.0}}})->to_json() == json{{"numbers", {1.0, 2.0}}});
  CHECK_FALSE(MetricValue::from_json(json::object()));
}

TEST_CASE("MetricsRecorder hot path cost", "[metrics][.bench]") {
  SystemClock clock;
  MetricsRecorder rec(clock, Millis(five_min));
  std::vector<ConnectionIdentity> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(who("qs-sensor-" + std::to_string(i)));
  for (auto& id : ids) rec.on_connect_attempt(id, true);
  constexpr int per_thread = 2'000'000;
  for (int threads : {1, 2}) {
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) rec.on_message_from_device(ids[(i * 7 + t * 13) % ids.size()], "dt/x", 300);
      });
    for (auto& th : pool) th.join();
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    std::printf("on_message_from_device: %d thread(s), %.1f ns/call wall, %.1f ns/call per thread\n", threads,
                ns / (double(per_thread) * threads), ns / per_thread);
  }
  CHECK(true);
}

// The fleet engine against a real mosquitto on loopback, watched from the broker side by Paho and the
// broker's own log: traffic as the scenario says, every anomaly kind as real traffic, reconnects after a
// broker restart, clean stops and a ledger that survives kill -9.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "sim/ledger/ledger.hpp"
#include "tests/support/mosquitto.hpp"
#include "tests/support/observer.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::test;
using namespace std::chrono_literals;

namespace {

// Things may use only their own topics; the controller sends commands; the observer reads everything.
const char* acl = R"(pattern write dt/%u/#
pattern read cmd/%u
pattern write $aws/things/%u/defender/metrics/json
pattern read $aws/things/%u/defender/metrics/json/#
user fleetsim-controller
topic write cmd/#
user observer
topic read #
topic read $aws/#
)";

std::string scenario_text(const std::string& name, int things, const std::string& anomalies, const std::string& duration,
                          const std::string& start = "now") {
  return "version: 1\nname: " + name + "\nseed: 5\nclock: {time_scale: 60, start: " + start + ", duration: " + duration +
         "}\n"
         "connection: {ramp: 1000/s, keep_alive: 30s, backoff_initial: 100ms, backoff_max: 500ms}\n"
         "fleet:\n  - group: dev\n    count: " + std::to_string(things) + "\n    thing_name: t-{index:02}\n"
         "    topics: {telemetry: 'dt/{thing}/telemetry', commands: 'cmd/{thing}'}\n"
         "    baseline:\n"
         "      publish: {topic: telemetry, rate: 12/min, jitter: 10%, qos: 1, payload: 300B}\n"
         "      receive: {topic: commands, rate: 2/min, payload: 100B}\n"
         "      device_metrics: {every: 5m, bytes_out: 10KiB, packets_out: 100, listening_tcp_ports: [22], established_connections: 2}\n" +
         (anomalies.empty() ? "" : "anomalies:\n" + anomalies);
}

struct Run {
  TempDir dir;
  std::string scenario, certs, out;
  Run(const Mosquitto& broker, const std::string& text, const std::vector<std::string>& things) {
    scenario = dir.write("scenario.yaml", text);
    certs = dir.path() + "/certs";
    out = dir.path() + "/run";
    std::filesystem::create_directories(certs);
    for (const auto& t : things) broker.issue_client(certs, t);
    broker.issue_client(certs, "fleetsim-controller");
    broker.issue_client(certs, "observer");
  }
  std::vector<std::string> args(const Mosquitto& broker, const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> a{FLEETSIM_BINARY, "run", scenario, "--target", broker.url(), "--certs", certs,
                               "--ca", broker.ca_file(), "--out", out, "--workers", "2"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::unique_ptr<Observer> observe(const Mosquitto& broker) const {
    return std::make_unique<Observer>("127.0.0.1:" + std::to_string(broker.port()),
                                      std::vector<std::string>{"dt/#", "cmd/#", "$aws/things/+/defender/metrics/json"},
                                      broker.ca_file(), certs + "/observer.pem", certs + "/observer.key");
  }
  ledger::Ledger ledger() const {
    auto l = ledger::read_ledger(out + "/ledger.jsonl");
    REQUIRE(l.has_value());
    return *l;
  }
  nlohmann::json stats() const { return nlohmann::json::parse(read_text(out + "/stats.json")); }
};

std::vector<std::string> names(int n) {
  std::vector<std::string> v;
  for (int i = 1; i <= n; ++i) v.push_back((i < 10 ? "t-0" : "t-") + std::to_string(i));
  return v;
}

// Scenario time of a wall-clock arrival (the run started at the header's start with the given scale).
double scenario_ms(const ledger::Ledger& l, std::int64_t wall_ms) {
  return double(l.header->start_ms) + double(wall_ms - l.header->start_ms) * l.header->time_scale;
}

// Messages on `topic` whose arrival falls inside [from, to] in scenario time.
std::size_t count_in(const std::vector<Observed>& seen, const ledger::Ledger& l, const std::string& topic, double from,
                     double to) {
  return std::count_if(seen.begin(), seen.end(), [&](const Observed& o) {
    double s = scenario_ms(l, o.wall_ms);
    return o.topic == topic && s >= from && s <= to;
  });
}

const ledger::Window& window_of(const ledger::Ledger& l, const std::string& anomaly) {
  for (const auto& w : l.windows)
    if (w.anomaly == anomaly) return w;
  FAIL("no window for " << anomaly);
  throw;
}

}  // namespace

TEST_CASE("mutual TLS fleet delivers the scenario's traffic, seen from the broker side", "[mosquitto]") {
  TempDir broker_dir;
  Mosquitto broker(broker_dir.path(), {.tls = true, .acl = acl});
  Run run(broker, scenario_text("baseline", 6, "", "3m"), names(6));
  auto observer = run.observe(broker);
  auto r = run_process(run.args(broker), 60s);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto seen = observer->snapshot();
  auto l = run.ledger();
  CHECK(l.run_end.has_value());
  CHECK(l.header->scenario.name == "baseline");
  // 12/min for 3 scenario minutes: about 36 per thing (the first publish comes within one interval).
  for (const auto& t : names(6)) {
    auto n = count_in(seen, l, "dt/" + t + "/telemetry", -1e18, 1e18);
    INFO(t << " published " << n);
    CHECK(n >= 28);
    CHECK(n <= 40);
    CHECK(count_in(seen, l, "cmd/" + t, -1e18, 1e18) >= 3);  // commands at 2/min reached the thing's topic
  }
  auto stats = run.stats();
  CHECK(stats["achieved"]["connected"] == 6);
  CHECK(stats["stats"]["messages"]["acked"] == stats["stats"]["messages"]["published_qos1"]);
  CHECK(stats["stats"]["connections"]["failed_tls"] == 0);
  // Each thing connected once, with its thing name as client id, and the broker took its certificate's CN.
  auto log = broker.log();
  for (const auto& t : names(6)) CHECK(log.find("as " + t + " (") != std::string::npos);
  CHECK(r.err.find("Capacity summary") != std::string::npos);
}

TEST_CASE("every anomaly kind produces its traffic", "[mosquitto]") {
  TempDir broker_dir;
  Mosquitto broker(broker_dir.path(), {.tls = true, .acl = acl});
  std::string anomalies =
      "  - {name: flood, kind: message-flood, things: {names: [t-01]}, start: 3m, duration: 4m, strength: x10}\n"
      "  - {name: fat, kind: payload-inflation, things: {names: [t-02]}, start: 3m, duration: 4m, strength: 8KiB}\n"
      "  - {name: commands, kind: receive-flood, things: {names: [t-03]}, start: 3m, duration: 4m, strength: x20}\n"
      "  - {name: probe, kind: authorization-failures, things: {names: [t-04]}, start: 3m, duration: 4m, strength: 30/min}\n"
      "  - {name: flap, kind: reconnect-storm, things: {names: [t-05]}, start: 3m, duration: 4m, strength: 1/min}\n"
      "  - {name: quiet, kind: silence, things: {names: [t-06]}, start: 3m, duration: 4m}\n"
      "  - {name: exfil, kind: device-bytes-out, things: {names: [t-07]}, start: 1m, duration: 8m, strength: x30}\n"
      "  - {name: ports, kind: device-listening-ports, things: {names: [t-08]}, start: 1m, duration: 8m, strength: 3}\n"
      "  - {name: conns, kind: device-connections, things: {names: [t-09]}, start: 1m, duration: 8m, strength: 40}\n";
  Run run(broker, scenario_text("kinds", 10, anomalies, "10m"), names(10));
  auto observer = run.observe(broker);
  auto r = run_process(run.args(broker), 90s);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto seen = observer->snapshot();
  auto l = run.ledger();
  REQUIRE(l.windows.size() == 9);
  for (const auto& w : l.windows) CHECK(w.end_reason == ledger::EndReason::completed);
  // Rates inside each window (shrunk by 20 s of scenario time at each edge) against the same thing before it.
  auto inside = [&](const std::string& anomaly, const std::string& topic) {
    const auto& w = window_of(l, anomaly);
    return count_in(seen, l, topic, double(w.start_ms) + 20'000, double(*w.end_ms) - 20'000);
  };
  auto before = [&](const std::string& topic) { return count_in(seen, l, topic, double(l.header->start_ms) + 20'000, double(l.header->start_ms) + 160'000); };
  {  // one run, every kind checked on it
    INFO("message-flood"); CHECK(inside("flood", "dt/t-01/telemetry") > 5 * before("dt/t-01/telemetry") * 200 / 140); }
  {  // one run, every kind checked on it
    INFO("payload-inflation");
    const auto& w = window_of(l, "fat");
    for (const auto& o : seen)
      if (o.topic == "dt/t-02/telemetry") {
        double s = scenario_ms(l, o.wall_ms);
        if (s > double(w.start_ms) + 5'000 && s < double(*w.end_ms) - 5'000) CHECK(o.size == 8192);
        if (s < double(w.start_ms) - 5'000) CHECK(o.size == 300);
      }
  }
  {  // one run, every kind checked on it
    INFO("receive-flood"); CHECK(inside("commands", "cmd/t-03") > 8 * std::max<std::size_t>(1, before("cmd/t-03")) * 200 / 140); }
  {  // one run, every kind checked on it
    INFO("authorization-failures: denied by the broker, never delivered");
    // t-04 publishes to its neighbour t-05's topic; the ACL denies it and the broker logs the denial.
    std::regex denied("Denied PUBLISH from t-04 .*'dt/t-05/telemetry'");
    auto log = broker.log();
    auto begin = std::sregex_iterator(log.begin(), log.end(), denied);
    CHECK(std::distance(begin, std::sregex_iterator()) >= 60);  // 30/min for 4 minutes, minus edges
    CHECK(run.stats()["stats"]["messages"]["denied_attempts"].get<int>() >= 60);
  }
  {  // one run, every kind checked on it
    INFO("reconnect-storm: the broker sees the thing connect again and again");
    auto log = broker.log();
    std::regex connected("New client connected from .* as t-05 \\(");
    auto n = std::distance(std::sregex_iterator(log.begin(), log.end(), connected), std::sregex_iterator());
    CHECK(n >= 3);
    CHECK(run.stats()["stats"]["disconnects"]["planned"].get<int>() >= 2);
  }
  {  // one run, every kind checked on it
    INFO("silence");
    CHECK(inside("quiet", "dt/t-06/telemetry") == 0);
    CHECK(before("dt/t-06/telemetry") >= 20);
  }
  {  // one run, every kind checked on it
    INFO("device-side kinds change the device metric reports");
    auto reports = [&](const std::string& thing) {
      std::vector<nlohmann::json> out;
      for (const auto& o : seen)
        if (o.topic == "$aws/things/" + thing + "/defender/metrics/json") out.push_back(nlohmann::json::parse(o.payload));
      return out;
    };
    auto exfil = reports("t-07");
    REQUIRE_FALSE(exfil.empty());
    for (const auto& rep : exfil) CHECK(rep["metrics"]["network_stats"]["bytes_out"].get<double>() > 10240 * 30 * 0.85);
    auto ports = reports("t-08");
    REQUIRE_FALSE(ports.empty());
    for (const auto& rep : ports) CHECK(rep["metrics"]["listening_tcp_ports"]["total"] == 4);
    auto conns = reports("t-09");
    REQUIRE_FALSE(conns.empty());
    for (const auto& rep : conns) CHECK(rep["metrics"]["tcp_connections"]["established_connections"]["total"] == 42);
    auto normal = reports("t-10");
    REQUIRE_FALSE(normal.empty());
    CHECK(normal[0]["header"]["version"] == "1.0");
    CHECK(normal[0]["metrics"]["listening_tcp_ports"]["total"] == 1);
  }
}

TEST_CASE("things reconnect after a broker restart and the ledger loses nothing", "[mosquitto]") {
  TempDir broker_dir;
  Mosquitto broker(broker_dir.path(), {.tls = false});
  TempDir dir;
  auto scenario = dir.write("s.yaml", scenario_text("restart", 8,
      "  - {name: flood, kind: message-flood, things: {names: [t-01]}, start: 2m, duration: 10m}\n", "14m"));
  std::string out = dir.path() + "/run";
  ChildProcess fleet({FLEETSIM_BINARY, "run", scenario, "--target", broker.url(), "--out", out, "--workers", "2"},
                     dir.path());
  // Wait until every thing is publishing, then take the broker away for a moment.
  Observer first("127.0.0.1:" + std::to_string(broker.port()), {"dt/#"});
  REQUIRE(wait_until([&] {
    std::set<std::string> topics;
    for (const auto& o : first.snapshot()) topics.insert(o.topic);
    return topics.size() == 8;
  }, 20s));
  broker.stop();
  broker.start();
  Observer second("127.0.0.1:" + std::to_string(broker.port()), {"dt/#"});
  CHECK(wait_until([&] {
    std::set<std::string> topics;
    for (const auto& o : second.snapshot()) topics.insert(o.topic);
    return topics.size() == 8;
  }, 30s));
  auto r = fleet.wait(60s);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  auto stats = nlohmann::json::parse(read_text(out + "/stats.json"));
  CHECK(stats["achieved"]["connected"].get<int>() >= 16);
  CHECK(stats["stats"]["disconnects"]["by_peer"].get<int>() + stats["stats"]["disconnects"]["io"].get<int>() >= 8);
  auto l = ledger::read_ledger(out + "/ledger.jsonl");
  REQUIRE(l);
  CHECK(l->run_end.has_value());
  REQUIRE(l->windows.size() == 1);
  CHECK(l->windows[0].end_reason == ledger::EndReason::completed);
  for (const auto& issue : l->issues) CHECK(issue.severity != ledger::Issue::Severity::error);
}

TEST_CASE("SIGINT stops cleanly; kill -9 leaves a readable ledger", "[mosquitto]") {
  TempDir broker_dir;
  Mosquitto broker(broker_dir.path(), {.tls = false});
  TempDir dir;
  auto scenario = dir.write("s.yaml", scenario_text("stop", 4,
      "  - {name: long, kind: message-flood, things: {group: dev, count: 2}, start: 1m, duration: 1h}\n", "2h"));
  // Both occurrences have started (they start together, but are written one after the other).
  auto started = [&](const std::string& out) {
    auto text = read_text(out + "/ledger.jsonl");
    std::size_t n = 0;
    for (auto pos = text.find("\"anomaly_start\""); pos != std::string::npos; pos = text.find("\"anomaly_start\"", pos + 1)) ++n;
    return n == 2;
  };
  SECTION("SIGINT") {
    std::string out = dir.path() + "/int";
    ChildProcess fleet({FLEETSIM_BINARY, "run", scenario, "--target", broker.url(), "--out", out}, dir.path());
    REQUIRE(wait_until([&] { return started(out); }, 30s));
    fleet.signal(SIGINT);
    auto r = fleet.wait(20s);
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("stopping cleanly") != std::string::npos);
    auto l = ledger::read_ledger(out + "/ledger.jsonl");
    REQUIRE(l);
    REQUIRE(l->run_end.has_value());
    CHECK(l->run_end->reason == ledger::RunEndReason::stopped);
    REQUIRE(l->windows.size() == 2);
    for (const auto& w : l->windows) {
      CHECK(w.end_reason == ledger::EndReason::stopped);
      CHECK(*w.end_ms < w.planned_end_ms);  // the real end time, not the planned one
    }
    // Things said goodbye: the broker logged clean disconnects.
    CHECK(broker.log().find("Client t-01 disconnected.") != std::string::npos);
  }
  SECTION("kill -9") {
    std::string out = dir.path() + "/kill";
    ChildProcess fleet({FLEETSIM_BINARY, "run", scenario, "--target", broker.url(), "--out", out}, dir.path());
    REQUIRE(wait_until([&] { return started(out); }, 30s));
    fleet.signal(SIGKILL);
    fleet.wait(10s);
    auto l = ledger::read_ledger(out + "/ledger.jsonl");
    REQUIRE(l);
    REQUIRE(l->header.has_value());
    CHECK_FALSE(l->run_end.has_value());
    REQUIRE(l->windows.size() == 2);
    for (const auto& w : l->windows) CHECK(w.open());
    std::set<ledger::IssueKind> kinds;
    for (const auto& i : l->issues) kinds.insert(i.kind);
    CHECK(kinds.count(ledger::IssueKind::open_window));
    CHECK(kinds.count(ledger::IssueKind::missing_run_end));
    CHECK_FALSE(kinds.count(ledger::IssueKind::unparsable_line));
  }
}

TEST_CASE("TLS failures are reported, and the run exits 3", "[mosquitto]") {
  TempDir broker_dir;
  Mosquitto broker(broker_dir.path(), {.tls = true, .acl = acl});
  Run run(broker, scenario_text("badca", 2, "", "1m"), names(2));
  TempDir other;
  auto wrong_ca = pki::create_ca("another CA");
  REQUIRE(wrong_ca);
  auto wrong = other.path() + "/ca.pem";
  REQUIRE(pki::write_certificate(wrong, wrong_ca->certificate));
  auto args = run.args(broker);
  std::replace(args.begin(), args.end(), broker.ca_file(), wrong);
  auto r = run_process(args, 60s);
  INFO(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("no thing ever connected") != std::string::npos);
  auto stats = nlohmann::json::parse(read_text(run.out + "/stats.json"));
  CHECK(stats["stats"]["connections"]["failed_tls"].get<int>() >= 2);
  CHECK(stats["never_connected"]["count"] == stats["things"]);  // named, so reconcile leaves them unobserved
  CHECK(stats["never_connected"]["things"].size() == stats["things"].get<std::size_t>());
}

TEST_CASE("a thing without a certificate is bad input", "[mosquitto]") {
  TempDir broker_dir;
  Mosquitto broker(broker_dir.path(), {.tls = true});
  Run run(broker, scenario_text("nocert", 3, "", "1m"), names(2));  // t-03 has none
  auto r = run_process(run.args(broker), 30s);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no certificate for thing 't-03'") != std::string::npos);
}

namespace {
// One plain HTTP/1.1 GET on loopback; the whole response ("" when the connection fails).
std::string http_get(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    (void)!write(fd, request.data(), request.size());
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) response.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return response;
}
}  // namespace

TEST_CASE("the Prometheus endpoint shows the fleet while it runs", "[mosquitto]") {
  TempDir broker_dir;
  Mosquitto broker(broker_dir.path(), {.tls = false});
  TempDir dir;
  auto scenario = dir.write("s.yaml", scenario_text("metrics", 4, "", "2h"));
  ChildProcess fleet({FLEETSIM_BINARY, "run", scenario, "--target", broker.url(), "--out", dir.path() + "/run",
                      "--metrics-port", "0"},
                     dir.path());
  int port = 0;
  REQUIRE(wait_until([&] {
    std::smatch m;
    std::regex url("metrics: http://127\\.0\\.0\\.1:([0-9]+)/metrics");
    for (int i = 1; i < 64 && port == 0; ++i) {
      auto text = read_text(dir.path() + "/child" + std::to_string(i) + ".err");
      if (std::regex_search(text, m, url)) port = std::stoi(m[1]);
    }
    return port != 0;
  }, 20s));
  std::string body;
  CHECK(wait_until([&] {
    body = http_get(port, "/metrics");
    return body.find("fleetsim_things_connected 4") != std::string::npos &&
           body.find("fleetsim_publishes_total{qos=\"1\"} 0") == std::string::npos;
  }, 20s));
  CHECK(body.find("HTTP/1.1 200 OK") == 0);
  CHECK(body.find("# TYPE fleetsim_qos1_ack_seconds histogram") != std::string::npos);
  CHECK(body.find("fleetsim_qos1_ack_seconds_bucket{le=\"+Inf\"}") != std::string::npos);
  CHECK(http_get(port, "/other").find("404") != std::string::npos);
  fleet.signal(SIGTERM);
  CHECK(fleet.wait(20s).exit_code == 0);
}

TEST_CASE("two shards run disjoint halves of one fleet, each with its own ledger", "[mosquitto]") {
  TempDir broker_dir;
  Mosquitto broker(broker_dir.path(), {.tls = false});
  TempDir dir;
  // Shards share an absolute start (a moment from now), so they run one fleet on one clock.
  auto start = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch() + std::chrono::seconds(2));
  auto scenario = dir.write("s.yaml", scenario_text("shards", 6,
      "  - {name: flood, kind: message-flood, things: {names: [t-01, t-02]}, start: 30s, duration: 1m}\n", "2m",
      format_rfc3339(start.count())));
  Observer observer("127.0.0.1:" + std::to_string(broker.port()), {"dt/#"});
  ChildProcess a({FLEETSIM_BINARY, "run", scenario, "--target", broker.url(), "--out", dir.path() + "/a", "--shard", "0/2"}, dir.path());
  ChildProcess b({FLEETSIM_BINARY, "run", scenario, "--target", broker.url(), "--out", dir.path() + "/b", "--shard", "1/2"}, dir.path());
  CHECK(a.wait(30s).exit_code == 0);
  CHECK(b.wait(30s).exit_code == 0);
  std::set<std::string> topics;
  for (const auto& o : observer.snapshot()) topics.insert(o.topic);
  CHECK(topics.size() == 6);
  auto la = ledger::read_ledger(dir.path() + "/a/ledger-shard-0-of-2.jsonl");
  auto lb = ledger::read_ledger(dir.path() + "/b/ledger-shard-1-of-2.jsonl");
  REQUIRE(la);
  REQUIRE(lb);
  CHECK(la->header->shard.to_string() == "0/2");
  CHECK(lb->header->shard.to_string() == "1/2");
  // t-01 is global index 0 (shard 0), t-02 index 1 (shard 1).
  REQUIRE(la->windows.size() == 1);
  REQUIRE(lb->windows.size() == 1);
  CHECK(la->windows[0].thing == "t-01");
  CHECK(lb->windows[0].thing == "t-02");
  auto merged = ledger::merge_ledgers({*la, *lb});
  CHECK(merged.windows.size() == 2);
  for (const auto& issue : merged.issues) CHECK(issue.severity != ledger::Issue::Severity::error);
}

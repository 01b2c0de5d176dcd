#include "sim/scenario/loader.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/scenario/scenario_text.hpp"

using namespace fleetsim;
using namespace fleetsim::scenario;
using fleetsim::test::minimal_scenario;

namespace {

LoadResult load(const std::string& text) {
  auto r = load_scenario_text(text, "t.yaml");
  if (r.ok()) check_scenario(*r.scenario, r.diagnostics);
  return r;
}

// The first error, for asserting its position and message.
Diagnostic first_error(const LoadResult& r) {
  for (const auto& d : r.diagnostics)
    if (d.severity == Diagnostic::Severity::error) return d;
  FAIL("expected an error");
  return {};
}

// Replaces the one occurrence of `from` in `text`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

bool has_warning(const LoadResult& r, const std::string& part) {
  for (const auto& d : r.diagnostics)
    if (d.severity == Diagnostic::Severity::warning && d.message.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("the minimal scenario loads into the typed model") {
  auto r = load(minimal_scenario());
  INFO((r.diagnostics.empty() ? "" : format_diagnostic(r.diagnostics.front())));
  REQUIRE(r.ok());
  const auto& s = *r.scenario;
  CHECK(s.name == "tiny");
  CHECK(s.seed == 7);
  CHECK(s.clock.time_scale == 60);
  CHECK(s.clock.duration == Millis(3 * 3'600'000));
  CHECK_FALSE(s.clock.start.has_value());
  REQUIRE(s.fleet.size() == 1);
  const auto& g = s.fleet[0];
  CHECK(g.count == 10);
  CHECK(g.name_of(3) == "s-03");
  CHECK(g.thing_group == "sensors");  // defaults to the group's name
  CHECK(g.topic_for("telemetry", "s-03") == "dt/s-03/t");
  CHECK(g.baseline.publish.rate.per_second == Approx(0.2));
  CHECK(g.baseline.publish.payload.mean() == 256);
  CHECK(g.baseline.device_metrics.enabled);
  CHECK(g.baseline.device_metrics.listening_tcp_ports == std::vector<int>{22});
  CHECK(s.target.kind == Target::Kind::local);
  CHECK(s.sha256.size() == 64);
}

TEST_CASE("an unknown key is an error at its position with a did-you-mean") {
  auto text = minimal_scenario();
  text = replaced(text, "rate: 12/min", "rat");
  auto r = load(text);
  REQUIRE_FALSE(r.ok());
  const auto& d = first_error(r);
  CHECK(d.where.file == "t.yaml");
  CHECK(d.where.line == 11);
  CHECK(d.where.column == 35);
  CHECK(d.message == "unknown key 'rat' in fleet group 'sensors'.baseline.publish");
  CHECK(d.hint.find("did you mean 'rate'?") == 0);
  // The missing key is reported too, in the same run.
  bool missing = false;
  for (const auto& x : r.diagnostics) missing |= x.message.find("missing key 'rate'") != std::string::npos;
  CHECK(missing);
}

TEST_CASE("a wrong unit names the accepted units and the position of the value") {
  auto text = minimal_scenario();
  text = replaced(text, "12/min", "12/mn");
  auto r = load(text);
  const auto& d = first_error(r);
  CHECK(d.where.line == 11);
  CHECK(d.where.column == 41);
  CHECK(d.message.find("unknown rate unit 'mn'") != std::string::npos);
  CHECK(d.message.find("/min") != std::string::npos);
}

TEST_CASE("wrong types say what was expected") {
  SECTION("a list where a number goes") {
    auto text = minimal_scenario();
    text = replaced(text, "count: 10", "count: [10]");
    const auto& d = first_error(load(text));
    CHECK(d.where.line == 7);
    CHECK(d.message == "fleet group 'sensors'.count must be a whole number, not a list");
  }
  SECTION("a scalar where a mapping goes") {
    auto text = minimal_scenario();
    text = replaced(text, "clock: {time_scale: 60, duration: 3h}", "clock: fast");
    const auto& d = first_error(load(text));
    CHECK(d.where.line == 4);
    CHECK(d.message.find("clock must be a mapping") == 0);
  }
  SECTION("a boolean spelled yes") {
    auto r = load(minimal_scenario("anomalies:\n  - {name: a, kind: message-flood, things: {group: sensors, count: 1, rotate: yes}, start: 1h, duration: 10m}\n"));
    CHECK(first_error(r).message.find("'yes' is not a boolean") != std::string::npos);
  }
}

TEST_CASE("huge numbers are out-of-range errors, not overflows") {
  auto text = minimal_scenario();
  text = replaced(text, "count: 10", "count: 99999999999999999999999999");
  const auto& d = first_error(load(text));
  CHECK(d.message.find("too large") != std::string::npos);
  text = minimal_scenario();
  text = replaced(text, "count: 10", "count: 5000000");
  CHECK(first_error(load(text)).hint == "it must be between 1 and 1000000");
}

TEST_CASE("duplicate keys are errors") {
  auto r = load(minimal_scenario("seed: 8\n"));
  const auto& d = first_error(r);
  CHECK(d.message == "duplicate key 'seed' in the scenario");
  CHECK(d.where.line == 14);
}

TEST_CASE("YAML syntax errors carry the parser's position") {
  auto r = load("version: 1\nname: [unclosed\n");
  REQUIRE_FALSE(r.ok());
  const auto& d = first_error(r);
  CHECK(d.message.find("not valid YAML") == 0);
  CHECK(d.where.line >= 2);
}

TEST_CASE("the clock accepts now, RFC 3339 and until-stopped") {
  auto text = minimal_scenario();
  text = replaced(text, "clock: {time_scale: 60, duration: 3h}", "clock: {time_scale: 1, start: 2026-12-05T02:00:00Z, duration: until-stopped}");
  auto r = load(text);
  REQUIRE(r.ok());
  CHECK(*r.scenario->clock.start == 1796436000000);
  CHECK_FALSE(r.scenario->clock.duration.has_value());
}

TEST_CASE("targets: scalar forms, a mapping, and errors") {
  CHECK(parse_target("aws")->kind == Target::Kind::aws);
  auto m = parse_target("mqtts://broker.example:8884");
  REQUIRE(m);
  CHECK(m->host == "broker.example");
  CHECK(m->port == 8884);
  CHECK(m->tls);
  CHECK(parse_target("mqtt://[::1]")->port == 1883);
  CHECK(parse_target("mqtt://[::1]")->host == "::1");
  CHECK_FALSE(parse_target("http://x"));
  CHECK_FALSE(parse_target("mqtt://host:70000"));
  CHECK_FALSE(parse_target("mqtt://:1883"));
  auto r = load(minimal_scenario("target: {url: 'mqtts://127.0.0.1:8883', ca_file: ca.pem, verify_peer: false}\n"));
  REQUIRE(r.ok());
  CHECK(r.scenario->target.ca_file == "ca.pem");
  CHECK_FALSE(r.scenario->target.verify_peer);
  CHECK(has_warning(r, "peer verification is off"));
}

TEST_CASE("rules for an AWS target") {
  SECTION("time_scale above 1") {
    auto r = load(minimal_scenario("target: aws\n"));
    CHECK(first_error(r).message.find("time_scale is 60 but the target is AWS") == 0);
  }
  SECTION("device reports more often than every 5 minutes, on any target") {
    auto text = minimal_scenario();
    text = replaced(text, "every: 5m", "every: 1m");
    CHECK(first_error(load(text)).message.find("at most one report every 5m") != std::string::npos);
  }
  SECTION("a thing name AWS rejects") {
    auto text = minimal_scenario();
    text = replaced(text, "s-{index:02}", "s {index:02}");
    CHECK(first_error(load(text)).message.find("makes thing name 's 01', which AWS rejects") != std::string::npos);
  }
  SECTION("the fixed per-connection quota") {
    auto text = minimal_scenario("connection: {publishes_per_connection: 200/s}\n");
    text = replaced(text, "time_scale: 60", "time_scale: 1");
    auto r = load(text + "target: aws\n");
    CHECK(first_error(r).message.find("cannot be raised") != std::string::npos);
  }
  SECTION("the account connect rate needs account_quota_raised") {
    auto text = minimal_scenario("connection: {account_connects: 1000/s}\ntarget: aws\n");
    text = replaced(text, "time_scale: 60", "time_scale: 1");
    CHECK(first_error(load(text)).hint.find("account_quota_raised: true") != std::string::npos);
    text = replaced(text, "1000/s}", "1000/s, account_quota_raised: true}");
    CHECK(load(text).ok());
  }
}

TEST_CASE("behaviors are checked against the AWS Behavior shape") {
  auto profile = [](const std::string& behaviors) {
    return minimal_scenario("security_profile:\n  name: p\n  targets: [sensors]\n  behaviors:\n" + behaviors);
  };
  SECTION("an ML behavior becomes the exact JSON CreateSecurityProfile sends") {
    auto r = load(profile(
        "    - name: sent\n      metric: aws:num-messages-sent\n      criteria: {consecutiveDatapointsToAlarm: 2, "
        "consecutiveDatapointsToClear: 1, mlDetectionConfig: {confidenceLevel: HIGH}}\n      suppressAlerts: true\n"));
    REQUIRE(r.ok());
    auto expected = nlohmann::json::parse(R"([{"name":"sent","metric":"aws:num-messages-sent","criteria":{
      "consecutiveDatapointsToAlarm":2,"consecutiveDatapointsToClear":1,"mlDetectionConfig":{"confidenceLevel":"HIGH"}},
      "suppressAlerts":true}])");
    CHECK(r.scenario->security_profile.behaviors == expected);
    CHECK(r.scenario->security_profile.summaries[0].datapoints_to_alarm == 2);
  }
  SECTION("a static rule with its value and duration") {
    auto r = load(profile("    - name: many\n      metric: aws:num-messages-sent\n      criteria: {comparisonOperator: "
                          "greater-than, value: {count: 500}, durationSeconds: 300}\n"));
    REQUIRE(r.ok());
    CHECK(r.scenario->security_profile.behaviors[0]["criteria"]["value"]["count"] == 500);
    CHECK(r.scenario->security_profile.summaries[0].type == BehaviorSummary::Type::static_rule);
  }
  SECTION("ML on a metric ML Detect does not support") {
    auto r = load(profile("    - name: ip\n      metric: aws:source-ip-address\n      criteria: {mlDetectionConfig: "
                          "{confidenceLevel: LOW}}\n"));
    CHECK(first_error(r).message.find("ML Detect does not support aws:source-ip-address") != std::string::npos);
  }
  SECTION("ML mixed with a rule's members") {
    auto r = load(profile("    - name: x\n      metric: aws:num-messages-sent\n      criteria: {comparisonOperator: "
                          "greater-than, mlDetectionConfig: {confidenceLevel: LOW}}\n"));
    CHECK(first_error(r).message.find("takes no comparisonOperator") != std::string::npos);
  }
  SECTION("a metric typo") {
    auto r = load(profile("    - name: x\n      metric: aws:num-message-sent\n      criteria: {mlDetectionConfig: "
                          "{confidenceLevel: LOW}}\n"));
    CHECK(first_error(r).hint == "did you mean 'aws:num-messages-sent'?");
  }
  SECTION("a confidence typo") {
    auto r = load(profile("    - name: x\n      metric: aws:num-messages-sent\n      criteria: {mlDetectionConfig: "
                          "{confidenceLevel: MEDIUN}}\n"));
    CHECK(first_error(r).hint.find("did you mean 'MEDIUM'?") == 0);
  }
  SECTION("consecutive datapoints out of range") {
    auto r = load(profile("    - name: x\n      metric: aws:num-messages-sent\n      criteria: {consecutiveDatapointsToAlarm: 11, mlDetectionConfig: "
                          "{confidenceLevel: LOW}}\n"));
    CHECK(first_error(r).hint == "it must be between 1 and 10");
  }
  SECTION("more than 100 behaviors") {
    std::string many;
    for (int i = 0; i < 101; ++i)
      many += "    - {name: b" + std::to_string(i) +
              ", metric: aws:num-messages-sent, criteria: {mlDetectionConfig: {confidenceLevel: LOW}}}\n";
    CHECK(first_error(load(profile(many))).message.find("AWS allows at most 100") != std::string::npos);
  }
  SECTION("a target that is not a thing group of the fleet") {
    auto text = profile("    - {name: b, metric: aws:num-messages-sent, criteria: {mlDetectionConfig: {confidenceLevel: LOW}}}\n");
    text = replaced(text, "targets: [sensors]", "targets: [sensor]");
    CHECK(first_error(load(text)).hint == "did you mean 'sensors'?");
  }
}

TEST_CASE("expectations") {
  auto r = load(minimal_scenario(
      "expect: {recall: 80%, recall_by_kind: {message-flood: 1.0}, time_to_detect: {p90: 15m, p50: 5m}, "
      "false_alarms_per_thing_day: 0.5, confidence: HIGH}\n"));
  REQUIRE(r.ok());
  const auto& e = r.scenario->expect;
  CHECK(*e.min_recall == Approx(0.8));
  CHECK(e.min_recall_by_kind.at(AnomalyKind::message_flood) == 1.0);
  CHECK(e.max_time_to_detect.at(90) == Millis(900'000));
  CHECK(e.max_time_to_detect.at(50) == Millis(300'000));
  CHECK(*e.max_false_alarms_per_thing_day == 0.5);
  CHECK(e.confidence == "HIGH");
  CHECK(first_error(load(minimal_scenario("expect: {time_to_detect: {q90: 1m}}\n"))).message.find("not a percentile") !=
        std::string::npos);
  CHECK(first_error(load(minimal_scenario("expect: {recall_by_kind: {mesage-flood: 1}}\n"))).hint ==
        "did you mean 'message-flood'?");
}

TEST_CASE("a second YAML document is not silently ignored") {
  auto r = load(minimal_scenario() + "---\nname: other\n");
  CHECK(first_error(r).message.find("second one") != std::string::npos);
}

TEST_CASE("an anomaly during the local detector's training is a warning") {
  auto r = load(minimal_scenario(
      "anomalies:\n  - {name: early, kind: message-flood, things: {group: sensors, count: 1}, start: 10m, duration: 15m}\n"));
  REQUIRE(r.ok());
  CHECK(has_warning(r, "still training"));
}

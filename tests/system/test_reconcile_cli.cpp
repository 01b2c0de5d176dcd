// fleetsim reconcile on a hand-built run directory: figures worked out here, the four reports agreeing
// with each other, the expect gate and --compare.
#include <catch2/catch.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "sim/core/time.hpp"

#include "tests/support/process.hpp"
#include "tests/unit/aws/fake_http_server.hpp"
#include "tests/system/reconcile_fixture.hpp"

using namespace fleetsim;
using namespace fleetsim::test;
using namespace fleetsim::test::reconcile_fixture;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("reconcile scores a run and gates on its expectations", "[reconcile-cli]") {
  TempDir dir;
  write_run(dir.path(), "{recall: 0.5, false_alarms_per_thing_day: 10, time_to_detect: {p50: 10m}}");
  // r-01 detected 5 minutes in; r-02 missed; r-03 alarms with no anomaly: a false alarm.
  auto violations = dir.write("v.jsonl", event("r-01", t0 + 65 * minute) + "\n" + event("r-03", t0 + 30 * minute) + "\n");
  dir.write("metrics.jsonl", metrics());
  auto r = run_fleetsim({"reconcile", dir.path(), "--violations", violations});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("anomalies 2, detected 1, recall 0.5 at MEDIUM") != std::string::npos);
  CHECK(r.out.find("report: " + dir.path() + "/report.html") != std::string::npos);
  auto report = nlohmann::json::parse(read_text(dir.path() + "/report.json"));
  CHECK(report["schema"] == 2);
  CHECK(report["recall"] == 0.5);
  CHECK(report["false_alarms"] == 1);
  CHECK(report["true_alarms"] == 1);
  CHECK(report["precision"] == 0.5);
  CHECK(report["time_to_detect_ms"]["p50"] == 5 * minute);
  // 4 things × 4 h = 16 thing-hours, minus 2 × (20 + 15) minutes of windows and grace.
  CHECK(report["clean_thing_days"].get<double>() == Approx((16.0 * 60 - 70) / (24 * 60)));
  CHECK(report["expectations_missed"].empty());
  CHECK(report["expectations"].size() == 3);
  // The events carry levels: MEDIUM events count at LOW and MEDIUM, not at HIGH.
  CHECK(report["by_confidence"]["LOW"]["recall"] == 0.5);
  CHECK(report["by_confidence"]["HIGH"]["recall"] == 0.0);
  // r-02's flood never showed in its metric (10 per window throughout): not delivered. r-01's moved.
  REQUIRE(report["windows"].size() == 2);
  CHECK(report["windows"][0]["verdict"] == "detected");
  CHECK(report["windows"][0]["metrics"]["aws:num-messages-sent"]["movement"] == "moved");
  CHECK(report["windows"][1]["verdict"] == "not_delivered");
  CHECK(report["delivery"]["not_delivered"] == 1);
  CHECK(report["nab"]["score"].is_number());
  CHECK(report["range_based"]["recall"].is_number());

  // report.md and junit.xml say the same.
  auto md = read_text(dir.path() + "/report.md");
  CHECK(md.find("**Recall 0.5** (1 of 2 anomalies at MEDIUM confidence)") != std::string::npos);
  CHECK(md.find("| `flood#0@r-02` | message-flood | not delivered |") != std::string::npos);
  CHECK(md.find("| recall | 0.5 | 0.5 | pass |") != std::string::npos);
  auto junit = read_text(dir.path() + "/junit.xml");
  CHECK(junit.find("<testsuites name=\"fleetsim rec\" tests=\"5\" failures=\"1\">") != std::string::npos);
  CHECK(count(junit, "<testcase ") == report["windows"].size() + report["expectations"].size());
  CHECK(count(junit, "<failure ") == 1);
  CHECK(junit.find("type=\"not_delivered\" message=\"flood#0@r-02 not delivered\"") != std::string::npos);
  CHECK(std::filesystem::file_size(dir.path() + "/report.html") > 2000);

  TempDir strict;
  write_run(strict.path(), "{recall: 1.0}");
  auto missed = run_fleetsim({"reconcile", strict.path(), "--violations", violations});
  CHECK(missed.exit_code == 1);
  CHECK(missed.out.find("MISSED: recall 0.5 < 1") != std::string::npos);
  auto strict_junit = read_text(strict.path() + "/junit.xml");
  CHECK(strict_junit.find("<testcase classname=\"expectations\" name=\"recall\">\n      <failure type=\"expectation\"") !=
        std::string::npos);

  auto bad = run_fleetsim({"reconcile", dir.path(), "--violations", dir.write("bad.jsonl", "{\"thingName\": 1}\n")});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("bad.jsonl") != std::string::npos);
}

TEST_CASE("reconcile --compare marks regressions and --fail-on-regression fails on them", "[reconcile-cli]") {
  TempDir before, after;
  write_run(before.path(), "{false_alarms_per_thing_day: 10}");
  write_run(after.path(), "{false_alarms_per_thing_day: 10}");
  // Before: both floods detected (5 and 10 minutes in), no false alarm. After: r-01 detected 15 minutes in,
  // r-02 missed, one false alarm on r-03. Default: violations.jsonl in the run directory (--violations local).
  before.write("violations.jsonl", event("r-01", t0 + 65 * minute) + "\n" + event("r-02", t0 + 130 * minute) + "\n");
  after.write("violations.jsonl", event("r-01", t0 + 75 * minute) + "\n" + event("r-03", t0 + 30 * minute) + "\n");
  REQUIRE(run_fleetsim({"reconcile", before.path()}).exit_code == 0);
  auto previous = before.path() + "/report.json";

  auto r = run_fleetsim({"reconcile", after.path(), "--compare", previous});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);  // marked, not failing
  CHECK(r.out.find("REGRESSION: recall 1 -> 0.5") != std::string::npos);
  CHECK(r.out.find("REGRESSION: recall[message-flood] 1 -> 0.5") != std::string::npos);
  CHECK(r.out.find("REGRESSION: false_alarms_per_thing_day 0 -> ") != std::string::npos);
  CHECK(r.out.find("message-flood             1/2       0.5     15m  REGRESSED (was 1)") != std::string::npos);
  auto report = nlohmann::json::parse(read_text(after.path() + "/report.json"));
  std::vector<std::string> figures;
  for (const auto& g : report["comparison"]["regressions"]) figures.push_back(g["figure"]);
  // p90 of {5m, 10m} was 10m; now 15m.
  CHECK(figures == std::vector<std::string>{"recall", "recall[message-flood]", "time_to_detect.p90", "false_alarms_per_thing_day"});
  CHECK(report["comparison"]["regressions"][2]["previous"] == 10 * minute);
  CHECK(report["comparison"]["regressions"][2]["current"] == 15 * minute);
  CHECK(read_text(after.path() + "/report.md").find("- **regression** time_to_detect.p90: 10m → 15m") != std::string::npos);
  auto junit = read_text(after.path() + "/junit.xml");
  CHECK(junit.find("<testsuite name=\"regressions\" tests=\"4\" failures=\"4\">") != std::string::npos);
  CHECK(read_text(after.path() + "/report.html").find("regression: time_to_detect.p90") != std::string::npos);

  auto failing = run_fleetsim({"reconcile", after.path(), "--compare", previous, "--fail-on-regression"});
  CHECK(failing.exit_code == 1);
  // Against itself nothing regressed.
  auto same = run_fleetsim({"reconcile", before.path(), "--compare", previous, "--fail-on-regression"});
  CHECK(same.exit_code == 0);
  CHECK(same.out.find("REGRESSION") == std::string::npos);
  auto missing = run_fleetsim({"reconcile", after.path(), "--compare", after.path() + "/nope.json"});
  CHECK(missing.exit_code == 2);
}

TEST_CASE("reconcile --violations aws: events, metric values and verification states through the IoT API", "[reconcile-cli]") {
  TempDir dir;
  write_run(dir.path(), "{recall: 0.5}");
  // r-01 detected (a true positive), r-02 missed, r-03 a false alarm. ListMetricValues: r-02 stays at 10.
  auto events = "{\"violationEvents\": [" + event("r-01", t0 + 65 * minute) + "," + event("r-03", t0 + 30 * minute) + "]}";
  nlohmann::json datums = nlohmann::json::array();
  for (int m = 5; m <= 240; m += 5)
    datums.push_back({{"timestamp", double(t0 + m * minute) / 1000.0}, {"value", {{"count", 10}}}});
  auto metric_values = nlohmann::json{{"metricDatumList", datums}}.dump();
  FakeHttpServer api([&](const FakeRequest& r) {
    if (r.target.starts_with("/violation-events")) return FakeResponse::json(events);
    if (r.target.starts_with("/metric-values")) return FakeResponse::json(metric_values);
    if (r.method == "POST" && r.target.starts_with("/violations/verification-state/")) return FakeResponse::json("{}");
    return FakeResponse::json(R"({"message":"unexpected"})", 400);
  });
  auto r = run_process({"/usr/bin/env", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret",
                        "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
                        FLEETSIM_BINARY, "reconcile", dir.path(), "--violations", "aws", "--security-profile-name", "p",
                        "--write-verification", "--endpoint-url", api.url(), "--region", "us-east-1"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("verification states written: 2") != std::string::npos);
  std::vector<std::string> verdicts;
  bool suppressed = false, metrics_of_r02 = false;
  for (const auto& q : api.requests()) {
    if (q.target.starts_with("/violation-events"))
      suppressed = q.target.find("listSuppressedAlerts=true") != std::string::npos &&
                   q.target.find("securityProfileName=p") != std::string::npos;
    if (q.target.starts_with("/metric-values") && q.target.find("thingName=r-02") != std::string::npos)
      metrics_of_r02 = q.target.find("metricName=aws%3Anum-messages-sent") != std::string::npos;
    if (q.method == "POST")
      verdicts.push_back(q.target.substr(q.target.rfind('/') + 1) + " " +
                         nlohmann::json::parse(q.body)["verificationState"].get<std::string>());
  }
  CHECK(suppressed);
  CHECK(metrics_of_r02);
  CHECK(verdicts == std::vector<std::string>{"v-r-01-" + std::to_string(t0 + 65 * minute) + " TRUE_POSITIVE",
                                             "v-r-03-" + std::to_string(t0 + 30 * minute) + " FALSE_POSITIVE"});
  auto report = nlohmann::json::parse(read_text(dir.path() + "/report.json"));
  CHECK(report["windows"][1]["verdict"] == "not_delivered");
  CHECK(report["sources"]["metrics"].get<std::string>().starts_with("ListMetricValues"));

  // Without aws or an endpoint there is nowhere to write verdicts.
  auto refused = run_fleetsim({"reconcile", dir.path(), "--violations", dir.write("v.jsonl", ""), "--write-verification"});
  CHECK(refused.exit_code == 2);
}

TEST_CASE("reconcile --since and --until score a slice of a long run", "[reconcile-cli]") {
  TempDir dir;
  write_run(dir.path(), "{recall: 0.5}");
  // r-01 detected, r-02 missed, a false alarm on r-03 at 30 min (before the slice).
  auto violations = dir.write("v.jsonl", event("r-01", t0 + 65 * minute) + "\n" + event("r-03", t0 + 30 * minute) + "\n");
  // The slice from 100 minutes in holds only r-02's flood (missed) and no false alarm.
  auto r = run_fleetsim({"reconcile", dir.path(), "--violations", violations, "--since", format_rfc3339(t0 + 100 * minute)});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);  // recall 0 < 0.5
  auto report = nlohmann::json::parse(read_text(dir.path() + "/report.json"));
  CHECK(report["anomalies"] == 1);
  CHECK(report["detected"] == 0);
  CHECK(report["false_alarms"] == 0);
  CHECK(report["run"]["start_ms"] == t0 + 100 * minute);
  // Up to 90 minutes: r-01's flood, detected, and the false alarm.
  r = run_fleetsim({"reconcile", dir.path(), "--violations", violations, "--until", format_rfc3339(t0 + 90 * minute)});
  CHECK(r.exit_code == 0);
  report = nlohmann::json::parse(read_text(dir.path() + "/report.json"));
  CHECK(report["anomalies"] == 1);
  CHECK(report["detected"] == 1);
  CHECK(report["false_alarms"] == 1);
  CHECK(run_fleetsim({"reconcile", dir.path(), "--violations", violations, "--since", "yesterday"}).exit_code == 2);
}

TEST_CASE("reconcile leaves things that never connected out of observation", "[reconcile-cli]") {
  TempDir dir;
  write_run(dir.path(), "{recall: 0.5}");
  // stats.json says r-02 never connected: its missed flood was not delivered, and it has no clean days.
  dir.write("stats.json", R"({"never_connected": {"count": 1, "things": ["r-02"]}})");
  auto violations = dir.write("v.jsonl", event("r-01", t0 + 65 * minute) + "\n");
  auto r = run_fleetsim({"reconcile", dir.path(), "--violations", violations});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  auto report = nlohmann::json::parse(read_text(dir.path() + "/report.json"));
  CHECK(report["things_never_connected"] == 1);
  CHECK(report["delivery"]["not_delivered"] == 1);
  for (const auto& w : report["windows"])
    if (w["thing"] == "r-02") CHECK(w["verdict"] == "not_delivered");
  // 4 hours of 4 things minus r-01's 20-minute flood and its 15-minute grace, minus all of r-02.
  CHECK(report["clean_thing_days"].get<double>() == Approx((3 * 240.0 - 35) / (24 * 60)));
}

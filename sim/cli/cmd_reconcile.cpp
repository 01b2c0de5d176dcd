// fleetsim reconcile RUN_DIR... [--violations aws|local|FILE]: score the ledgers against violation events
// and write the reports (the scoring and the reports are sim/harness/run_report's; this parses options,
// fetches events and metric values, and writes verdicts back).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>

#include "sim/cli/aws_session.hpp"
#include "sim/cli/commands.hpp"
#include "sim/harness/run_report.hpp"
#include "sim/harness/violations.hpp"

namespace fleetsim::cli {

namespace {

struct ReconcileCommandOptions {
  std::vector<std::string> run_dirs;
  std::string violations;
  std::string metrics;
  std::string profile;
  std::string grace = "15m";
  std::string compare;
  bool fail_on_regression = false;
  bool write_verification = false;
  std::size_t max_verifications = 1000;
  std::string since, until;
  AwsCliOptions aws;
};

// --since/--until: an RFC 3339 instant, or a duration back from now (scenario time = wall time against AWS).
EpochMillis instant_option(const std::string& option, const std::string& text) {
  if (auto t = parse_rfc3339(text)) return *t;
  if (auto d = parse_duration(text)) return SystemClock().now() - d->count();
  bad_argument("reconcile", option, "'" + text + "' is neither an RFC 3339 time nor a duration such as 24h");
}

// A nightly job scores the last day of a fleet that runs for weeks: only the anomalies that started in
// [from, to], the alarms in it (plus grace) and its clean thing-days.
void restrict_span(harness::RunInputs& run, std::optional<EpochMillis> from, std::optional<EpochMillis> to) {
  auto& o = run.options;
  if (from) o.run_start = std::max(o.run_start, *from);
  if (to) o.run_end = std::min(o.run_end, *to);
  if (o.run_end <= o.run_start)
    bad_argument("reconcile", "--since", "the span is empty: the run covers " + format_rfc3339(run.options.run_start) +
                                             " to " + format_rfc3339(run.options.run_end));
  auto& w = run.ledger.windows;
  w.erase(std::remove_if(w.begin(), w.end(), [&](const auto& x) { return x.start_ms < o.run_start || x.start_ms > o.run_end; }),
          w.end());
}

// ListMetricValues through the IoT client (AWS, or the emulator with --endpoint-url).
class AwsMetricSource : public harness::MetricSource {
 public:
  explicit AwsMetricSource(aws::IotClient& client) : client_(client) {}
  Expected<std::vector<harness::MetricDatum>> values(const std::string& thing, const std::string& metric,
                                                     EpochMillis from, EpochMillis to) override {
    nlohmann::json in = {{"thingName", thing}, {"metricName", metric}, {"startTime", double(from) / 1000.0},
                         {"endTime", double(to) / 1000.0}};
    auto r = client_.call_all("ListMetricValues", in, "metricDatumList", 100);
    if (auto* e = std::get_if<aws::AwsError>(&r)) return unexpected(e->describe());
    std::vector<harness::MetricDatum> out;
    for (const auto& d : std::get<nlohmann::json>(r)["metricDatumList"]) {
      auto v = harness::metric_number(d.value("value", nlohmann::json()));
      if (v && d.contains("timestamp") && d["timestamp"].is_number())
        out.push_back({static_cast<EpochMillis>(std::llround(d["timestamp"].get<double>() * 1000.0)), *v});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.t < b.t; });
    return out;
  }
  std::string describe() const override { return "ListMetricValues (" + client_.endpoint() + ")"; }

 private:
  aws::IotClient& client_;
};

// TRUE_POSITIVE for alarms that detected a window, FALSE_POSITIVE for false alarms; the client paces the
// calls at the operation's published rate (10 TPS). Returns how many were written.
std::size_t write_verification(aws::IotClient& client, const harness::Reconciliation& r, std::size_t max) {
  std::vector<std::pair<std::string, std::string>> verdicts;
  std::set<std::string> seen;
  for (const auto& e : r.true_alarms)
    if (!e.violation_id.empty() && seen.insert(e.violation_id).second) verdicts.emplace_back(e.violation_id, "TRUE_POSITIVE");
  for (const auto& e : r.false_alarms)
    if (!e.violation_id.empty() && seen.insert(e.violation_id).second) verdicts.emplace_back(e.violation_id, "FALSE_POSITIVE");
  if (verdicts.size() > max)
    std::cerr << "fleetsim reconcile: writing the first " << max << " of " << verdicts.size()
              << " verification states (--max-verifications)\n";
  std::size_t written = 0;
  for (std::size_t i = 0; i < verdicts.size() && i < max; ++i) {
    auto res = client.call("PutVerificationStateOnViolation",
                           {{"violationId", verdicts[i].first}, {"verificationState", verdicts[i].second},
                            {"verificationStateDescription", "fleetsim reconcile: ledger window match"}});
    if (auto* e = std::get_if<aws::AwsError>(&res)) {
      std::cerr << "fleetsim reconcile: " << e->describe() << "\n";
      continue;
    }
    ++written;
  }
  return written;
}

}  // namespace

Command add_reconcile(CLI::App& app) {
  auto o = std::make_shared<ReconcileCommandOptions>();
  auto* sub = app.add_subcommand("reconcile", "Match run ledgers with violation events: recall, time to detect, false alarms");
  sub->footer(
      "An anomaly on a thing is detected when an in-alarm event for that thing on one of its primary metrics falls\n"
      "between its start and its end plus --grace. Alarms with no anomaly window are false alarms, counted per\n"
      "thing-day of clean observation. Writes report.json, report.md, junit.xml and report.html into the first run\n"
      "directory; exits 1 when the scenario's expect section is missed (or, with --fail-on-regression, when a\n"
      "figure regressed against --compare).");
  sub->add_option("run_dirs", o->run_dirs, "Run directories (several shards of one run are merged)")->required();
  sub->add_option("--violations", o->violations,
                  "aws, local (RUN_DIR/violations.jsonl, the default), or a JSON/JSONL file of ListViolationEvents events");
  sub->add_option("--metrics", o->metrics,
                  "Metric values for not-detected vs not-delivered: a metrics.jsonl file, or aws (ListMetricValues); "
                  "default RUN_DIR/metrics.jsonl, or aws with --violations aws");
  sub->add_option("--security-profile-name", o->profile, "With aws: only this profile's violations");
  sub->add_option("--grace", o->grace, "How long after an anomaly ends an alarm still counts")->capture_default_str();
  sub->add_option("--compare", o->compare, "An earlier report.json: mark regressions (recall down, ttd p90 up, false alarms up)");
  sub->add_flag("--fail-on-regression", o->fail_on_regression, "With --compare: exit 1 when a figure regressed");
  sub->add_flag("--write-verification", o->write_verification,
                "With aws (or --endpoint-url): PutVerificationStateOnViolation TRUE_POSITIVE/FALSE_POSITIVE, 10 TPS");
  sub->add_option("--max-verifications", o->max_verifications, "At most this many verification states")->capture_default_str();
  sub->add_option("--since", o->since, "Only anomalies starting at or after this (RFC 3339, or a duration ago: 24h)");
  sub->add_option("--until", o->until, "Only anomalies starting at or before this (RFC 3339, or a duration ago)");
  add_aws_options(sub, o->aws);
  return {sub, [o] {
            auto grace = parse_duration(o->grace);
            if (!grace) bad_argument("reconcile", "--grace", grace.error());
            std::vector<std::filesystem::path> dirs(o->run_dirs.begin(), o->run_dirs.end());
            auto run = harness::load_run(dirs, *grace);
            if (!run) bad_argument("reconcile", o->run_dirs.front(), run.error());
            for (const auto& issue : run->issues) std::cerr << issue << '\n';
            if (!o->since.empty() || !o->until.empty())
              restrict_span(run.value(), o->since.empty() ? std::nullopt : std::optional(instant_option("--since", o->since)),
                            o->until.empty() ? std::nullopt : std::optional(instant_option("--until", o->until)));
            const auto& ro = run->options;
            bool use_aws = o->violations == "aws";
            bool need_client = use_aws || o->write_verification;
            if (o->write_verification && !use_aws && o->aws.endpoint_url.empty())
              bad_argument("reconcile", "--write-verification", "needs --violations aws or --endpoint-url");
            if (o->fail_on_regression && o->compare.empty())
              bad_argument("reconcile", "--fail-on-regression", "needs --compare PREVIOUS/report.json");
            std::optional<AwsSession> session;
            if (need_client) session = make_aws_session(o->aws);

            harness::ReconcileRequest request;
            request.options.grace = *grace;
            if (!o->compare.empty()) request.options.compare = o->compare;
            request.options.fail_on_regression = o->fail_on_regression;
            if (use_aws) {
              nlohmann::json in = {{"startTime", double(ro.run_start) / 1000.0},
                                   {"endTime", double(ro.run_end + grace->count()) / 1000.0},
                                   {"listSuppressedAlerts", true}};  // the guide's profiles suppress alerts
              if (!o->profile.empty()) in["securityProfileName"] = o->profile;
              auto r = expect_ok(session->client->call_all("ListViolationEvents", in, "violationEvents"));
              for (const auto& j : r["violationEvents"])
                if (auto e = harness::violation_from_json(j)) request.events.push_back(*e);
              request.events_source = "aws ListViolationEvents (" + session->client->endpoint() + ")";
            } else {
              auto file = o->violations.empty() || o->violations == "local"
                              ? (dirs.front() / "violations.jsonl").string()
                              : o->violations;
              auto read = harness::read_violation_file(file);
              if (!read) bad_argument("reconcile", "--violations", read.error());
              request.events = read.value();
              request.events_source = file;
            }
            std::unique_ptr<harness::MetricSource> metrics;
            if (o->metrics == "aws" || (o->metrics.empty() && use_aws)) {
              if (!session) session = make_aws_session(o->aws);
              metrics = std::make_unique<AwsMetricSource>(*session->client);
            } else {
              auto file = o->metrics.empty() ? dirs.front() / "metrics.jsonl" : std::filesystem::path(o->metrics);
              if (!o->metrics.empty() || std::filesystem::exists(file)) {
                auto m = harness::FileMetricSource::open(file);
                if (!m) bad_argument("reconcile", "--metrics", m.error());
                metrics = std::move(m.value());
              }
            }
            request.metrics = metrics.get();
            auto out = harness::reconcile_run(*run, request);
            if (!out) bad_argument("reconcile", o->compare.empty() ? "report" : "--compare", out.error());
            std::cout << out->summary;
            if (o->write_verification) {
              auto n = write_verification(*session->client, out->reconciliation, o->max_verifications);
              std::cout << "verification states written: " << n << "\n";
            }
            return out->exit_code;
          }};
}

}  // namespace fleetsim::cli

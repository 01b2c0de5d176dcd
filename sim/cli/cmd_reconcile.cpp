// fleetsim reconcile RUN_DIR... --violations FILE|aws: score the ledgers against violation events.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "sim/cli/aws_session.hpp"
#include "sim/cli/commands.hpp"
#include "sim/harness/violations.hpp"
#include "sim/scenario/expand.hpp"
#include "sim/scenario/loader.hpp"

namespace fleetsim::cli {

namespace {

struct ReconcileCommandOptions {
  std::vector<std::string> run_dirs;
  std::string violations;
  std::string profile;
  std::string grace = "15m";
  AwsCliOptions aws;
};

std::string ms_text(std::optional<Millis> d) { return d ? format_duration(Millis(d->count() / 1000 * 1000)) : "-"; }

}  // namespace

Command add_reconcile(CLI::App& app) {
  auto o = std::make_shared<ReconcileCommandOptions>();
  auto* sub = app.add_subcommand("reconcile", "Match run ledgers with violation events: recall, time to detect, false alarms");
  sub->footer(
      "An anomaly on a thing is detected when an in-alarm event for that thing on one of its primary metrics falls\n"
      "between its start and its end plus --grace. Alarms with no anomaly window are false alarms, counted per\n"
      "thing-day of clean observation. Writes report.json into the first run directory; exits 1 when the\n"
      "scenario's expect section is missed.");
  sub->add_option("run_dirs", o->run_dirs, "Run directories (several shards of one run are merged)")->required();
  sub->add_option("--violations", o->violations, "A JSON/JSONL file of ListViolationEvents events, or aws")->required();
  sub->add_option("--security-profile-name", o->profile, "With aws: only this profile's violations");
  sub->add_option("--grace", o->grace, "How long after an anomaly ends an alarm still counts")->capture_default_str();
  add_aws_options(sub, o->aws);
  return {sub, [o] {
            auto grace = parse_duration(o->grace);
            if (!grace) bad_argument("reconcile", "--grace", grace.error());
            // Ledgers of every shard, and the scenario copy of the first run directory.
            std::vector<std::filesystem::path> files;
            for (const auto& d : o->run_dirs) {
              if (!std::filesystem::is_directory(d)) bad_argument("reconcile", d, "is not a run directory");
              for (const auto& e : std::filesystem::directory_iterator(d))
                if (e.path().filename().string().starts_with("ledger") && e.path().extension() == ".jsonl")
                  files.push_back(e.path());
            }
            if (files.empty()) bad_argument("reconcile", o->run_dirs.front(), "holds no ledger*.jsonl");
            auto merged = ledger::read_ledgers(files);
            if (!merged) bad_argument("reconcile", "ledger", merged.error());
            for (const auto& issue : merged->issues) std::cerr << ledger::format_issue(issue) << '\n';
            auto loaded = scenario::load_scenario_file((std::filesystem::path(o->run_dirs.front()) / "scenario.yaml").string());
            if (!loaded.ok()) throw InputError(loaded.diagnostics);
            const auto& s = *loaded.scenario;
            const auto& header = *merged->shards.front().header;
            harness::ReconcileOptions ro;
            ro.grace = *grace;
            ro.run_start = header.start_ms;
            ro.run_end = header.start_ms;
            for (const auto& l : merged->shards) {
              if (l.run_end) ro.run_end = std::max(ro.run_end, l.run_end->t_ms);
              if (l.last_heartbeat_ms) ro.run_end = std::max(ro.run_end, *l.last_heartbeat_ms);
            }
            for (const auto& w : merged->windows) ro.run_end = std::max(ro.run_end, w.end_ms.value_or(w.start_ms));
            for (const auto& t : scenario::expand(s, {0, 1}, Millis(0), 0).things) ro.things.push_back(t.name);
            ro.confidence = s.expect.present ? s.expect.confidence : "";
            std::vector<harness::ViolationEvent> events;
            if (o->violations == "aws") {
              auto session = make_aws_session(o->aws);
              nlohmann::json in = {{"startTime", double(ro.run_start) / 1000.0},
                                   {"endTime", double(ro.run_end + grace->count()) / 1000.0},
                                   {"listSuppressedAlerts", true}};  // the guide's profiles suppress alerts
              if (!o->profile.empty()) in["securityProfileName"] = o->profile;
              auto r = expect_ok(session.client->call_all("ListViolationEvents", in, "violationEvents"));
              for (const auto& j : r["violationEvents"])
                if (auto e = harness::violation_from_json(j)) events.push_back(*e);
            } else {
              auto read = harness::read_violation_file(o->violations);
              if (!read) bad_argument("reconcile", "--violations", read.error());
              events = std::move(*read);
            }
            auto r = harness::reconcile(merged->windows, events, ro);

            nlohmann::json report = {
                {"schema", 1},
                {"scenario", {{"name", header.scenario.name}, {"sha256", header.scenario.sha256}, {"seed", header.seed}}},
                {"run", {{"start", format_rfc3339(ro.run_start)}, {"end", format_rfc3339(ro.run_end)},
                         {"shards", merged->shards.size()}, {"grace", format_duration(*grace)}}},
                {"confidence", ro.confidence},
                {"anomalies", r.windows.size()},
                {"detected", r.detected()},
                {"recall", r.recall()},
                {"false_alarms", r.false_alarms.size()},
                {"clean_thing_days", r.clean_thing_days},
                {"false_alarms_per_thing_day", r.false_alarms_per_thing_day()},
                {"by_kind", nlohmann::json::object()},
                {"windows", nlohmann::json::array()}};
            for (int p : {50, 90, 99})
              if (auto t = r.time_to_detect_percentile(p)) report["time_to_detect_ms"]["p" + std::to_string(p)] = t->count();
            for (const auto& [kind, dt] : r.by_kind())
              report["by_kind"][kind] = {{"detected", dt.first}, {"total", dt.second},
                                         {"recall", double(dt.first) / double(dt.second)}};
            for (const auto& w : r.windows)
              report["windows"].push_back({{"id", w.window.id}, {"thing", w.window.thing}, {"kind", w.window.kind},
                                           {"detected", w.detected}, {"already_in_alarm", w.already_in_alarm},
                                           {"time_to_detect_ms", w.time_to_detect ? nlohmann::json(w.time_to_detect->count()) : nlohmann::json()},
                                           {"time_to_clear_ms", w.time_to_clear ? nlohmann::json(w.time_to_clear->count()) : nlohmann::json()}});
            // The scenario's expectations gate the exit code, naming what was missed.
            std::vector<std::string> missed;
            const auto& x = s.expect;
            if (x.min_recall && r.recall() < *x.min_recall)
              missed.push_back("recall " + format_number(r.recall(), 3) + " < " + format_number(*x.min_recall, 3));
            for (const auto& [kind, min] : x.min_recall_by_kind) {
              auto all = r.by_kind();
              auto it = all.find(std::string(scenario::kind_info(kind).name));
              if (it != all.end() && double(it->second.first) / double(it->second.second) < min)
                missed.push_back("recall of " + it->first + " below " + format_number(min, 3));
            }
            for (const auto& [p, max] : x.max_time_to_detect)
              if (auto t = r.time_to_detect_percentile(p); t && *t > max)
                missed.push_back("time to detect p" + std::to_string(p) + " " + format_duration(*t) + " > " + format_duration(max));
            if (x.max_false_alarms_per_thing_day && r.false_alarms_per_thing_day() > *x.max_false_alarms_per_thing_day)
              missed.push_back("false alarms per thing-day " + format_number(r.false_alarms_per_thing_day(), 3) + " > " +
                               format_number(*x.max_false_alarms_per_thing_day, 3));
            report["expectations_missed"] = missed;
            auto path = std::filesystem::path(o->run_dirs.front()) / "report.json";
            std::ofstream(path) << report.dump(2) << '\n';

            std::cout << "anomalies " << r.windows.size() << ", detected " << r.detected() << ", recall "
                      << format_number(r.recall(), 3) << "; time to detect p50 " << ms_text(r.time_to_detect_percentile(50))
                      << ", p90 " << ms_text(r.time_to_detect_percentile(90)) << "; false alarms " << r.false_alarms.size()
                      << " (" << format_number(r.false_alarms_per_thing_day(), 3) << " per thing-day)\n";
            for (const auto& [kind, dt] : r.by_kind())
              std::cout << "  " << kind << ": " << dt.first << "/" << dt.second << '\n';
            for (const auto& m : missed) std::cout << "MISSED: " << m << '\n';
            std::cout << "report: " << path.string() << '\n';
            return int(missed.empty() ? exit_ok : exit_expectations_failed);
          }};
}

}  // namespace fleetsim::cli

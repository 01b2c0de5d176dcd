// fleetsim plan FILE [--format table|json|csv] [--shard I/N]
#include <iostream>
#include <memory>

#include "sim/cli/commands.hpp"
#include "sim/scenario/expand.hpp"
#include "sim/scenario/loader.hpp"
#include "sim/scenario/plan.hpp"

namespace fleetsim::cli {

namespace {
struct PlanOptions {
  std::string file;
  std::string format = "table";
  std::string shard = "0/1";
  std::string target;
  std::string horizon;
  std::string start;
};

}  // namespace

Command add_plan(CLI::App& app) {
  auto opts = std::make_shared<PlanOptions>();
  auto* sub = app.add_subcommand("plan", "Expand a scenario: its things, which anomalies hit which things when, and "
                                         "how far each moves its metrics above the baseline");
  sub->footer(
      "The same file, seed and shard always give byte-identical output.\n"
      "Shards: --shard I/N runs things whose index mod N is I (I from 0, as JOB_COMPLETION_INDEX counts);\n"
      "the N shards are disjoint and together cover the fleet. Anomaly targets do not depend on sharding.\n"
      "Verdicts: 'stands out' when the anomalous window value is clearly outside the baseline's daily range,\n"
      "'weak' when just outside it, 'hidden' when inside it (no detector can tell).");
  sub->add_option("file", opts->file, "Scenario YAML file")->required();
  sub->add_option("--format", opts->format, "Output format")->check(CLI::IsMember({"table", "json", "csv"}))->capture_default_str();
  sub->add_option("--shard", opts->shard, "This shard's slice of the fleet, I/N")->capture_default_str();
  sub->add_option("--target", opts->target, "Plan for this target instead of the scenario's");
  sub->add_option("--horizon", opts->horizon,
                  "How far ahead to list anomaly occurrences (default: the run's duration, or 7d if it runs until stopped)");
  sub->add_option("--start", opts->start,
                  "Plan as if the run started at this RFC 3339 instant (default: clock.start; with start: now, "
                  "times are offsets and time-of-day schedules assume a start at 00:00 UTC)");
  return {sub, [opts] {
            auto [s, shard] = load_for_command("plan", opts->file, opts->target, opts->shard);
            scenario::PlanInput in;
            in.scenario = &s;
            in.shard = shard;
            in.horizon = scenario::plan_horizon(s);
            if (!opts->horizon.empty()) {
              auto h = parse_duration(opts->horizon);
              if (!h) bad_argument("plan", "--horizon", h.error());
              in.horizon = *h;
            }
            if (!opts->start.empty()) {
              auto t = parse_rfc3339(opts->start);
              if (!t) bad_argument("plan", "--start", t.error());
              in.start = *t;
            } else if (s.clock.start) {
              in.start = *s.clock.start;
            } else {
              in.start_is_assumed = true;  // offsets only; deterministic whatever the date
            }
            auto format = opts->format == "json"  ? scenario::PlanFormat::json
                          : opts->format == "csv" ? scenario::PlanFormat::csv
                                                  : scenario::PlanFormat::table;
            std::cout << scenario::render_plan(in, format);
            return int(exit_ok);
          }};
}

}  // namespace fleetsim::cli

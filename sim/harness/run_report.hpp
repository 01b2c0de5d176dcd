#pragma once
// The reconcile entry point both `fleetsim reconcile` and the embedded `fleetsim run` use: load a run,
// score it against violation events (and metric values, when there are some), compare it with an
// earlier report, apply the scenario's `expect` gates and write report.json, report.md, junit.xml and
// report.html into the (first) run directory.
//
// Embedded use (the run directory has violations.jsonl and metrics.jsonl):
//   auto out = harness::reconcile_local_run(run_dir, {});
//   if (out) { std::cerr << out->summary; return out->exit_code; }
// AWS use: load_run(), fetch the events for run->options' range, then reconcile_run().
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/expected.hpp"
#include "sim/harness/metric_source.hpp"
#include "sim/harness/reconcile.hpp"
#include "sim/scenario/model.hpp"

namespace fleetsim::harness {

/// report.json's schema version (the README documents every field).
inline constexpr int report_schema_version = 2;

/// A run read back: its ledgers merged, its scenario copy, its stats.
struct RunInputs {
  std::vector<std::filesystem::path> run_dirs;
  ledger::MergedLedger ledger;
  scenario::Scenario scenario;
  ReconcileOptions options;  ///< run range (header start .. run_end/last heartbeat/last window end), things, confidence
  nlohmann::json stats;      ///< the first run directory's stats.json, or null
  std::vector<std::string> issues;  ///< the ledger reader's findings, formatted (torn lines, open windows, ...)
};

/// Reads RUN_DIR/ledger*.jsonl of every directory (merged), the first one's scenario.yaml and stats.json.
/// Fails naming the directory or file when one is missing or unreadable.
Expected<RunInputs> load_run(const std::vector<std::filesystem::path>& run_dirs, Millis grace);

struct ReportOptions {
  Millis grace{15 * 60'000};
  std::optional<std::filesystem::path> compare;  ///< an earlier report.json: mark regressions
  bool fail_on_regression = false;               ///< a regression makes the exit code 1
  bool write_files = true;                       ///< write the four reports into the first run directory
  std::size_t max_metric_queries = 400;          ///< bound on (thing, metric) series fetched from the source
};

struct ReconcileRequest {
  std::vector<ViolationEvent> events;
  std::string events_source;       ///< for the report: "aws", "local", a file name
  MetricSource* metrics = nullptr; ///< optional: movement checks and the HTML timeline's values
  ReportOptions options;
};

struct ReconcileOutcome {
  Reconciliation reconciliation;   ///< at the scenario's expect.confidence (MEDIUM by default)
  nlohmann::json report;           ///< what report.json holds
  int exit_code = 0;               ///< 0, or 1 (exit_expectations_failed) for a missed gate or a failing regression
  std::string summary;             ///< the terminal summary: a compact table and the path to report.html
  std::vector<std::string> missed;       ///< missed expectations, each naming its figures
  std::vector<std::string> regressions;  ///< against --compare, each naming its figures
  std::vector<std::filesystem::path> written;
};

/// Scores and reports. Fails only when the comparison report cannot be read or a report cannot be written.
Expected<ReconcileOutcome> reconcile_run(const RunInputs& run, const ReconcileRequest& request);

/// load_run + RUN_DIR/violations.jsonl (required) + RUN_DIR/metrics.jsonl (when present) + reconcile_run.
Expected<ReconcileOutcome> reconcile_local_run(const std::filesystem::path& run_dir, const ReportOptions& options);

/// Text for XML and HTML (element content and quoted attributes): & < > " ' escaped.
std::string escape_markup(const std::string& s);

// Report writers (pure: report.json's content in, text out).
std::string render_markdown(const nlohmann::json& report);
std::string render_junit(const nlohmann::json& report);
/// `timeline`: [{thing, windows: [{from, to, kind, detected}], alarms: [{from, to, behavior, metric, verdict}],
/// metrics: {metric: [[t_ms, value], ...]}}] for the per-thing charts.
std::string render_html(const nlohmann::json& report, const nlohmann::json& timeline);
std::string render_terminal(const nlohmann::json& report, const std::filesystem::path& html);

}  // namespace fleetsim::harness

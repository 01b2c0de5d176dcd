#include "sim/harness/run_report.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "sim/core/error.hpp"
#include "sim/harness/scores.hpp"
#include "sim/harness/violations.hpp"
#include "sim/scenario/anomaly_kinds.hpp"
#include "sim/scenario/expand.hpp"
#include "sim/scenario/loader.hpp"

namespace fleetsim::harness {

namespace {

using json = nlohmann::json;

json ms_or_null(std::optional<Millis> d) { return d ? json(d->count()) : json(); }
json opt(std::optional<double> v) { return v ? json(*v) : json(); }
json tally(const Tally& t) { return {{"detected", t.detected}, {"total", t.total}, {"recall", t.recall()}}; }

json percentiles(const Reconciliation& r, bool detect) {
  json out = json::object();
  for (int p : {50, 90, 99})
    out["p" + std::to_string(p)] = ms_or_null(detect ? r.time_to_detect_percentile(p) : r.time_to_clear_percentile(p));
  std::size_t n = 0;
  for (const auto& w : r.windows) n += detect ? w.time_to_detect.has_value() : w.time_to_clear.has_value();
  out["count"] = n;
  return out;
}

json event_json(const ViolationEvent& e) {
  return {{"violation_id", e.violation_id}, {"thing", e.thing}, {"behavior", e.behavior}, {"metric", e.metric},
          {"confidence", e.confidence}, {"t", format_rfc3339(e.t)}, {"t_ms", e.t}};
}

std::string event_key(const ViolationEvent& e) { return e.thing + '\n' + e.behavior + '\n' + std::to_string(e.t) + '\n' + e.type; }

// Fetches each (thing, metric) series once, within a budget of queries.
class SeriesCache {
 public:
  SeriesCache(MetricSource* source, EpochMillis from, EpochMillis to, std::size_t budget)
      : source_(source), from_(from), to_(to), budget_(budget) {}
  const std::vector<MetricDatum>* get(const std::string& thing, const std::string& metric) {
    if (!source_) return nullptr;
    auto key = std::make_pair(thing, metric);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second ? &*it->second : nullptr;
    if (cache_.size() >= budget_) {
      truncated_ = true;
      return nullptr;
    }
    auto v = source_->values(thing, metric, from_, to_);
    if (!v) {
      if (errors_.size() < 10) errors_.push_back(thing + " " + metric + ": " + v.error());
      cache_[key] = std::nullopt;
      return nullptr;
    }
    return &*(cache_[key] = std::move(*v));
  }
  bool truncated() const { return truncated_; }
  const std::vector<std::string>& errors() const { return errors_; }
  std::size_t queries() const { return cache_.size(); }

 private:
  MetricSource* source_;
  EpochMillis from_, to_;
  std::size_t budget_;
  bool truncated_ = false;
  std::map<std::pair<std::string, std::string>, std::optional<std::vector<MetricDatum>>> cache_;
  std::vector<std::string> errors_;
};

struct Expectation {
  std::string name;
  json threshold, actual;
  bool passed = true;
  std::string text;  // "recall 0.5 < 1" when missed
};

std::vector<Expectation> check_expectations(const scenario::Expectations& x, const Reconciliation& r) {
  std::vector<Expectation> out;
  if (!x.present) return out;
  if (x.min_recall) {
    Expectation e{"recall", *x.min_recall, r.recall(), r.recall() >= *x.min_recall, {}};
    if (!e.passed) e.text = "recall " + format_number(r.recall(), 3) + " < " + format_number(*x.min_recall, 3);
    out.push_back(e);
  }
  auto kinds = r.by_kind();
  for (const auto& [kind, min] : x.min_recall_by_kind) {
    std::string name(scenario::kind_info(kind).name);
    auto it = kinds.find(name);
    Expectation e{"recall[" + name + "]", min, json(), true, {}};
    if (it != kinds.end()) {
      double v = double(it->second.first) / double(it->second.second);
      e.actual = v;
      e.passed = v >= min;
      if (!e.passed) e.text = "recall of " + name + " " + format_number(v, 3) + " below " + format_number(min, 3);
    }
    out.push_back(e);
  }
  for (const auto& [p, max] : x.max_time_to_detect) {
    auto t = r.time_to_detect_percentile(p);
    Expectation e{"time_to_detect.p" + std::to_string(p), max.count(), ms_or_null(t), !t || *t <= max, {}};
    if (!e.passed)
      e.text = "time to detect p" + std::to_string(p) + " " + format_duration(*t) + " > " + format_duration(max);
    out.push_back(e);
  }
  if (x.max_false_alarms_per_thing_day) {
    double v = r.false_alarms_per_thing_day();
    Expectation e{"false_alarms_per_thing_day", *x.max_false_alarms_per_thing_day, v,
                  v <= *x.max_false_alarms_per_thing_day, {}};
    if (!e.passed)
      e.text = "false alarms per thing-day " + format_number(v, 3) + " > " + format_number(*x.max_false_alarms_per_thing_day, 3);
    out.push_back(e);
  }
  return out;
}

// Regressions against an earlier report: recall (overall and per kind) down, ttd p90 up, false alarms up.
json compare_reports(const json& previous, const json& current, const std::string& path) {
  constexpr double eps = 1e-9;
  json regressions = json::array();
  auto number = [](const json& j, const json::json_pointer& p) -> std::optional<double> {
    return j.contains(p) && j[p].is_number() ? std::optional<double>(j[p].get<double>()) : std::nullopt;
  };
  auto check = [&](const std::string& figure, const json::json_pointer& p, bool higher_is_worse) {
    auto before = number(previous, p), now = number(current, p);
    if (!before || !now) return;
    if (higher_is_worse ? *now > *before + eps : *now < *before - eps)
      regressions.push_back({{"figure", figure}, {"previous", *before}, {"current", *now}});
  };
  check("recall", json::json_pointer("/recall"), false);
  if (previous.contains("by_kind") && previous["by_kind"].is_object())
    for (const auto& [kind, v] : previous["by_kind"].items())
      check("recall[" + kind + "]", json::json_pointer("/by_kind/" + kind + "/recall"), false);
  check("time_to_detect.p90", json::json_pointer("/time_to_detect_ms/p90"), true);
  check("false_alarms_per_thing_day", json::json_pointer("/false_alarms_per_thing_day"), true);
  return {{"previous", path}, {"previous_generated_at", previous.value("generated_at", "")},
          {"previous_schema", previous.value("schema", 0)}, {"regressions", regressions}};
}

std::string regression_text(const json& r) {
  auto f = r["figure"].get<std::string>();
  auto fmt = [&](double v) {
    return f.starts_with("time_to_detect") ? format_duration(Millis(std::llround(v))) : format_number(v, 3);
  };
  return f + " " + fmt(r["previous"].get<double>()) + " -> " + fmt(r["current"].get<double>());
}

// Downsamples a series to at most n points (keeping each stride's extreme so spikes stay visible).
json series_json(const std::vector<MetricDatum>& s, std::size_t n) {
  json out = json::array();
  std::size_t stride = std::max<std::size_t>(1, (s.size() + n - 1) / n);
  for (std::size_t i = 0; i < s.size(); i += stride) {
    auto best = s[i];
    for (std::size_t k = i; k < std::min(s.size(), i + stride); ++k)
      if (std::abs(s[k].value) > std::abs(best.value)) best = s[k];
    out.push_back({best.t, best.value});
  }
  return out;
}

// Empty on success, else what went wrong.
std::string write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return out ? std::string() : path.string() + ": cannot write the report";
}

}  // namespace

Expected<RunInputs> load_run(const std::vector<std::filesystem::path>& run_dirs, Millis grace) {
  if (run_dirs.empty()) return unexpected("no run directory given");
  RunInputs in;
  in.run_dirs = run_dirs;
  std::vector<std::filesystem::path> files;
  for (const auto& d : run_dirs) {
    if (!std::filesystem::is_directory(d)) return unexpected(d.string() + " is not a run directory");
    for (const auto& e : std::filesystem::directory_iterator(d))
      if (e.path().filename().string().starts_with("ledger") && e.path().extension() == ".jsonl") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return unexpected(run_dirs.front().string() + " holds no ledger*.jsonl");
  auto merged = ledger::read_ledgers(files);
  if (!merged) return unexpected(merged.error());
  in.ledger = std::move(*merged);
  for (const auto& issue : in.ledger.issues) in.issues.push_back(ledger::format_issue(issue));
  const auto* header = in.ledger.shards.empty() || !in.ledger.shards.front().header ? nullptr : &*in.ledger.shards.front().header;
  if (!header) return unexpected(files.front().string() + " has no header line");

  auto scenario_file = run_dirs.front() / "scenario.yaml";
  auto loaded = scenario::load_scenario_file(scenario_file.string());
  if (!loaded.ok()) {
    std::string text = scenario_file.string() + ": the run's scenario copy does not load";
    for (const auto& d : loaded.diagnostics)
      if (d.severity == Diagnostic::Severity::error) text += "\n" + format_diagnostic(d);
    return unexpected(text);
  }
  in.scenario = std::move(*loaded.scenario);

  auto& o = in.options;
  o.grace = grace;
  o.run_start = header->start_ms;
  o.run_end = header->start_ms;
  for (const auto& l : in.ledger.shards) {
    if (l.run_end) o.run_end = std::max(o.run_end, l.run_end->t_ms);
    if (l.last_heartbeat_ms) o.run_end = std::max(o.run_end, *l.last_heartbeat_ms);
  }
  for (const auto& w : in.ledger.windows) o.run_end = std::max(o.run_end, w.end_ms.value_or(w.start_ms));
  for (const auto& t : scenario::expand(in.scenario, {0, 1}, Millis(0), 0).things) o.things.push_back(t.name);
  o.confidence = in.scenario.expect.present ? in.scenario.expect.confidence : "MEDIUM";

  // Every shard's stats.json says which of its things never connected.
  for (const auto& d : run_dirs) {
    std::ifstream f(d / "stats.json");
    auto j = f ? json::parse(f, nullptr, false) : json();
    if (j.is_object() && j.contains("never_connected") && j["never_connected"].contains("things"))
      for (const auto& t : j["never_connected"]["things"])
        if (t.is_string()) o.never_connected.insert(t.get<std::string>());
  }
  std::ifstream stats(run_dirs.front() / "stats.json");
  if (stats) {
    auto j = json::parse(stats, nullptr, false);
    if (!j.is_discarded()) in.stats = std::move(j);
  }
  return in;
}

Expected<ReconcileOutcome> reconcile_run(const RunInputs& run, const ReconcileRequest& request) {
  const auto& o = run.options;
  const auto& windows = run.ledger.windows;
  ReconcileOutcome out;
  auto& r = out.reconciliation = reconcile(windows, request.events, o);
  const auto& header = *run.ledger.shards.front().header;

  // Confidence levels, nested, when the events carry them.
  bool levels = std::any_of(request.events.begin(), request.events.end(), [](const auto& e) { return !e.confidence.empty(); });
  std::map<std::string, Reconciliation> at_level;
  if (levels)
    for (const auto& level : confidence_levels()) {
      auto lo = o;
      lo.confidence = level;
      at_level[level] = reconcile(windows, request.events, lo);
    }

  // Metric movement for every window (the verdict matters for the missed ones).
  SeriesCache cache(request.metrics, o.run_start - millis_per_day, o.run_end + o.grace.count(),
                    request.options.max_metric_queries);
  std::map<std::string, std::vector<std::pair<EpochMillis, EpochMillis>>> covered;
  for (const auto& w : windows) covered[w.thing].emplace_back(w.start_ms, w.end_ms.value_or(o.run_end) + o.grace.count());
  std::size_t not_detected = 0, not_delivered = 0, unknown = 0;

  json report = {
      {"schema", report_schema_version},
      {"tool", std::string("fleetsim ") + FLEETSIM_VERSION},
      {"generated_at", format_rfc3339(std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch()).count())},
      {"scenario", {{"name", header.scenario.name}, {"sha256", header.scenario.sha256}, {"seed", header.seed}}},
      {"run",
       {{"id", header.run_id}, {"directories", json::array()}, {"target", header.target},
        {"start", format_rfc3339(o.run_start)}, {"end", format_rfc3339(o.run_end)}, {"start_ms", o.run_start},
        {"end_ms", o.run_end}, {"shards", run.ledger.shards.size()}, {"grace", format_duration(o.grace)},
        {"grace_ms", o.grace.count()}, {"ledger_clean", run.ledger.clean()}, {"ledger_issues", run.issues},
        {"open_windows", std::count_if(windows.begin(), windows.end(), [](const auto& w) { return w.open(); })}}},
      {"sources",
       {{"violations", request.events_source}, {"events", request.events.size()}, {"events_scored", r.events.size()},
        {"metrics", request.metrics ? json(request.metrics->describe()) : json()}}},
      {"confidence", o.confidence},
      {"confidence_levels_present", levels},
      {"things", o.things.size()},
      {"things_never_connected", o.never_connected.size()},
      {"anomalies", r.windows.size()},
      {"detected", r.detected()},
      {"recall", r.recall()},
      {"by_kind", json::object()},
      {"by_metric", json::object()},
      {"side_effects", json::object()},
      {"by_confidence", json::object()},
      {"by_behavior", json::object()},
      {"time_to_detect_ms", percentiles(r, true)},
      {"time_to_clear_ms", percentiles(r, false)},
      {"alarms", r.alarms},
      {"true_alarms", r.true_alarms.size()},
      {"false_alarms", r.false_alarms.size()},
      {"precision", opt(r.precision())},
      {"clean_thing_days", r.clean_thing_days},
      {"false_alarms_per_thing_day", r.false_alarms_per_thing_day()},
      {"windows", json::array()},
      {"false_alarm_events", json::array()}};
  for (const auto& d : run.run_dirs) report["run"]["directories"].push_back(d.string());
  if (run.stats.is_object() && run.stats.contains("achieved"))
    report["run"]["connects"] = run.stats["achieved"].value("connected", json());
  for (const auto& [kind, dt] : r.by_kind())
    report["by_kind"][kind] = tally({dt.first, dt.second});
  for (const auto& [metric, t] : r.by_metric()) report["by_metric"][metric] = tally(t);
  for (const auto& [metric, t] : r.side_effects()) report["side_effects"][metric] = tally(t);
  for (const auto& [level, lr] : at_level) {
    report["by_confidence"][level] = tally({lr.detected(), lr.windows.size()});
    report["by_confidence"][level]["false_alarms"] = lr.false_alarms.size();
    report["by_confidence"][level]["by_kind"] = json::object();
    for (const auto& [kind, dt] : lr.by_kind()) report["by_confidence"][level]["by_kind"][kind] = tally({dt.first, dt.second});
  }
  for (const auto& [name, b] : r.by_behavior()) {
    auto j = tally(b.windows);
    j["metric"] = b.metric;
    j["alarms"] = b.alarms;
    j["false_alarms"] = b.false_alarms;
    report["by_behavior"][name] = j;
  }

  for (std::size_t i = 0; i < r.windows.size(); ++i) {
    const auto& w = r.windows[i];
    EpochMillis end = w.window.end_ms.value_or(o.run_end);
    json movement = json::object();
    bool moved = false, flat = false;
    std::vector<std::pair<EpochMillis, EpochMillis>> others;
    for (const auto& c : covered[w.window.thing])
      if (c.first != w.window.start_ms) others.push_back(c);
    for (const auto& m : w.window.primary_metrics) {
      const auto* series = cache.get(w.window.thing, m);
      MovementCheck c;
      if (series) c = check_movement(*series, w.window.start_ms, end + o.grace.count(), others);
      moved |= c.movement == Movement::moved;
      flat |= c.movement == Movement::flat;
      movement[m] = {{"movement", to_string(c.movement)}, {"baseline_values", c.baseline_values},
                     {"window_values", c.window_values}, {"baseline_median", c.baseline_median},
                     {"baseline_mad", c.baseline_mad}, {"extreme", opt(c.extreme)}};
    }
    std::string verdict = "detected";
    if (!w.detected) {
      // A thing that never connected delivered nothing, whatever its metric series say.
      const bool absent = o.never_connected.contains(w.window.thing);
      verdict = absent ? "not_delivered" : moved ? "not_detected" : flat ? "not_delivered" : "unknown";
      (absent ? not_delivered : moved ? not_detected : flat ? not_delivered : unknown) += 1;
    }
    json by_level = json::object();
    for (const auto& [level, lr] : at_level) by_level[level] = lr.windows[i].detected;
    report["windows"].push_back(
        {{"id", w.window.id}, {"thing", w.window.thing}, {"kind", w.window.kind}, {"anomaly", w.window.anomaly},
         {"strength", w.window.strength}, {"start", format_rfc3339(w.window.start_ms)}, {"start_ms", w.window.start_ms},
         {"end", format_rfc3339(end)}, {"end_ms", end}, {"open", w.window.open()},
         {"primary_metrics", w.window.primary_metrics}, {"side_effect_metrics", w.window.side_effect_metrics},
         {"detected", w.detected}, {"verdict", verdict}, {"already_in_alarm", w.already_in_alarm},
         {"detected_on", w.detected_on}, {"detected_by", w.detected_by},
         {"side_effects_detected_on", w.side_effects_detected_on}, {"detected_by_confidence", by_level},
         {"time_to_detect_ms", ms_or_null(w.time_to_detect)}, {"time_to_clear_ms", ms_or_null(w.time_to_clear)},
         {"metrics", movement}});
  }
  report["delivery"] = {{"not_detected", not_detected}, {"not_delivered", not_delivered}, {"unknown", unknown},
                        {"metric_series", cache.queries()}, {"truncated", cache.truncated()},
                        {"errors", cache.errors()},
                        {"rule", "baseline: values at or before the start outside other windows (>= 3); moved: a value "
                                 "in (start, end + grace] outside [m/2, 2m] and beyond 3 x 1.4826 x MAD of the baseline median m"}};
  for (std::size_t i = 0; i < r.false_alarms.size() && i < 1000; ++i)
    report["false_alarm_events"].push_back(event_json(r.false_alarms[i]));

  auto real = real_ranges(windows, o);
  auto predicted = alarm_ranges(r.events, o.run_end + o.grace.count());
  auto rs = range_scores(real, predicted);
  report["range_based"] = {{"recall", opt(rs.recall)}, {"precision", opt(rs.precision)}, {"f1", opt(rs.f1)},
                           {"real_ranges", rs.real}, {"predicted_ranges", rs.predicted},
                           {"parameters", {{"alpha", 0}, {"recall_bias", "front"}, {"precision_bias", "flat"},
                                           {"cardinality", "1/x"}, {"real_range", "[start, end + grace], merged per thing"},
                                           {"predicted_range", "[in-alarm, alarm-cleared|alarm-invalidated], merged per thing"}}}};
  auto nab = nab_score(real, r.events);
  report["nab"] = {{"score", opt(nab.score)}, {"raw", nab.raw}, {"null", nab.null_raw}, {"perfect", nab.perfect_raw},
                   {"true_positives", nab.true_positives}, {"false_positives", nab.false_positives},
                   {"false_negatives", nab.false_negatives}, {"profile", "standard"},
                   {"weights", {{"tp", 1.0}, {"fp", -0.11}, {"fn", -1.0}}}};

  // Expectations, then the comparison.
  json expectations = json::array();
  for (const auto& e : check_expectations(run.scenario.expect, r)) {
    expectations.push_back({{"name", e.name}, {"threshold", e.threshold}, {"actual", e.actual}, {"passed", e.passed}});
    if (!e.passed) out.missed.push_back(e.text);
  }
  report["expectations"] = expectations;
  report["expectations_missed"] = out.missed;
  report["comparison"] = json();
  if (request.options.compare) {
    std::ifstream in(*request.options.compare);
    if (!in) return unexpected(request.options.compare->string() + ": cannot open the previous report");
    auto previous = json::parse(in, nullptr, false);
    if (previous.is_discarded() || !previous.is_object())
      return unexpected(request.options.compare->string() + ": not a report.json");
    report["comparison"] = compare_reports(previous, report, request.options.compare->string());
    for (const auto& g : report["comparison"]["regressions"]) out.regressions.push_back(regression_text(g));
  }
  bool failing_regression = request.options.fail_on_regression && !out.regressions.empty();
  out.exit_code = out.missed.empty() && !failing_regression ? exit_ok : exit_expectations_failed;
  report["exit_code"] = out.exit_code;

  // The per-thing timeline for the HTML page: things with misses first, then false alarms, then the rest.
  std::set<std::string> true_keys, false_keys;
  for (const auto& e : r.true_alarms) true_keys.insert(event_key(e));
  for (const auto& e : r.false_alarms) false_keys.insert(event_key(e));
  std::map<std::string, int> rank;
  for (const auto& w : r.windows) rank[w.window.thing] = std::max(rank[w.window.thing], w.detected ? 1 : 3);
  for (const auto& e : r.events) rank[e.thing] = std::max(rank[e.thing], false_keys.count(event_key(e)) ? 2 : 0);
  std::vector<std::pair<int, std::string>> order;
  for (const auto& [thing, k] : rank) order.emplace_back(-k, thing);
  std::sort(order.begin(), order.end());
  if (order.size() > 30) order.resize(30);
  json timeline = json::array();
  for (const auto& [k, thing] : order) {
    json t = {{"thing", thing}, {"windows", json::array()}, {"alarms", json::array()}, {"metrics", json::object()}};
    std::set<std::string> metrics;
    for (const auto& w : r.windows)
      if (w.window.thing == thing) {
        t["windows"].push_back({{"from", w.window.start_ms}, {"to", w.window.end_ms.value_or(o.run_end)},
                                {"kind", w.window.kind}, {"detected", w.detected}});
        metrics.insert(w.window.primary_metrics.begin(), w.window.primary_metrics.end());
      }
    std::map<std::string, const ViolationEvent*> open;
    auto close = [&](const ViolationEvent& start, EpochMillis to) {
      auto key = event_key(start);
      t["alarms"].push_back({{"from", start.t}, {"to", to}, {"behavior", start.behavior}, {"metric", start.metric},
                             {"verdict", true_keys.count(key) ? "true" : false_keys.count(key) ? "false" : "other"}});
    };
    for (const auto& e : r.events) {
      if (e.thing != thing) continue;
      metrics.insert(e.metric);
      auto it = open.find(e.behavior);
      if (e.type == "in-alarm" && it == open.end()) open[e.behavior] = &e;
      else if (e.type != "in-alarm" && it != open.end()) {
        close(*it->second, e.t);
        open.erase(it);
      }
    }
    for (const auto& [b, e] : open) close(*e, o.run_end + o.grace.count());
    for (const auto& m : metrics)
      if (const auto* s = cache.get(thing, m); s && !s->empty()) t["metrics"][m] = series_json(*s, 400);
    timeline.push_back(t);
  }

  auto dir = run.run_dirs.front();
  auto html_path = dir / "report.html";
  out.summary = render_terminal(report, html_path);
  if (request.options.write_files) {
    std::vector<std::pair<std::string, std::string>> files{{"report.json", report.dump(2) + "\n"},
                                                           {"report.md", render_markdown(report)},
                                                           {"junit.xml", render_junit(report)},
                                                           {"report.html", render_html(report, timeline)}};
    for (const auto& [name, text] : files) {
      if (auto error = write_text(dir / name, text); !error.empty()) return unexpected(error);
      out.written.push_back(dir / name);
    }
  }
  out.report = std::move(report);
  return out;
}

Expected<ReconcileOutcome> reconcile_local_run(const std::filesystem::path& run_dir, const ReportOptions& options) {
  auto run = load_run({run_dir}, options.grace);
  if (!run) return unexpected(run.error());
  auto events = read_violation_file(run_dir / "violations.jsonl");
  if (!events) return unexpected(events.error());
  std::unique_ptr<FileMetricSource> metrics;
  if (std::filesystem::exists(run_dir / "metrics.jsonl")) {
    auto m = FileMetricSource::open(run_dir / "metrics.jsonl");
    if (!m) return unexpected(m.error());
    metrics = std::move(m.value());
  }
  ReconcileRequest request{std::move(*events), "local", metrics.get(), options};
  return reconcile_run(*run, request);
}

}  // namespace fleetsim::harness

#include "sim/scenario/plan.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include "sim/scenario/window_model.hpp"

namespace fleetsim::scenario {
namespace {

using nlohmann::json;

struct Effects {
  const Anomaly* anomaly;
  const FleetGroup* group;
  std::vector<MetricEffect> effects;
};

// Effects per (anomaly, group of the things it hits).
std::vector<Effects> all_effects(const Scenario& s, const Expansion& e, Millis window) {
  std::vector<Effects> out;
  for (std::size_t ai = 0; ai < s.anomalies.size(); ++ai) {
    std::vector<bool> seen(s.fleet.size());
    for (const auto& o : e.occurrences) {
      if (o.anomaly != ai) continue;
      std::uint64_t gi = 0, idx = o.thing;
      while (gi < s.fleet.size() && idx >= s.fleet[gi].count) idx -= s.fleet[gi++].count;
      if (gi >= s.fleet.size() || seen[gi]) continue;
      seen[gi] = true;
      out.push_back({&s.anomalies[ai], &s.fleet[gi], anomaly_effects(s, s.anomalies[ai], s.fleet[gi], window)});
    }
  }
  return out;
}

std::string when(const PlanInput& in, Millis offset) {
  return in.start_is_assumed ? "+" + format_duration(offset) : format_rfc3339(in.start + offset.count());
}

std::string group_of(const Scenario& s, std::uint64_t global) {
  for (const auto& g : s.fleet) {
    if (global < g.count) return g.name;
    global -= g.count;
  }
  return {};
}

// Fewer decimals for larger values: 0.25, 12.5, 1201.
std::string value_text(double v) { return format_number(v, v < 10 ? 2 : v < 100 ? 1 : 0); }

std::string csv_field(std::string v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string render_json(const PlanInput& in, const Expansion& e, Millis window) {
  const Scenario& s = *in.scenario;
  json j;
  j["scenario"] = {{"name", s.name}, {"file", s.file}, {"sha256", s.sha256}, {"seed", s.seed}, {"version", s.version}};
  j["shard"] = e.shard.describe();
  j["target"] = describe(s.target);
  j["clock"] = {{"time_scale", s.clock.time_scale},
                {"start", in.start_is_assumed ? json("now") : json(format_rfc3339(in.start))},
                {"duration", s.clock.duration ? json(format_duration(*s.clock.duration)) : json("until-stopped")}};
  j["horizon"] = format_duration(e.horizon);
  j["window"] = format_duration(window);
  j["things"] = json::array();
  for (const auto& t : e.things)
    j["things"].push_back({{"name", t.name}, {"group", s.fleet[t.group].name},
                           {"thing_group", s.fleet[t.group].thing_group}, {"index", t.global_index},
                           {"first_publish_offset_ms", t.phase.count()}});
  j["occurrences"] = json::array();
  for (const auto& o : e.occurrences) {
    const auto& a = s.anomalies[o.anomaly];
    json occ = {{"anomaly", a.name}, {"kind", kind_info(a.kind).name}, {"occurrence", o.number},
                {"thing", thing_name(s, o.thing)}, {"start_offset_ms", o.start.count()}, {"end_offset_ms", o.end.count()},
                {"strength", a.strength.text}};
    if (!in.start_is_assumed) {
      occ["start"] = format_rfc3339(in.start + o.start.count());
      occ["end"] = format_rfc3339(in.start + o.end.count());
    }
    j["occurrences"].push_back(occ);
  }
  j["effects"] = json::array();
  for (const auto& fx : all_effects(s, e, window))
    for (const auto& m : fx.effects)
      j["effects"].push_back({{"anomaly", fx.anomaly->name}, {"kind", kind_info(fx.anomaly->kind).name},
                              {"group", fx.group->name}, {"metric", m.metric},
                              {"role", m.primary ? "primary" : "side-effect"},
                              {"baseline", {{"low", m.baseline.low}, {"mean", m.baseline.mean}, {"high", m.baseline.high}}},
                              {"during", m.during}, {"ratio", m.ratio}, {"verdict", describe(m.verdict)}});
  return j.dump(2) + "\n";
}

std::string render_csv(const PlanInput& in, const Expansion& e, Millis window) {
  const Scenario& s = *in.scenario;
  std::ostringstream out;
  out << "anomaly,kind,occurrence,thing,group,start,end,metric,role,baseline_low,baseline_mean,baseline_high,during,"
         "ratio,verdict\n";
  std::map<std::pair<const Anomaly*, std::string>, std::vector<MetricEffect>> by_group;
  for (auto& fx : all_effects(s, e, window)) by_group[{fx.anomaly, fx.group->name}] = fx.effects;
  for (const auto& o : e.occurrences) {
    const auto& a = s.anomalies[o.anomaly];
    auto group = group_of(s, o.thing);
    for (const auto& m : by_group[{&a, group}])
      out << csv_field(a.name) << ',' << kind_info(a.kind).name << ',' << o.number << ','
          << csv_field(thing_name(s, o.thing)) << ',' << csv_field(group) << ',' << when(in, o.start) << ','
          << when(in, o.end) << ',' << m.metric << ',' << (m.primary ? "primary" : "side-effect") << ','
          << format_number(m.baseline.low) << ',' << format_number(m.baseline.mean) << ','
          << format_number(m.baseline.high) << ',' << format_number(m.during) << ',' << format_number(m.ratio) << ','
          << describe(m.verdict) << '\n';
  }
  return out.str();
}

// Columns padded to their widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out, const std::string& indent = "  ") const {
    std::vector<std::size_t> width(rows_.front().size());
    for (const auto& r : rows_)
      for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], display_width(r[i]));
    for (const auto& r : rows_) {
      std::string line = indent;
      for (std::size_t i = 0; i < r.size(); ++i) {
        line += r[i];
        if (i + 1 < r.size()) line += std::string(width[i] - display_width(r[i]) + 2, ' ');
      }
      out << line << '\n';
    }
  }

 private:
  static std::size_t display_width(const std::string& s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  }
  std::vector<std::vector<std::string>> rows_;
};

std::string render_table(const PlanInput& in, const Expansion& e, Millis window) {
  const Scenario& s = *in.scenario;
  std::ostringstream out;
  out << "Scenario " << s.name << " (" << s.file << ", sha256 " << s.sha256.substr(0, 12) << "), seed " << s.seed
      << ", shard " << e.shard.describe() << "\n";
  out << "Target " << describe(s.target) << "; time_scale " << format_number(s.clock.time_scale) << "; start "
      << (in.start_is_assumed ? std::string("now") : format_rfc3339(in.start)) << "; duration "
      << (s.clock.duration ? format_duration(*s.clock.duration) : std::string("until stopped"));
  if (s.clock.duration && s.clock.time_scale > 1)
    out << " (" << format_duration(Millis(static_cast<std::int64_t>(double(s.clock.duration->count()) / s.clock.time_scale)))
        << " real time)";
  out << "\n\n";

  out << "Fleet: " << e.things.size() << " of " << s.thing_count() << " things on this shard\n";
  Table fleet({"group", "things", "names", "thing group", "publishes", "payload", "receives", "reports"});
  for (std::size_t gi = 0; gi < s.fleet.size(); ++gi) {
    const auto& g = s.fleet[gi];
    std::string first, last;
    std::size_t n = 0;
    for (const auto& t : e.things)
      if (t.group == gi) {
        if (n++ == 0) first = t.name;
        last = t.name;
      }
    std::string range = n == 0 ? "-" : n == 1 ? first : first + " … " + last;
    const auto& b = g.baseline;
    fleet.add({g.name, std::to_string(n), range, g.thing_group,
               format_rate(b.publish.rate) + " ±" + format_number(b.publish.jitter * 100, 0) + "% qos" +
                   std::to_string(b.publish.qos),
               b.publish.payload.describe(), b.receive.topic.empty() ? "-" : format_rate(b.receive.rate),
               b.device_metrics.enabled ? "every " + format_duration(b.device_metrics.every) : "-"});
  }
  fleet.print(out);

  out << "\nAnomalies: " << e.occurrences.size() << " thing-occurrences up to " << format_duration(e.horizon)
      << (in.start_is_assumed ? " (times are offsets from the start)" : "") << "\n";
  Table occ({"start", "end", "anomaly", "kind", "thing", "strength"});
  const std::size_t shown_max = 200;
  for (std::size_t i = 0; i < e.occurrences.size() && i < shown_max; ++i) {
    const auto& o = e.occurrences[i];
    const auto& a = s.anomalies[o.anomaly];
    occ.add({when(in, o.start), when(in, o.end), a.name, std::string(kind_info(a.kind).name), thing_name(s, o.thing),
             a.strength.text});
  }
  occ.print(out);
  if (e.occurrences.size() > shown_max)
    out << "  … and " << e.occurrences.size() - shown_max << " more (use --format csv or json for all)\n";

  out << "\nExpected per-window values (window " << format_duration(window) << "), affected thing vs baseline\n";
  Table fx({"anomaly", "group", "metric", "role", "baseline (low..high)", "during", "ratio", "verdict"});
  for (const auto& f : all_effects(s, e, window))
    for (const auto& m : f.effects)
      fx.add({f.anomaly->name, f.group->name, m.metric, m.primary ? "primary" : "side",
              value_text(m.baseline.low) + ".." + value_text(m.baseline.high), value_text(m.during),
              m.ratio > 0 ? "x" + value_text(m.ratio) : "-", std::string(describe(m.verdict))});
  fx.print(out);
  return out.str();
}

}  // namespace

std::string render_plan(const PlanInput& in, PlanFormat format) {
  const Scenario& s = *in.scenario;
  auto e = expand(s, in.shard, in.horizon, in.start);
  Millis window = evaluation_window(s);
  switch (format) {
    case PlanFormat::json: return render_json(in, e, window);
    case PlanFormat::csv: return render_csv(in, e, window);
    case PlanFormat::table: return render_table(in, e, window);
  }
  return {};
}

}  // namespace fleetsim::scenario

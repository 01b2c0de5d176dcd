// report.md, junit.xml and the terminal summary, from report.json's content.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "sim/core/units.hpp"
#include "sim/harness/run_report.hpp"

namespace fleetsim::harness {

namespace {

using json = nlohmann::json;

std::string num(const json& v, int decimals = 3) { return v.is_number() ? format_number(v.get<double>(), decimals) : "-"; }

// Durations to the second: report figures are milliseconds, people read "2m30s".
std::string dur(const json& ms) {
  if (!ms.is_number()) return "-";
  auto v = ms.get<double>();
  return v < 1000 ? format_number(v, 0) + "ms" : format_duration(Millis(std::llround(v / 1000) * 1000));
}


// Nearest-rank p90 of a kind's detection times.
json kind_p90(const json& report, const std::string& kind) {
  std::vector<double> v;
  for (const auto& w : report["windows"])
    if (w["kind"] == kind && w["time_to_detect_ms"].is_number()) v.push_back(w["time_to_detect_ms"].get<double>());
  if (v.empty()) return json();
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(0.9 * double(v.size())));
  return v[std::max<std::size_t>(rank, 1) - 1];
}

std::map<std::string, json> regressions_by_figure(const json& report) {
  std::map<std::string, json> out;
  if (report.contains("comparison") && report["comparison"].is_object())
    for (const auto& r : report["comparison"]["regressions"]) out[r["figure"].get<std::string>()] = r;
  return out;
}

std::string miss_detail(const json& w) {
  std::string out;
  for (const auto& [metric, m] : w["metrics"].items()) {
    if (!out.empty()) out += "; ";
    out += metric + " " + m["movement"].get<std::string>();
    if (m["movement"] != "unknown")
      out += " (baseline median " + num(m["baseline_median"]) + ", extreme " + num(m["extreme"]) + ")";
  }
  if (w["already_in_alarm"].get<bool>()) out += out.empty() ? "already in alarm" : "; already in alarm";
  return out.empty() ? "no metric values" : out;
}

std::string verdict_text(const json& w) {
  auto v = w["verdict"].get<std::string>();
  if (v == "unknown") return "missed, delivery unknown (no metric values)";
  std::replace(v.begin(), v.end(), '_', ' ');
  return v;
}

std::string headline(const json& r) {
  std::ostringstream o;
  o << "anomalies " << r["anomalies"] << ", detected " << r["detected"] << ", recall " << num(r["recall"]) << " at "
    << (r["confidence"].get<std::string>().empty() ? "any confidence" : r["confidence"].get<std::string>())
    << "; precision " << num(r["precision"]) << "; false alarms " << r["false_alarms"] << " ("
    << num(r["false_alarms_per_thing_day"]) << " per thing-day)";
  return o.str();
}

std::string secondary(const json& r) {
  const auto& t = r["time_to_detect_ms"];
  const auto& c = r["time_to_clear_ms"];
  return "time to detect p50 " + dur(t["p50"]) + ", p90 " + dur(t["p90"]) + ", p99 " + dur(t["p99"]) +
         "; time to clear p50 " + dur(c["p50"]) + ", p90 " + dur(c["p90"]) + "; NAB " + num(r["nab"]["score"], 1) +
         "; range-based recall " + num(r["range_based"]["recall"]) + ", precision " + num(r["range_based"]["precision"]);
}

}  // namespace

std::string render_terminal(const json& r, const std::filesystem::path& html) {
  std::ostringstream o;
  auto reg = regressions_by_figure(r);
  o << headline(r) << "\n  " << secondary(r) << "\n";
  o << "  " << std::left << std::setw(26) << "kind" << std::setw(10) << "detected" << std::setw(8) << "recall"
    << "ttd p90\n";
  for (const auto& [kind, k] : r["by_kind"].items()) {
    std::string det = std::to_string(k["detected"].get<std::size_t>()) + "/" + std::to_string(k["total"].get<std::size_t>());
    o << "  " << std::setw(26) << kind << std::setw(10) << det << std::setw(8) << num(k["recall"]) << dur(kind_p90(r, kind));
    if (reg.count("recall[" + kind + "]")) o << "  REGRESSED (was " << num(reg["recall[" + kind + "]"]["previous"]) << ")";
    o << "\n";
  }
  if (!r["by_confidence"].empty()) {
    o << "  by confidence:";
    for (const auto& level : confidence_levels())
      if (r["by_confidence"].contains(level)) o << " " << level << " " << num(r["by_confidence"][level]["recall"]);
    o << "\n";
  }
  std::size_t shown = 0;
  for (const auto& w : r["windows"])
    if (!w["detected"].get<bool>() && shown++ < 10)
      o << "  missed " << w["id"].get<std::string>() << " (" << w["kind"].get<std::string>() << "): " << verdict_text(w)
        << "\n";
  for (const auto& m : r["expectations_missed"]) o << "MISSED: " << m.get<std::string>() << "\n";
  if (r["comparison"].is_object())
    for (const auto& g : r["comparison"]["regressions"])
      o << "REGRESSION: " << g["figure"].get<std::string>() << " " << num(g["previous"]) << " -> " << num(g["current"])
        << "\n";
  o << "report: " << html.string() << "\n";
  return o.str();
}

std::string render_markdown(const json& r) {
  std::ostringstream o;
  auto reg = regressions_by_figure(r);
  bool levels = !r["by_confidence"].empty();
  o << "# Detection report: " << r["scenario"]["name"].get<std::string>() << "\n\n";
  o << "**Recall " << num(r["recall"]) << "** (" << r["detected"] << " of " << r["anomalies"] << " anomalies at "
    << r["confidence"].get<std::string>() << " confidence) · precision " << num(r["precision"]) << " · false alarms "
    << r["false_alarms"] << " (" << num(r["false_alarms_per_thing_day"]) << " per thing-day over "
    << num(r["clean_thing_days"], 2) << " clean thing-days)\n\n";
  o << secondary(r) << ".\n\n";
  o << "Run `" << r["run"]["id"].get<std::string>() << "`, " << r["run"]["start"].get<std::string>() << " to "
    << r["run"]["end"].get<std::string>() << ", grace " << r["run"]["grace"].get<std::string>() << ", events from "
    << r["sources"]["violations"].get<std::string>() << ".\n\n";
  o << "| kind | detected | recall | ttd p90 |";
  if (levels) o << " LOW | MEDIUM | HIGH |";
  o << "\n|---|---|---|---|" << (levels ? "---|---|---|" : "") << "\n";
  for (const auto& [kind, k] : r["by_kind"].items()) {
    o << "| " << kind << " | " << k["detected"] << "/" << k["total"] << " | " << num(k["recall"]);
    if (reg.count("recall[" + kind + "]")) o << " ▼ (was " << num(reg["recall[" + kind + "]"]["previous"]) << ")";
    o << " | " << dur(kind_p90(r, kind)) << " |";
    if (levels)
      for (const auto& level : confidence_levels()) {
        const auto& bk = r["by_confidence"][level]["by_kind"];
        o << " " << (bk.contains(kind) ? num(bk[kind]["recall"]) : "-") << " |";
      }
    o << "\n";
  }
  if (!r["expectations"].empty()) {
    o << "\n## Expectations\n\n| gate | threshold | actual | verdict |\n|---|---|---|---|\n";
    for (const auto& e : r["expectations"]) {
      bool time = e["name"].get<std::string>().starts_with("time_to_detect");
      o << "| " << e["name"].get<std::string>() << " | " << (time ? dur(e["threshold"]) : num(e["threshold"])) << " | "
        << (time ? dur(e["actual"]) : num(e["actual"])) << " | " << (e["passed"].get<bool>() ? "pass" : "**MISSED**")
        << " |\n";
    }
  }
  std::ostringstream misses;
  for (const auto& w : r["windows"])
    if (!w["detected"].get<bool>())
      misses << "| `" << w["id"].get<std::string>() << "` | " << w["kind"].get<std::string>() << " | "
             << verdict_text(w) << " | " << miss_detail(w) << " |\n";
  if (!misses.str().empty())
    o << "\n## Misses\n\n\"not delivered\": the metric did not move, the anomaly never reached the detector; "
         "\"not detected\": it moved and no alarm came.\n\n| anomaly | kind | verdict | metrics |\n|---|---|---|---|\n"
      << misses.str();
  if (r["comparison"].is_object()) {
    o << "\n## Compared with `" << r["comparison"]["previous"].get<std::string>() << "`\n\n";
    if (r["comparison"]["regressions"].empty()) o << "No regressions.\n";
    for (const auto& g : r["comparison"]["regressions"]) {
      bool time = g["figure"].get<std::string>().starts_with("time_to_detect");
      o << "- **regression** " << g["figure"].get<std::string>() << ": "
        << (time ? dur(g["previous"]) : num(g["previous"])) << " → " << (time ? dur(g["current"]) : num(g["current"]))
        << "\n";
    }
  }
  o << "\nExit code " << r["exit_code"] << ". Full figures: report.json; charts: report.html.\n";
  return o.str();
}

std::string render_junit(const json& r) {
  std::ostringstream cases;
  std::size_t tests = 0, failures = 0;
  auto suite = [&](const std::string& name, const std::string& body, std::size_t n, std::size_t f) {
    cases << "  <testsuite name=\"" << escape_markup(name) << "\" tests=\"" << n << "\" failures=\"" << f << "\">\n"
          << body << "  </testsuite>\n";
    tests += n;
    failures += f;
  };
  std::ostringstream a;
  std::size_t an = 0, af = 0;
  for (const auto& w : r["windows"]) {
    ++an;
    double seconds = w["time_to_detect_ms"].is_number() ? w["time_to_detect_ms"].get<double>() / 1000 : 0;
    a << "    <testcase classname=\"anomalies." << escape_markup(w["kind"].get<std::string>()) << "\" name=\""
      << escape_markup(w["id"].get<std::string>()) << "\" time=\"" << format_number(seconds, 3) << "\"";
    if (w["detected"].get<bool>()) {
      a << "/>\n";
      continue;
    }
    ++af;
    a << ">\n      <failure type=\"" << escape_markup(w["verdict"].get<std::string>()) << "\" message=\""
      << escape_markup(w["id"].get<std::string>() + " " + verdict_text(w)) << "\">"
      << escape_markup(w["thing"].get<std::string>() + " " + w["start"].get<std::string>() + " to " + w["end"].get<std::string>() +
             ": " + miss_detail(w))
      << "</failure>\n    </testcase>\n";
  }
  suite("anomalies", a.str(), an, af);
  std::ostringstream e;
  std::size_t en = 0, ef = 0;
  for (const auto& x : r["expectations"]) {
    ++en;
    e << "    <testcase classname=\"expectations\" name=\"" << escape_markup(x["name"].get<std::string>()) << "\"";
    if (x["passed"].get<bool>()) {
      e << "/>\n";
      continue;
    }
    ++ef;
    auto text = x["name"].get<std::string>() + ": actual " + x["actual"].dump() + ", threshold " + x["threshold"].dump();
    e << ">\n      <failure type=\"expectation\" message=\"" << escape_markup(text) << "\">" << escape_markup(text)
      << "</failure>\n    </testcase>\n";
  }
  suite("expectations", e.str(), en, ef);
  if (r["comparison"].is_object()) {
    std::ostringstream c;
    std::size_t cf = 0;
    for (const auto& g : r["comparison"]["regressions"]) {
      ++cf;
      auto text = g["figure"].get<std::string>() + " " + num(g["previous"]) + " -> " + num(g["current"]);
      c << "    <testcase classname=\"regressions\" name=\"" << escape_markup(g["figure"].get<std::string>())
        << "\">\n      <failure type=\"regression\" message=\"" << escape_markup(text) << "\">" << escape_markup(text)
        << "</failure>\n    </testcase>\n";
    }
    if (cf == 0) c << "    <testcase classname=\"regressions\" name=\"no regression\"/>\n";
    suite("regressions", c.str(), std::max<std::size_t>(cf, 1), cf);
  }
  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"fleetsim "
    << escape_markup(r["scenario"]["name"].get<std::string>()) << "\" tests=\"" << tests << "\" failures=\"" << failures
    << "\">\n" << cases.str() << "</testsuites>\n";
  return o.str();
}

std::string escape_markup(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace fleetsim::harness

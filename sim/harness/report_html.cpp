// report.html: one self-contained page (inline CSS and JS, no network). The tables are written here;
// the charts are drawn as inline SVG by the embedded script from the JSON embedded next to it. Each
// chart container gets data-rendered="N" (N elements drawn) once drawn, which the system test checks.
#include <cmath>
#include <sstream>

#include "sim/core/units.hpp"
#include "sim/harness/run_report.hpp"

namespace fleetsim::harness {

namespace {

using json = nlohmann::json;


std::string num(const json& v, int decimals = 3) { return v.is_number() ? format_number(v.get<double>(), decimals) : "–"; }

// Milliseconds to the nearest second, as the other reports show them.
std::string dur(const json& ms) {
  return ms.is_number() ? format_duration(Millis(std::llround(ms.get<double>() / 1000) * 1000)) : "–";
}

// JSON inside <script>: "</" would end the element early, "\/" means the same in JSON.
std::string script_json(const json& j) {
  auto s = j.dump();
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() && s[i + 1] == '/') out += "<\\";
    else out += s[i];
  }
  return out;
}

const char* style = R"CSS(
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1d2733;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde3ea;padding-bottom:4px}
.sub{color:#5b6b7c;margin-bottom:16px} .cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid #dde3ea;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px} .card span{color:#5b6b7c;font-size:12px}
.bad{color:#b42318} .good{color:#067647} table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #dde3ea;padding:4px 8px;text-align:left} th{background:#f3f6f9}
.charts{display:flex;flex-wrap:wrap;gap:24px} .chart{min-width:360px} .thing{margin:6px 0}
.legend span{display:inline-block;margin-right:14px} .sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}
svg text{font:11px system-ui,sans-serif;fill:#1d2733}
)CSS";

const char* script = R"JS(
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var report = data.report, timeline = data.timeline;
  var NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, anchor) {
    var t = el('text', {x: x, y: y, 'text-anchor': anchor || 'start'}, parent);
    t.textContent = s;
    return t;
  }
  function svg(container, w, h) { return el('svg', {width: w, height: h, viewBox: '0 0 ' + w + ' ' + h}, container); }
  function colour(r) { return r >= 0.8 ? '#2e90fa' : r >= 0.5 ? '#f79009' : '#d92d20'; }
  function fmtDur(ms) {
    if (ms == null) return '-';
    var s = Math.round(ms / 1000);
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    return m < 60 ? m + 'm' + (s % 60 ? (s % 60) + 's' : '') : Math.floor(m / 60) + 'h' + (m % 60 ? (m % 60) + 'm' : '');
  }
  function bars(id, rows) {  // rows: [{label, value (0..1), note}]
    var c = document.getElementById(id), rowH = 24, w = 520, left = 190;
    var s = svg(c, w, rows.length * rowH + 24), n = 0;
    rows.forEach(function (r, i) {
      var y = i * rowH + 4, bw = (w - left - 70) * Math.max(0, Math.min(1, r.value));
      text(s, left - 6, y + 15, r.label, 'end');
      el('rect', {x: left, y: y, width: w - left - 70, height: rowH - 6, fill: '#eef2f6'}, s);
      el('rect', {x: left, y: y, width: Math.max(bw, 1), height: rowH - 6, fill: colour(r.value), 'class': 'bar'}, s);
      text(s, left + bw + 4, y + 15, r.note);
      n++;
    });
    c.setAttribute('data-rendered', String(n));
  }
  // Recall by kind.
  var kinds = Object.keys(report.by_kind).map(function (k) {
    var v = report.by_kind[k];
    return {label: k, value: v.recall, note: v.detected + '/' + v.total};
  });
  bars('chart-kind', kinds);
  // Recall by confidence level (nested), or the headline level alone when events carry none.
  var levels = ['LOW', 'MEDIUM', 'HIGH'].filter(function (l) { return report.by_confidence[l]; }).map(function (l) {
    var v = report.by_confidence[l];
    return {label: l, value: v.recall, note: v.detected + '/' + v.total + ', ' + v.false_alarms + ' FA'};
  });
  if (!levels.length) levels = [{label: report.confidence || 'all', value: report.recall, note: report.detected + '/' + report.anomalies}];
  bars('chart-confidence', levels);
  // Time-to-detect distribution: a histogram of the detected windows.
  (function () {
    var c = document.getElementById('chart-ttd');
    var v = report.windows.filter(function (w) { return w.time_to_detect_ms != null; }).map(function (w) { return w.time_to_detect_ms; });
    var w = 520, h = 200, bins = 12, s = svg(c, w, h + 30);
    if (!v.length) { text(s, 10, 20, 'no detections'); c.setAttribute('data-rendered', '0'); return; }
    var top_v = Math.max.apply(null, v) || 1, max = top_v * 1.1, counts = new Array(bins).fill(0);
    v.forEach(function (x) { counts[Math.min(bins - 1, Math.floor(x / max * bins))]++; });
    var top = Math.max.apply(null, counts), bw = (w - 40) / bins, n = 0;
    counts.forEach(function (k, i) {
      if (!k) return;
      var bh = (h - 20) * k / top;
      el('rect', {x: 30 + i * bw, y: h - bh, width: bw - 2, height: bh, fill: '#2e90fa', 'class': 'bar'}, s);
      text(s, 30 + i * bw + bw / 2, h - bh - 3, String(k), 'middle');
      n++;
    });
    el('line', {x1: 30, y1: h, x2: w - 10, y2: h, stroke: '#5b6b7c'}, s);
    text(s, 30, h + 16, '0');
    text(s, w - 10, h + 16, fmtDur(max), 'end');
    ['p50', 'p90', 'p99'].forEach(function (p, i) {
      var t = report.time_to_detect_ms[p];
      if (t == null) return;
      var x = 30 + (w - 40) * t / max, right = x > w - 120;
      el('line', {x1: x, y1: 10, x2: x, y2: h, stroke: '#1d2733', 'stroke-dasharray': '3 3'}, s);
      text(s, right ? x - 3 : x + 3, 12 + 12 * i, p + ' ' + fmtDur(t), right ? 'end' : 'start');
    });
    c.setAttribute('data-rendered', String(n));
  })();
  // A timeline per thing: anomaly windows, alarm ranges and the metric values.
  (function () {
    var c = document.getElementById('timelines'), t0 = report.run.start_ms, t1 = report.run.end_ms + report.run.grace_ms;
    var w = 1100, h = 90, left = 170, n = 0;
    function x(t) { return left + (w - left - 10) * (Math.max(t0, Math.min(t1, t)) - t0) / Math.max(1, t1 - t0); }
    timeline.forEach(function (thing) {
      var div = document.createElement('div');
      div.className = 'thing';
      c.appendChild(div);
      var s = svg(div, w, h);
      text(s, left - 6, 16, thing.thing, 'end');
      el('rect', {x: left, y: 4, width: w - left - 10, height: h - 8, fill: '#fafbfc', stroke: '#dde3ea'}, s);
      thing.windows.forEach(function (win) {
        var r = el('rect', {x: x(win.from), y: 4, width: Math.max(2, x(win.to) - x(win.from)), height: h - 8,
                            fill: win.detected ? 'rgba(46,144,250,0.18)' : 'rgba(217,45,32,0.18)', 'class': 'window'}, s);
        el('title', {}, r).textContent = win.kind + (win.detected ? ' (detected)' : ' (missed)');
      });
      thing.alarms.forEach(function (a, i) {
        var r = el('rect', {x: x(a.from), y: h - 18 - (i % 3) * 5, width: Math.max(2, x(a.to) - x(a.from)), height: 4,
                            fill: a.verdict === 'true' ? '#067647' : a.verdict === 'false' ? '#d92d20' : '#98a2b3', 'class': 'alarm'}, s);
        el('title', {}, r).textContent = a.behavior + ' ' + a.metric + ' (' + a.verdict + ')';
      });
      var palette = ['#6941c6', '#c11574', '#0e9384', '#b54708'], mi = 0;
      Object.keys(thing.metrics).forEach(function (m) {
        var pts = thing.metrics[m];
        if (!pts.length) return;
        var max = Math.max.apply(null, pts.map(function (p) { return p[1]; })) || 1;
        var d = pts.map(function (p) { return x(p[0]).toFixed(1) + ',' + (h - 24 - (h - 36) * p[1] / max).toFixed(1); }).join(' ');
        el('polyline', {points: d, fill: 'none', stroke: palette[mi % palette.length], 'stroke-width': 1.2, 'class': 'metric'}, s);
        text(s, left - 6, 30 + 12 * mi, m.replace('aws:', ''), 'end').setAttribute('fill', palette[mi % palette.length]);
        mi++;
      });
      n++;
    });
    if (timeline.length) {  // the time axis, once, under the last thing
      var axis = svg(c, w, 18);
      function hhmm(t) { return new Date(t).toISOString().substr(11, 5) + 'Z'; }
      for (var k = 0; k <= 6; k++) {
        var t = t0 + (t1 - t0) * k / 6;
        text(axis, x(t), 12, hhmm(t), k === 0 ? 'start' : k === 6 ? 'end' : 'middle');
      }
    }
    if (!timeline.length) c.appendChild(document.createTextNode('No anomaly windows or alarms.'));
    c.setAttribute('data-rendered', String(n));
  })();
  document.body.setAttribute('data-charts', 'done');
})();
)JS";

}  // namespace

std::string render_html(const json& r, const json& timeline) {
  std::ostringstream o;
  bool fa_bad = r["false_alarms"].get<std::size_t>() > 0;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>fleetsim report: "
    << escape_markup(r["scenario"]["name"].get<std::string>()) << "</title><style>" << style << "</style></head><body>\n";
  o << "<h1>Detection report: " << escape_markup(r["scenario"]["name"].get<std::string>()) << "</h1>\n<div class=\"sub\">run "
    << escape_markup(r["run"]["id"].get<std::string>()) << ", " << escape_markup(r["run"]["start"].get<std::string>()) << " to "
    << escape_markup(r["run"]["end"].get<std::string>()) << ", grace " << escape_markup(r["run"]["grace"].get<std::string>())
    << ", events from " << escape_markup(r["sources"]["violations"].get<std::string>()) << ", confidence "
    << escape_markup(r["confidence"].get<std::string>()) << "</div>\n<div class=\"cards\">";
  auto card = [&](const std::string& value, const std::string& label, const std::string& cls = "") {
    o << "<div class=\"card\"><b class=\"" << cls << "\">" << escape_markup(value) << "</b><span>" << escape_markup(label) << "</span></div>";
  };
  card(num(r["recall"]), "recall (" + r["detected"].dump() + "/" + r["anomalies"].dump() + ")",
       r["recall"].get<double>() >= 0.8 ? "good" : "bad");
  card(num(r["precision"]), "precision");
  card(r["false_alarms"].dump(), "false alarms (" + num(r["false_alarms_per_thing_day"]) + "/thing-day)", fa_bad ? "bad" : "good");
  card(dur(r["time_to_detect_ms"]["p90"]), "time to detect p90");
  card(num(r["nab"]["score"], 1), "NAB score (standard)");
  card(num(r["range_based"]["f1"]), "range-based F1");
  o << "</div>\n";
  if (!r["expectations"].empty()) {
    o << "<h2>Expectations</h2><table><tr><th>gate</th><th>threshold</th><th>actual</th><th>verdict</th></tr>";
    for (const auto& e : r["expectations"]) {
      bool time = e["name"].get<std::string>().starts_with("time_to_detect");
      auto show = [&](const json& v) {
        return time ? dur(v) : num(v);
      };
      o << "<tr><td>" << escape_markup(e["name"].get<std::string>()) << "</td><td>" << show(e["threshold"]) << "</td><td>"
        << show(e["actual"]) << "</td><td class=\"" << (e["passed"].get<bool>() ? "good\">pass" : "bad\">MISSED")
        << "</td></tr>";
    }
    o << "</table>\n";
  }
  if (r["comparison"].is_object()) {
    o << "<h2>Compared with " << escape_markup(r["comparison"]["previous"].get<std::string>()) << "</h2><ul>";
    if (r["comparison"]["regressions"].empty()) o << "<li class=\"good\">no regressions</li>";
    for (const auto& g : r["comparison"]["regressions"])
      o << "<li class=\"bad regression\">regression: " << escape_markup(g["figure"].get<std::string>()) << " " << num(g["previous"])
        << " &rarr; " << num(g["current"]) << "</li>";
    o << "</ul>\n";
  }
  o << "<h2>Charts</h2><div class=\"charts\">"
       "<div><h3>Recall by kind</h3><div class=\"chart\" id=\"chart-kind\"></div></div>"
       "<div><h3>Recall by confidence</h3><div class=\"chart\" id=\"chart-confidence\"></div></div>"
       "<div><h3>Time to detect</h3><div class=\"chart\" id=\"chart-ttd\"></div></div></div>\n";
  o << "<h2>Timeline per thing</h2><div class=\"legend\"><span><i class=\"sw\" style=\"background:rgba(46,144,250,.3)\"></i>"
       "anomaly detected</span><span><i class=\"sw\" style=\"background:rgba(217,45,32,.3)\"></i>anomaly missed</span>"
       "<span><i class=\"sw\" style=\"background:#067647\"></i>alarm (true)</span><span><i class=\"sw\" "
       "style=\"background:#d92d20\"></i>false alarm</span><span><i class=\"sw\" style=\"background:#98a2b3\"></i>other "
       "alarm</span><span>lines: metric values</span></div><div id=\"timelines\"></div>\n";
  o << "<h2>Anomalies</h2><table><tr><th>anomaly</th><th>kind</th><th>thing</th><th>verdict</th><th>time to detect</th>"
       "<th>detected on</th></tr>";
  for (const auto& w : r["windows"])
    o << "<tr><td>" << escape_markup(w["id"].get<std::string>()) << "</td><td>" << escape_markup(w["kind"].get<std::string>()) << "</td><td>"
      << escape_markup(w["thing"].get<std::string>()) << "</td><td class=\"" << (w["detected"].get<bool>() ? "good" : "bad") << "\">"
      << escape_markup(w["verdict"].get<std::string>()) << "</td><td>"
      << dur(w["time_to_detect_ms"])
      << "</td><td>" << escape_markup(w["detected_on"].dump()) << "</td></tr>";
  o << "</table>\n<script type=\"application/json\" id=\"report-data\">"
    << script_json(json{{"report", r}, {"timeline", timeline}}) << "</script>\n<script>" << script
    << "</script>\n</body></html>\n";
  return o.str();
}

}  // namespace fleetsim::harness

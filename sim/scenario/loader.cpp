#include "sim/scenario/loader.hpp"

#include <fstream>
#include <sstream>

#include "sim/core/sha256.hpp"
#include "sim/core/text.hpp"
#include "sim/scenario/behaviors.hpp"
#include "sim/scenario/yaml_reader.hpp"

namespace fleetsim::scenario {

using detail::Map;
using detail::Reader;

bool LoadResult::ok() const {
  if (!scenario) return false;
  for (const auto& d : diagnostics)
    if (d.severity == Diagnostic::Severity::error) return false;
  return true;
}

namespace {

// Calls `f(value)` when `key` is present in `m`.
template <class F>
void with(const Map& m, std::string_view key, F&& f) {
  if (auto v = m.get(key); v.IsDefined()) f(v);
}

template <class T>
void assign(std::optional<T> v, T& out) {
  if (v) out = std::move(*v);
}

void read_target(Reader& r, const YAML::Node& n, Target& out) {
  out.where = r.at(n);
  YAML::Node url_node = n;
  std::optional<Map> m;
  if (n.IsMap()) {
    m = r.map(n, "target", {"url", "region", "ca_file", "cert_file", "key_file", "server_name", "verify_peer"});
    if (!m) return;
    url_node = m->require("url");
    if (!url_node.IsDefined()) return;
  }
  auto text = r.scalar(url_node, "target", "local, aws, mqtt://HOST:PORT or mqtts://HOST:PORT");
  if (!text) return;
  auto t = parse_target(*text);
  if (!t) {
    r.error(url_node, "target: " + t.error());
    return;
  }
  out = *t;
  out.where = r.at(n);
  if (!m) return;
  with(*m, "region", [&](auto v) { assign(r.string(v, "target.region"), out.region); });
  with(*m, "ca_file", [&](auto v) { assign(r.string(v, "target.ca_file"), out.ca_file); });
  with(*m, "cert_file", [&](auto v) { assign(r.string(v, "target.cert_file"), out.cert_file); });
  with(*m, "key_file", [&](auto v) { assign(r.string(v, "target.key_file"), out.key_file); });
  with(*m, "server_name", [&](auto v) { assign(r.string(v, "target.server_name"), out.server_name); });
  with(*m, "verify_peer", [&](auto v) { assign(r.boolean(v, "target.verify_peer"), out.verify_peer); });
  if (out.kind == Target::Kind::local && m->entries().size() > 1)
    r.error(n, "target 'local' takes no other settings", "remove them, or set url to mqtts://HOST:PORT or aws");
}

void read_clock(Reader& r, const YAML::Node& n, ClockSettings& out) {
  auto m = r.map(n, "clock", {"time_scale", "start", "duration"});
  if (!m) return;
  with(*m, "time_scale", [&](auto v) { assign(r.number(v, "clock.time_scale", 1, 100000), out.time_scale); });
  with(*m, "start", [&](auto v) {
    auto s = r.scalar(v, "clock.start", "now or an RFC 3339 instant such as 2026-12-05T02:00:00Z");
    if (!s || *s == "now") return;
    if (auto t = parse_rfc3339(*s)) out.start = *t;
    else r.error(v, "clock.start: " + t.error(), "or write now");
  });
  with(*m, "duration", [&](auto v) {
    auto s = r.scalar(v, "clock.duration", "a duration such as 2h, or until-stopped");
    if (!s || *s == "until-stopped") return;
    out.duration = r.duration(v, "clock.duration", Millis(1000));
  });
}

void read_connection(Reader& r, const YAML::Node& n, ConnectionSettings& out) {
  auto m = r.map(n, "connection",
                 {"ramp", "max_connecting", "keep_alive", "backoff_initial", "backoff_max",
                  "publishes_per_connection", "connects_per_client_id", "account_connects", "account_quota_raised"});
  if (!m) return;
  with(*m, "ramp", [&](auto v) { assign(r.rate(v, "connection.ramp"), out.ramp); });
  with(*m, "max_connecting",
       [&](auto v) { assign(r.count(v, "connection.max_connecting", 1, 100000), out.max_connecting); });
  with(*m, "keep_alive", [&](auto v) { assign(r.duration(v, "connection.keep_alive", Millis(1000)), out.keep_alive); });
  with(*m, "backoff_initial",
       [&](auto v) { assign(r.duration(v, "connection.backoff_initial", Millis(10)), out.backoff_initial); });
  with(*m, "backoff_max", [&](auto v) { assign(r.duration(v, "connection.backoff_max", Millis(10)), out.backoff_max); });
  with(*m, "publishes_per_connection",
       [&](auto v) { assign(r.rate(v, "connection.publishes_per_connection"), out.publishes_per_connection); });
  with(*m, "connects_per_client_id",
       [&](auto v) { assign(r.rate(v, "connection.connects_per_client_id"), out.connects_per_client_id); });
  with(*m, "account_connects", [&](auto v) { assign(r.rate(v, "connection.account_connects"), out.account_connects); });
  with(*m, "account_quota_raised",
       [&](auto v) { assign(r.boolean(v, "connection.account_quota_raised"), out.account_quota_raised); });
}

// `256B`, `200B..400B` (uniform), or {mean: 300B, stddev: 40B} (normal).
void read_payload(Reader& r, const YAML::Node& n, std::string_view what, SizeDistribution& out) {
  if (n.IsMap()) {
    auto m = r.map(n, what, {"mean", "stddev", "min", "max"});
    if (!m) return;
    bool normal = m->has("mean") || m->has("stddev");
    bool uniform = m->has("min") || m->has("max");
    if (normal == uniform) {
      r.error(n, std::string(what) + " needs either mean and stddev (normal) or min and max (uniform)");
      return;
    }
    auto first = r.size(m->require(normal ? "mean" : "min"), std::string(what) + (normal ? ".mean" : ".min"));
    auto second = r.size(m->require(normal ? "stddev" : "max"), std::string(what) + (normal ? ".stddev" : ".max"));
    if (!first || !second) return;
    out = {normal ? SizeDistribution::Kind::normal : SizeDistribution::Kind::uniform, double(*first), double(*second)};
    if (uniform && *second < *first) r.error(n, std::string(what) + ": max is smaller than min");
    return;
  }
  auto s = r.scalar(n, what, "a size such as 256B, a range such as 200B..400B, or {mean, stddev}");
  if (!s) return;
  if (auto dots = s->find(".."); dots != std::string::npos) {
    auto lo = parse_size(s->substr(0, dots));
    auto hi = parse_size(s->substr(dots + 2));
    if (!lo || !hi) {
      r.error(n, std::string(what) + ": " + (!lo ? lo.error() : hi.error()));
      return;
    }
    if (*hi < *lo) r.error(n, std::string(what) + ": the range's upper end is smaller than its lower end");
    out = {SizeDistribution::Kind::uniform, double(*lo), double(*hi)};
    return;
  }
  if (auto size = r.size(n, what)) out = {SizeDistribution::Kind::fixed, double(*size), 0};
}

void read_publish(Reader& r, const YAML::Node& n, const std::string& what, PublishBaseline& out) {
  auto m = r.map(n, what, {"topic", "rate", "jitter", "qos", "payload"});
  if (!m) return;
  assign(r.string(m->require("topic"), what + ".topic"), out.topic);
  assign(r.rate(m->require("rate"), what + ".rate"), out.rate);
  with(*m, "jitter", [&](auto v) { assign(r.fraction(v, what + ".jitter"), out.jitter); });
  with(*m, "qos", [&](auto v) {
    if (auto q = r.count(v, what + ".qos (AWS IoT supports QoS 0 and 1)", 0, 1)) out.qos = int(*q);
  });
  with(*m, "payload", [&](auto v) { read_payload(r, v, what + ".payload", out.payload); });
}

void read_receive(Reader& r, const YAML::Node& n, const std::string& what, ReceiveBaseline& out) {
  auto m = r.map(n, what, {"topic", "rate", "qos", "payload"});
  if (!m) return;
  assign(r.string(m->require("topic"), what + ".topic"), out.topic);
  assign(r.rate(m->require("rate"), what + ".rate"), out.rate);
  with(*m, "qos", [&](auto v) {
    if (auto q = r.count(v, what + ".qos (AWS IoT supports QoS 0 and 1)", 0, 1)) out.qos = int(*q);
  });
  with(*m, "payload", [&](auto v) { read_payload(r, v, what + ".payload", out.payload); });
}

std::vector<int> read_ports(Reader& r, const YAML::Node& n, const std::string& what) {
  std::vector<int> ports;
  auto items = r.list(n, what);
  if (!items) return ports;
  for (const auto& item : *items)
    if (auto p = r.count(item, what + " item (a port)", 1, 65535)) ports.push_back(int(*p));
  return ports;
}

void read_device_metrics(Reader& r, const YAML::Node& n, const std::string& what, DeviceMetricsBaseline& out) {
  auto m = r.map(n, what,
                 {"every", "bytes_in", "bytes_out", "packets_in", "packets_out", "listening_tcp_ports",
                  "listening_udp_ports", "established_connections", "jitter"});
  if (!m) return;
  out.enabled = true;
  with(*m, "every", [&](auto v) { assign(r.duration(v, what + ".every", Millis(1000)), out.every); });
  auto auto_or = [&](std::string_view key, bool is_size, std::optional<std::uint64_t>& field) {
    with(*m, key, [&](auto v) {
      if (v.IsScalar() && v.Scalar() == "auto") return;
      std::string w = what + "." + std::string(key);
      field = is_size ? r.size(v, w) : r.count(v, w + " (or auto)", 0, 1'000'000'000'000ULL);
    });
  };
  auto_or("bytes_in", true, out.bytes_in);
  auto_or("bytes_out", true, out.bytes_out);
  auto_or("packets_in", false, out.packets_in);
  auto_or("packets_out", false, out.packets_out);
  with(*m, "listening_tcp_ports", [&](auto v) { out.listening_tcp_ports = read_ports(r, v, what + ".listening_tcp_ports"); });
  with(*m, "listening_udp_ports", [&](auto v) { out.listening_udp_ports = read_ports(r, v, what + ".listening_udp_ports"); });
  with(*m, "established_connections", [&](auto v) {
    assign(r.count(v, what + ".established_connections", 0, 65535), out.established_connections);
  });
  with(*m, "jitter", [&](auto v) { assign(r.fraction(v, what + ".jitter"), out.jitter); });
}

void read_baseline(Reader& r, const YAML::Node& n, const std::string& what, Baseline& out) {
  auto m = r.map(n, what, {"publish", "receive", "reconnects", "device_metrics", "diurnal"});
  if (!m) return;
  read_publish(r, m->require("publish"), what + ".publish", out.publish);
  with(*m, "receive", [&](auto v) { read_receive(r, v, what + ".receive", out.receive); });
  with(*m, "reconnects", [&](auto v) { assign(r.rate(v, what + ".reconnects"), out.reconnects); });
  with(*m, "device_metrics", [&](auto v) { read_device_metrics(r, v, what + ".device_metrics", out.device_metrics); });
  with(*m, "diurnal", [&](auto v) {
    auto d = r.map(v, what + ".diurnal", {"amplitude", "peak"});
    if (!d) return;
    with(*d, "amplitude", [&](auto a) { assign(r.fraction(a, what + ".diurnal.amplitude"), out.diurnal.amplitude); });
    with(*d, "peak", [&](auto p) {
      auto s = r.scalar(p, what + ".diurnal.peak", "a UTC time of day such as \"14:00\"");
      if (!s) return;
      if (auto t = parse_time_of_day(*s)) out.diurnal.peak = *t;
      else r.error(p, what + ".diurnal.peak: " + t.error());
    });
  });
}

void read_group(Reader& r, const YAML::Node& n, std::size_t index, FleetGroup& out) {
  std::string what = "fleet[" + std::to_string(index) + "]";
  out.where = r.at(n);
  auto m = r.map(n, what, {"group", "count", "thing_name", "thing_group", "topics", "baseline"});
  if (!m) return;
  assign(r.string(m->require("group"), what + ".group"), out.name);
  if (!out.name.empty()) what = "fleet group '" + out.name + "'";
  assign(r.count(m->require("count"), what + ".count", 1, 1'000'000), out.count);
  out.thing_name = "{group}-{index:04}";
  with(*m, "thing_name", [&](auto v) { assign(r.string(v, what + ".thing_name"), out.thing_name); });
  out.thing_group = out.name;
  with(*m, "thing_group", [&](auto v) { assign(r.string(v, what + ".thing_group"), out.thing_group); });
  with(*m, "topics", [&](auto v) {
    auto t = r.any_map(v, what + ".topics");
    if (!t) return;
    for (const auto& e : t->entries())
      if (auto s = r.string(e.value, what + ".topics." + e.key)) out.topics[e.key] = *s;
  });
  read_baseline(r, m->require("baseline"), what + ".baseline", out.baseline);
}

void read_things(Reader& r, const YAML::Node& n, const std::string& what, ThingSelector& out) {
  auto m = r.map(n, what, {"group", "count", "fraction", "names", "rotate"});
  if (!m) return;
  with(*m, "group", [&](auto v) { assign(r.string(v, what + ".group"), out.group); });
  with(*m, "count", [&](auto v) { out.count = r.count(v, what + ".count", 1, 1'000'000); });
  with(*m, "fraction", [&](auto v) { out.fraction = r.fraction(v, what + ".fraction"); });
  with(*m, "names", [&](auto v) {
    if (auto items = r.list(v, what + ".names"))
      for (const auto& item : *items)
        if (auto s = r.string(item, what + ".names item")) out.names.push_back(*s);
  });
  with(*m, "rotate", [&](auto v) { assign(r.boolean(v, what + ".rotate"), out.rotate); });
  int ways = int(m->has("count")) + int(m->has("fraction")) + int(m->has("names"));
  if (ways != 1)
    r.error(n, what + " needs exactly one of count, fraction or names",
            "e.g. {group: sensors, count: 2} or {names: [sensor-0001]}");
}

void read_strength(Reader& r, const YAML::Node& n, const std::string& what, const KindInfo& kind, Strength& out) {
  auto s = r.scalar(n, what, "a strength");
  if (!s) return;
  for (auto form : kind.strength_forms) {
    Expected<double> v = unexpected("");
    switch (form) {
      case StrengthForm::multiplier: v = parse_multiplier(*s); break;
      case StrengthForm::rate:
        if (auto rate = parse_rate(*s)) v = rate->per_second;
        break;
      case StrengthForm::size:
        if (auto size = parse_size(*s)) v = double(*size);
        break;
      case StrengthForm::count:
        if (auto c = parse_count(*s)) v = double(*c);
        break;
      case StrengthForm::percent: v = parse_percent(*s); break;
      case StrengthForm::none: break;
    }
    if (v) {
      out = {form, *v, *s};
      return;
    }
  }
  std::string accepted;
  for (std::size_t i = 0; i < kind.strength_forms.size(); ++i)
    accepted += (i ? " or " : "") + std::string(describe(kind.strength_forms[i]));
  r.error(n, what + ": '" + *s + "' is not a strength for " + std::string(kind.name), "write " + accepted);
}

void read_anomaly(Reader& r, const YAML::Node& n, std::size_t index, Anomaly& out) {
  std::string what = "anomalies[" + std::to_string(index) + "]";
  out.where = r.at(n);
  auto m = r.map(n, what,
                 {"name", "kind", "things", "start", "every", "at", "after", "times", "duration", "strength", "mode",
                  "topic"});
  if (!m) return;
  assign(r.string(m->require("name"), what + ".name"), out.name);
  if (!out.name.empty()) what = "anomaly '" + out.name + "'";
  const KindInfo* kind = nullptr;
  if (auto k = m->require("kind"); k.IsDefined()) {
    if (auto s = r.scalar(k, what + ".kind", "an anomaly kind")) {
      kind = find_kind(*s);
      if (!kind) {
        std::vector<std::string_view> names;
        for (const auto& info : anomaly_kinds()) names.push_back(info.name);
        std::string hint = "kinds: " + join_alternatives(names, ", ");
        if (auto close = closest_match(*s, names)) hint = "did you mean '" + *close + "'? " + hint;
        r.error(k, what + ": unknown kind '" + *s + "'", hint);
      } else {
        out.kind = kind->kind;
      }
    }
  }
  read_things(r, m->require("things"), what + ".things", out.things);
  with(*m, "start", [&](auto v) { out.when.start = r.duration(v, what + ".start"); });
  with(*m, "every", [&](auto v) { out.when.every = r.duration(v, what + ".every", Millis(60'000)); });
  with(*m, "at", [&](auto v) {
    auto s = r.scalar(v, what + ".at", "a UTC time of day such as \"02:00\"");
    if (!s) return;
    if (auto t = parse_time_of_day(*s)) out.when.time_of_day = *t;
    else r.error(v, what + ".at: " + t.error());
  });
  with(*m, "after", [&](auto v) { assign(r.duration(v, what + ".after"), out.when.after); });
  with(*m, "times", [&](auto v) { out.when.times = r.count(v, what + ".times", 1, 100000); });
  if (m->has("start") == m->has("every"))
    r.error(n, what + " needs either start (a one-off at an offset) or every (recurring)",
            "e.g. start: 30m, or every: 24h with at: \"02:00\"");
  if (m->has("start"))
    for (auto key : {"at", "after", "times"})
      if (m->has(key)) r.error(m->get(key), what + ": '" + key + "' applies only to recurring anomalies", "use every");
  assign(r.duration(m->require("duration"), what + ".duration", Millis(1000)), out.duration);
  if (!kind) return;
  if (auto v = m->get("strength"); v.IsDefined()) read_strength(r, v, what + ".strength", *kind, out.strength);
  else read_strength(r, YAML::Node(std::string(kind->default_strength)), what + ".strength", *kind, out.strength);
  if (auto v = m->get("mode"); v.IsDefined()) {
    if (kind->modes.empty()) {
      r.error(v, what + ": kind " + std::string(kind->name) + " takes no mode", "remove it");
    } else if (auto s = r.scalar(v, what + ".mode", "a mode")) {
      if (std::find(kind->modes.begin(), kind->modes.end(), *s) == kind->modes.end())
        r.error(v, what + ".mode: '" + *s + "' is not a mode of " + std::string(kind->name),
                "write " + join_alternatives(kind->modes));
      else out.mode = *s;
    }
  } else if (!kind->modes.empty()) {
    out.mode = std::string(kind->modes.front());
  }
  if (auto v = m->get("topic"); v.IsDefined()) {
    if (out.kind != AnomalyKind::authorization_failures)
      r.error(v, what + ": only authorization-failures takes a topic", "remove it");
    else assign(r.string(v, what + ".topic"), out.topic);
  }
}

void read_profile(Reader& r, const YAML::Node& n, SecurityProfile& out) {
  out.where = r.at(n);
  auto m = r.map(n, "security_profile", {"name", "description", "targets", "behaviors", "additional_metrics_to_retain"});
  if (!m) return;
  out.present = true;
  assign(r.string(m->require("name"), "security_profile.name"), out.name);
  with(*m, "description", [&](auto v) { assign(r.string(v, "security_profile.description"), out.description); });
  with(*m, "targets", [&](auto v) {
    auto items = r.list(v, "security_profile.targets");
    if (!items) return;
    for (const auto& item : *items) {
      auto s = r.string(item, "security_profile.targets item");
      if (!s) continue;
      if (s->starts_with("arn:")) out.target_arns.push_back(*s);
      else out.target_groups.push_back(*s);
    }
  });
  if (auto b = m->require("behaviors"); b.IsDefined()) read_behaviors(r, b, out);
  with(*m, "additional_metrics_to_retain", [&](auto v) {
    auto items = r.list(v, "security_profile.additional_metrics_to_retain");
    if (!items) return;
    for (const auto& item : *items)
      if (auto metric = read_metric_name(r, item, "security_profile.additional_metrics_to_retain item"))
        out.additional_metrics_to_retain_v2.push_back({{"metric", *metric}});
  });
}

void read_detector(Reader& r, const YAML::Node& n, LocalDetector& out) {
  auto m = r.map(n, "local_detector", {"window", "training", "min_datapoints"});
  if (!m) return;
  with(*m, "window", [&](auto v) { assign(r.duration(v, "local_detector.window", Millis(1000)), out.window); });
  with(*m, "training", [&](auto v) { assign(r.duration(v, "local_detector.training"), out.training); });
  with(*m, "min_datapoints",
       [&](auto v) { assign(r.count(v, "local_detector.min_datapoints", 1, 100'000'000), out.min_datapoints); });
}

void read_expect(Reader& r, const YAML::Node& n, Expectations& out) {
  auto m = r.map(n, "expect", {"recall", "recall_by_kind", "time_to_detect", "false_alarms_per_thing_day", "confidence"});
  if (!m) return;
  out.present = true;
  with(*m, "recall", [&](auto v) { out.min_recall = r.fraction(v, "expect.recall"); });
  with(*m, "recall_by_kind", [&](auto v) {
    auto k = r.any_map(v, "expect.recall_by_kind");
    if (!k) return;
    for (const auto& e : k->entries()) {
      const KindInfo* kind = find_kind(e.key);
      if (!kind) {
        std::vector<std::string_view> names;
        for (const auto& info : anomaly_kinds()) names.push_back(info.name);
        auto close = closest_match(e.key, names);
        r.error(e.key_node, "expect.recall_by_kind: unknown kind '" + e.key + "'",
                close ? "did you mean '" + *close + "'?" : "kinds: " + join_alternatives(names, ", "));
        continue;
      }
      if (auto f = r.fraction(e.value, "expect.recall_by_kind." + e.key)) out.min_recall_by_kind[kind->kind] = *f;
    }
  });
  with(*m, "time_to_detect", [&](auto v) {
    auto t = r.any_map(v, "expect.time_to_detect");
    if (!t) return;
    for (const auto& e : t->entries()) {
      auto pct = e.key.size() > 1 && e.key[0] == 'p' ? parse_count(e.key.substr(1)) : Expected<std::uint64_t>(unexpected(""));
      if (!pct || *pct < 1 || *pct > 100) {
        r.error(e.key_node, "expect.time_to_detect: '" + e.key + "' is not a percentile", "write p50, p90, p99 or p100");
        continue;
      }
      if (auto d = r.duration(e.value, "expect.time_to_detect." + e.key)) out.max_time_to_detect[int(*pct)] = *d;
    }
  });
  with(*m, "false_alarms_per_thing_day", [&](auto v) {
    out.max_false_alarms_per_thing_day = r.number(v, "expect.false_alarms_per_thing_day", 0, 1e9);
  });
  with(*m, "confidence", [&](auto v) { assign(r.one_of(v, "expect.confidence", {"LOW", "MEDIUM", "HIGH"}), out.confidence); });
}

// yaml-cpp reports errors with 0-based positions; the byte offset of a bad byte needs a line and column.
SourceLocation location_of_offset(std::string_view text, std::size_t offset, const std::string& file) {
  SourceLocation where{file, 1, 1};
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++where.line;
      where.column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++where.column;
    }
  }
  return where;
}

}  // namespace

LoadResult load_scenario_text(std::string_view text, const std::string& file) {
  LoadResult result;
  Reader r(file);
  if (text.size() > max_scenario_bytes) {
    r.error_at({file, 0, 0}, "the file is " + format_size(double(text.size())) + ", larger than the " +
                                 format_size(max_scenario_bytes) + " a scenario may be",
               "is this the right file?");
    result.diagnostics = std::move(r.diagnostics());
    return result;
  }
  if (auto bad = first_invalid_utf8(text)) {
    r.error_at(location_of_offset(text, *bad, file),
               text[*bad] == '\0' ? "the file contains a NUL byte" : "the file is not valid UTF-8 text",
               "a scenario is a UTF-8 YAML text file");
    result.diagnostics = std::move(r.diagnostics());
    return result;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    SourceLocation where{file, e.mark.line >= 0 ? e.mark.line + 1 : 0, e.mark.column >= 0 ? e.mark.column + 1 : 0};
    r.error_at(where, "not valid YAML: " + e.msg);
    result.diagnostics = std::move(r.diagnostics());
    return result;
  }
  if (docs.empty() || docs.front().IsNull()) {
    r.error_at({file, 1, 1}, "the file is empty", "start from scenarios/quickstart.yaml");
    result.diagnostics = std::move(r.diagnostics());
    return result;
  }
  if (docs.size() > 1) r.error(docs[1], "a scenario file holds one YAML document; this is a second one", "remove '---' and what follows, or split the file");

  Scenario s;
  s.file = file;
  s.sha256 = sha256_hex(text);
  const YAML::Node& root = docs.front();
  auto m = r.map(root, "the scenario",
                 {"version", "name", "description", "seed", "clock", "target", "connection", "fleet", "anomalies",
                  "security_profile", "local_detector", "expect"});
  if (m) {
    if (auto v = m->require("version"); v.IsDefined())
      if (auto ver = r.count(v, "version (this fleetsim reads version 1)", 1, 1)) s.version = int(*ver);
    assign(r.string(m->require("name"), "name"), s.name);
    with(*m, "description", [&](auto v) { assign(r.string(v, "description"), s.description); });
    with(*m, "seed", [&](auto v) { assign(r.count(v, "seed", 0, UINT64_MAX), s.seed); });
    with(*m, "clock", [&](auto v) { read_clock(r, v, s.clock); });
    with(*m, "target", [&](auto v) { read_target(r, v, s.target); });
    with(*m, "connection", [&](auto v) { read_connection(r, v, s.connection); });
    if (auto f = m->require("fleet"); f.IsDefined()) {
      if (auto items = r.list(f, "fleet")) {
        if (items->empty()) r.error(f, "the fleet is empty", "add at least one group");
        for (std::size_t i = 0; i < items->size(); ++i) read_group(r, (*items)[i], i, s.fleet.emplace_back());
      }
    }
    with(*m, "anomalies", [&](auto v) {
      if (auto items = r.list(v, "anomalies"))
        for (std::size_t i = 0; i < items->size(); ++i) read_anomaly(r, (*items)[i], i, s.anomalies.emplace_back());
    });
    with(*m, "security_profile", [&](auto v) { read_profile(r, v, s.security_profile); });
    with(*m, "local_detector", [&](auto v) { read_detector(r, v, s.local_detector); });
    with(*m, "expect", [&](auto v) { read_expect(r, v, s.expect); });
  }
  result.diagnostics = std::move(r.diagnostics());
  result.scenario = std::move(s);
  return result;
}

LoadResult load_scenario_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.diagnostics.push_back({Diagnostic::Severity::error, {path, 0, 0}, "cannot open the file", "check the path"});
    return result;
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_scenario_bytes) break;  // refuse before reading a huge file whole
  }
  if (in.bad()) {
    LoadResult result;
    result.diagnostics.push_back({Diagnostic::Severity::error, {path, 0, 0}, "cannot read the file", "is it a directory?"});
    return result;
  }
  return load_scenario_text(text, path);
}

LoadResult load_and_check(const std::string& path, const std::optional<Target>& target_override) {
  auto result = load_scenario_file(path);
  if (!result.scenario || !result.ok()) return result;
  if (target_override) {
    // The command line replaces where to connect; TLS files and region from the scenario still apply.
    auto& t = result.scenario->target;
    t.kind = target_override->kind;
    t.host = target_override->host;
    t.port = target_override->port;
    t.tls = target_override->tls;
  }
  check_scenario(*result.scenario, result.diagnostics);
  return result;
}

}  // namespace fleetsim::scenario

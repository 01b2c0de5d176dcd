#include "sim/scenario/window_model.hpp"

#include <algorithm>
#include <cmath>

namespace fleetsim::scenario {
namespace {

constexpr double mqtt_publish_overhead = 40;  // fixed header, topic length field, packet id, TLS record share
constexpr double report_bytes = 450;          // a typical Device Defender JSON report

double per_window(Rate r, Millis window) { return r.per(window); }

// Count metrics: the diurnal swing, plus one event either way for timing jitter at window edges.
MetricRange count_range(double mean, double amplitude) {
  return {std::max(0.0, std::floor(mean * (1 - amplitude)) - 1), mean, std::ceil(mean * (1 + amplitude)) + 1};
}

MetricRange fixed(double v) { return {v, v, v}; }

double reports_per_window(const FleetGroup& g, Millis window) {
  const auto& d = g.baseline.device_metrics;
  return d.enabled ? double(window.count()) / double(d.every.count()) : 0;
}

// Traffic figures for one thing per window, with the knobs an anomaly turns.
struct Traffic {
  double publishes = 0, publish_size = 0, receives = 0, receive_size = 0;
  double reports = 0, auth_failures = 0, connects = 0;
};

Traffic baseline_traffic(const FleetGroup& g, Millis window) {
  const auto& b = g.baseline;
  return {per_window(b.publish.rate, window), b.publish.payload.mean(),
          b.receive.topic.empty() ? 0 : per_window(b.receive.rate, window), b.receive.payload.mean(),
          reports_per_window(g, window), 0, per_window(b.reconnects, window)};
}

double device_value(const FleetGroup& g, std::string_view metric, const Traffic& t, Millis window) {
  const auto& d = g.baseline.device_metrics;
  double per_report_scale = double(window.count()) / double(d.every.count());
  auto explicit_or = [&](const std::optional<std::uint64_t>& v, double derived) {
    return v ? double(*v) * per_report_scale : derived;
  };
  if (metric == "aws:all-bytes-out")
    return explicit_or(d.bytes_out, t.publishes * (t.publish_size + mqtt_publish_overhead) + t.reports * report_bytes);
  if (metric == "aws:all-bytes-in")
    return explicit_or(d.bytes_in, t.receives * (t.receive_size + mqtt_publish_overhead));
  if (metric == "aws:all-packets-out") return explicit_or(d.packets_out, 2 * (t.publishes + t.reports));
  if (metric == "aws:all-packets-in") return explicit_or(d.packets_in, 2 * t.receives + t.reports);
  if (metric == "aws:num-listening-tcp-ports" || metric == "aws:listening-tcp-ports")
    return double(d.listening_tcp_ports.size());
  if (metric == "aws:num-listening-udp-ports" || metric == "aws:listening-udp-ports")
    return double(d.listening_udp_ports.size());
  if (metric == "aws:num-established-tcp-connections" || metric == "aws:destination-ip-addresses")
    return double(d.established_connections);
  return 0;
}

double cloud_value(std::string_view metric, const Traffic& t) {
  if (metric == "aws:num-messages-sent") return t.publishes + t.reports;
  if (metric == "aws:num-messages-received") return t.receives + t.reports;
  if (metric == "aws:message-byte-size") return t.publish_size;
  if (metric == "aws:num-authorization-failures") return t.auth_failures;
  if (metric == "aws:num-connection-attempts" || metric == "aws:num-disconnects") return t.connects;
  return 0;
}

double value(const FleetGroup& g, std::string_view metric, const Traffic& t, Millis window) {
  return metric.starts_with("aws:all-") || metric.find("listening") != std::string_view::npos ||
                 metric.find("established") != std::string_view::npos || metric == "aws:destination-ip-addresses"
             ? device_value(g, metric, t, window)
             : cloud_value(metric, t);
}

}  // namespace

Millis evaluation_window(const Scenario& s) {
  return s.target.kind == Target::Kind::aws ? Millis(300'000) : s.local_detector.window;
}

MetricRange baseline_per_window(const Scenario&, const FleetGroup& g, std::string_view metric, Millis window) {
  auto t = baseline_traffic(g, window);
  double v = value(g, metric, t, window);
  double amplitude = g.baseline.diurnal.amplitude;
  if (metric == "aws:message-byte-size")
    return {g.baseline.publish.payload.low(), v, g.baseline.publish.payload.high()};
  if (metric.find("listening") != std::string_view::npos || metric.find("established") != std::string_view::npos ||
      metric == "aws:destination-ip-addresses")
    return fixed(v);
  if (metric.starts_with("aws:all-")) {
    double jitter = g.baseline.device_metrics.jitter;
    return {v * (1 - amplitude) * (1 - jitter), v, v * (1 + amplitude) * (1 + jitter)};
  }
  return count_range(v, amplitude);
}

std::string_view describe(MetricEffect::Verdict v) {
  switch (v) {
    case MetricEffect::Verdict::stands_out: return "stands out";
    case MetricEffect::Verdict::weak: return "weak";
    case MetricEffect::Verdict::hidden: return "hidden";
  }
  return "?";
}

std::vector<MetricEffect> anomaly_effects(const Scenario& s, const Anomaly& a, const FleetGroup& g, Millis window) {
  const auto& b = g.baseline;
  const auto& c = s.connection;
  Traffic t = baseline_traffic(g, window);
  double v = a.strength.value;
  bool mult = a.strength.form == StrengthForm::multiplier;
  double device_scale_out = 1, device_scale_in = 1, extra_ports = 0, extra_connections = 0;
  switch (a.kind) {
    case AnomalyKind::message_flood: {
      double rate = std::min(mult ? b.publish.rate.per_second * v : v, c.publishes_per_connection.per_second);
      device_scale_out = t.publishes > 0 ? rate * window.count() / 1000.0 / t.publishes : 1;
      t.publishes = rate * window.count() / 1000.0;
      break;
    }
    case AnomalyKind::payload_inflation:
      device_scale_out = mult ? v : v / std::max(1.0, t.publish_size);
      t.publish_size = std::min(mult ? t.publish_size * v : v, 128.0 * 1024);
      break;
    case AnomalyKind::receive_flood: {
      double rate = mult ? b.receive.rate.per_second * v : v;
      device_scale_in = t.receives > 0 ? rate * window.count() / 1000.0 / t.receives : 1;
      t.receives = rate * window.count() / 1000.0;
      break;
    }
    case AnomalyKind::authorization_failures:
      t.auth_failures = v * window.count() / 1000.0;
      // Each denial closes the connection; reconnects are throttled per client id.
      t.connects += std::min(t.auth_failures, c.connects_per_client_id.per_second * window.count() / 1000.0);
      break;
    case AnomalyKind::reconnect_storm:
      t.connects += std::min(v, c.connects_per_client_id.per_second) * window.count() / 1000.0;
      break;
    case AnomalyKind::silence:
      t.publishes *= 1 - v;
      device_scale_out = 1 - v;
      break;
    case AnomalyKind::device_bytes_out: {
      double per_report = b.device_metrics.bytes_out ? double(*b.device_metrics.bytes_out)
                                                      : device_value(g, "aws:all-bytes-out", t, window) /
                                                            std::max(1.0, t.reports);
      device_scale_out = mult ? v : v / std::max(1.0, per_report);
      break;
    }
    case AnomalyKind::device_listening_ports: extra_ports = v; break;
    case AnomalyKind::device_connections:
      extra_connections = mult ? double(b.device_metrics.established_connections) * (v - 1) : v;
      break;
  }
  // Derived ("auto") device counters follow the traffic in `t`; reported constants need the scale.
  const auto& d = b.device_metrics;
  auto scaled = [&](std::string_view metric) {
    bool is_explicit = (metric == "aws:all-bytes-out" && d.bytes_out) || (metric == "aws:all-packets-out" && d.packets_out) ||
                       (metric == "aws:all-bytes-in" && d.bytes_in) || (metric == "aws:all-packets-in" && d.packets_in);
    return is_explicit || a.kind == AnomalyKind::device_bytes_out;
  };
  auto during_value = [&](std::string_view metric) {
    double x = value(g, metric, t, window);
    bool out_metric = metric == "aws:all-bytes-out" || metric == "aws:all-packets-out";
    bool in_metric = metric == "aws:all-bytes-in" || metric == "aws:all-packets-in";
    if (out_metric && scaled(metric)) x *= device_scale_out;
    if (in_metric && scaled(metric)) x *= device_scale_in;
    if (metric.find("listening") != std::string_view::npos) x += extra_ports;
    if (metric.find("established") != std::string_view::npos || metric == "aws:destination-ip-addresses")
      x += extra_connections;
    return x;
  };
  std::vector<MetricEffect> out;
  auto affected = affected_metrics(a.kind, a.mode);
  auto add = [&](std::string_view metric, bool primary) {
    MetricEffect e;
    e.metric = std::string(metric);
    e.primary = primary;
    e.baseline = baseline_per_window(s, g, metric, window);
    e.during = during_value(metric);
    // A window the anomaly only partly covers mixes both.
    if (a.duration < window && metric != "aws:message-byte-size" && metric.find("listening") == std::string_view::npos &&
        metric.find("established") == std::string_view::npos) {
      double covered = double(a.duration.count()) / double(window.count());
      e.during = e.baseline.mean * (1 - covered) + e.during * covered;
    }
    e.ratio = e.baseline.mean >= 1 ? e.during / e.baseline.mean : 0;  // a ratio to a near-zero mean says nothing
    if (e.during > e.baseline.high)
      e.verdict = e.during >= std::max(1.5 * e.baseline.high, e.baseline.high + 1) ? MetricEffect::Verdict::stands_out
                                                                                 : MetricEffect::Verdict::weak;
    else if (e.during < e.baseline.low)
      e.verdict = e.during <= 0.5 * e.baseline.low ? MetricEffect::Verdict::stands_out : MetricEffect::Verdict::weak;
    out.push_back(std::move(e));
  };
  for (auto m : affected.primary) add(m, true);
  for (auto m : affected.side_effects) add(m, false);
  return out;
}

}  // namespace fleetsim::scenario

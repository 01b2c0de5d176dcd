#include "sim/fleet/traffic.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace fleetsim::fleet {

using scenario::AnomalyKind;
using scenario::StrengthForm;

Knobs knobs_for(const std::vector<ActiveEffect>& active, const scenario::FleetGroup& g) {
  Knobs k;
  for (const auto& e : active) {
    const auto& a = *e.anomaly;
    double v = a.strength.value;
    bool mult = a.strength.form == StrengthForm::multiplier;
    switch (a.kind) {
      case AnomalyKind::message_flood:
        if (mult) k.publish_multiplier *= v;
        else k.publish_rate = std::max(k.publish_rate.value_or(0), v);
        break;
      case AnomalyKind::payload_inflation:
        if (mult) k.payload_multiplier *= v;
        else k.payload_size = std::max<std::uint64_t>(k.payload_size.value_or(0), static_cast<std::uint64_t>(v));
        break;
      case AnomalyKind::receive_flood:
        if (mult) k.receive_multiplier *= v;
        else k.receive_rate = std::max(k.receive_rate.value_or(0), v);
        break;
      case AnomalyKind::authorization_failures:
        k.auth_failure_rate += v;
        k.auth_mode = a.mode;
        k.auth_topic = a.topic;
        break;
      case AnomalyKind::reconnect_storm: k.reconnect_rate += v; break;
      case AnomalyKind::silence: k.silenced = std::max(k.silenced, v); break;
      case AnomalyKind::device_bytes_out:
        if (mult) k.bytes_out_multiplier *= v;
        else k.bytes_out = std::max<std::uint64_t>(k.bytes_out.value_or(0), static_cast<std::uint64_t>(v));
        break;
      case AnomalyKind::device_listening_ports:
        (a.mode == "udp" ? k.extra_udp_ports : k.extra_tcp_ports) += static_cast<std::uint64_t>(v);
        break;
      case AnomalyKind::device_connections:
        k.extra_connections += mult ? static_cast<std::uint64_t>(
                                          std::llround(double(g.baseline.device_metrics.established_connections) * (v - 1)))
                                    : static_cast<std::uint64_t>(v);
        break;
    }
  }
  return k;
}

double effective_rate(double base, const scenario::Diurnal& diurnal, EpochMillis t) {
  return std::max(0.0, base * diurnal.factor(t));
}

std::optional<Millis> next_interval(double rate, double jitter, Rng& rng) {
  if (rate <= 0) return std::nullopt;
  double mean_ms = 1000.0 / rate;
  double factor = jitter > 0 ? rng.uniform(1 - jitter, 1 + jitter) : 1.0;
  return Millis(std::max<std::int64_t>(1, std::llround(mean_ms * factor)));
}

double publish_rate(const scenario::FleetGroup& g, const Knobs& k, EpochMillis t) {
  const auto& p = g.baseline.publish;
  double base = effective_rate(p.rate.per_second, g.baseline.diurnal, t) * k.publish_multiplier;
  return k.publish_rate ? std::max(base, *k.publish_rate) : base;
}

double receive_rate(const scenario::FleetGroup& g, const Knobs& k, EpochMillis t) {
  const auto& r = g.baseline.receive;
  if (r.topic.empty()) return 0;
  double base = effective_rate(r.rate.per_second, g.baseline.diurnal, t) * k.receive_multiplier;
  return k.receive_rate ? std::max(base, *k.receive_rate) : base;
}

std::uint64_t payload_size(const scenario::FleetGroup& g, const Knobs& k, Rng& rng) {
  constexpr std::uint64_t aws_max_payload = 128 * 1024;
  if (k.payload_size) return std::min(*k.payload_size, aws_max_payload);
  auto base = g.baseline.publish.payload.sample(rng);
  return std::min<std::uint64_t>(static_cast<std::uint64_t>(std::llround(double(base) * k.payload_multiplier)),
                                 aws_max_payload);
}

std::string device_report(const scenario::FleetGroup& g, const Knobs& k, std::uint64_t report_id,
                          const TrafficCounters& since, Rng& rng) {
  const auto& d = g.baseline.device_metrics;
  auto jittered = [&](double v) {
    double f = d.jitter > 0 ? rng.uniform(1 - d.jitter, 1 + d.jitter) : 1.0;
    return static_cast<std::uint64_t>(std::max(0.0, std::llround(v * f) * 1.0));
  };
  // Explicit per-report values, else what the thing's MQTT connection actually moved.
  std::uint64_t bytes_out = d.bytes_out ? jittered(double(*d.bytes_out)) : since.bytes_out;
  std::uint64_t bytes_in = d.bytes_in ? jittered(double(*d.bytes_in)) : since.bytes_in;
  std::uint64_t packets_out = d.packets_out ? jittered(double(*d.packets_out)) : since.packets_out;
  std::uint64_t packets_in = d.packets_in ? jittered(double(*d.packets_in)) : since.packets_in;
  if (k.bytes_out) {
    double scale = bytes_out ? double(*k.bytes_out) / double(bytes_out) : 1;
    bytes_out = *k.bytes_out;
    packets_out = static_cast<std::uint64_t>(std::llround(double(packets_out) * scale));
  } else if (k.bytes_out_multiplier != 1) {
    bytes_out = static_cast<std::uint64_t>(std::llround(double(bytes_out) * k.bytes_out_multiplier));
    packets_out = static_cast<std::uint64_t>(std::llround(double(packets_out) * k.bytes_out_multiplier));
  }
  auto ports = [](const std::vector<int>& base, std::uint64_t extra, int first_extra) {
    nlohmann::json list = nlohmann::json::array();
    for (int p : base) list.push_back({{"port", p}, {"interface", "eth0"}});
    for (std::uint64_t i = 0; i < extra; ++i) list.push_back({{"port", first_extra + int(i)}, {"interface", "eth0"}});
    return nlohmann::json{{"ports", list}, {"total", list.size()}};
  };
  nlohmann::json connections = nlohmann::json::array();
  std::uint64_t total_connections = d.established_connections + k.extra_connections;
  for (std::uint64_t i = 0; i < total_connections; ++i)
    connections.push_back({{"remote_addr", "10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) +
                                               "." + std::to_string(i % 256) + ":443"},
                           {"local_port", 40000 + int(i % 20000)},
                           {"local_interface", "eth0"}});
  nlohmann::json report = {
      {"header", {{"report_id", report_id}, {"version", "1.0"}}},
      {"metrics",
       {{"network_stats",
         {{"bytes_in", bytes_in}, {"bytes_out", bytes_out}, {"packets_in", packets_in}, {"packets_out", packets_out}}},
        {"tcp_connections", {{"established_connections", {{"connections", connections}, {"total", total_connections}}}}},
        {"listening_tcp_ports", ports(d.listening_tcp_ports, k.extra_tcp_ports, 31337)},
        {"listening_udp_ports", ports(d.listening_udp_ports, k.extra_udp_ports, 31337)}}}};
  return report.dump();
}

std::string denied_topic(const scenario::FleetGroup& g, const Knobs& k, const std::string& thing,
                         const std::string& neighbour, bool for_subscribe) {
  if (!k.auth_topic.empty()) return g.topic_for(k.auth_topic, thing);
  // A neighbour's topic: the thing's policy allows only its own.
  const auto& key = for_subscribe && !g.baseline.receive.topic.empty() ? g.baseline.receive.topic : g.baseline.publish.topic;
  return g.topic_for(key, neighbour);
}

}  // namespace fleetsim::fleet

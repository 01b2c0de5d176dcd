#pragma once
// What a thing does and when, in scenario time: its baseline as modulated by the time of day and by the
// anomalies active on it. Pure functions of (scenario, time, active effects, RNG) so they are tested
// without sockets and give the same schedule for the same seed.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/rng.hpp"
#include "sim/core/time.hpp"
#include "sim/scenario/model.hpp"

namespace fleetsim::fleet {

/// An anomaly occurrence running on a thing.
struct ActiveEffect {
  const scenario::Anomaly* anomaly = nullptr;
  std::string ledger_id;  ///< the ledger record id of its start
  EpochMillis start = 0;  ///< scenario time
  EpochMillis end = 0;    ///< planned end, scenario time
};

/// The knobs the active anomalies turn; the neutral value means "baseline".
struct Knobs {
  double publish_multiplier = 1;                ///< message-flood (x)
  std::optional<double> publish_rate;           ///< message-flood (absolute, per second)
  double payload_multiplier = 1;                ///< payload-inflation (x)
  std::optional<std::uint64_t> payload_size;    ///< payload-inflation (absolute)
  double receive_multiplier = 1;                ///< receive-flood (x)
  std::optional<double> receive_rate;           ///< receive-flood (absolute, per second)
  double auth_failure_rate = 0;                 ///< authorization-failures, per second
  std::string auth_mode;                        ///< publish | subscribe | both
  std::string auth_topic;                       ///< explicit denied topic template (empty: a neighbour's)
  double reconnect_rate = 0;                    ///< reconnect-storm, per second
  double silenced = 0;                          ///< silence: fraction of publishes dropped
  double bytes_out_multiplier = 1;              ///< device-bytes-out (x)
  std::optional<std::uint64_t> bytes_out;       ///< device-bytes-out (absolute per report)
  std::uint64_t extra_tcp_ports = 0, extra_udp_ports = 0;  ///< device-listening-ports
  std::uint64_t extra_connections = 0;          ///< device-connections
};

/// Combines the active effects (several may overlap on one thing).
Knobs knobs_for(const std::vector<ActiveEffect>& active, const scenario::FleetGroup& group);

/// Effective events per second of a baseline rate at scenario time `t`.
double effective_rate(double base_per_second, const scenario::Diurnal& diurnal, EpochMillis t);

/// Scenario milliseconds until the next event of a process at `rate_per_second`, with ±jitter;
/// nullopt when the rate is zero.
std::optional<Millis> next_interval(double rate_per_second, double jitter, Rng& rng);

/// Rates a thing runs at right now.
double publish_rate(const scenario::FleetGroup& g, const Knobs& k, EpochMillis t);
double receive_rate(const scenario::FleetGroup& g, const Knobs& k, EpochMillis t);
/// The size of the next telemetry payload.
std::uint64_t payload_size(const scenario::FleetGroup& g, const Knobs& k, Rng& rng);

/// MQTT traffic a thing saw since its last device report, for `auto` device metrics.
struct TrafficCounters {
  std::uint64_t bytes_out = 0, bytes_in = 0, packets_out = 0, packets_in = 0;
};

/// The Device Defender metrics report (JSON, long names) for `thing`, as the agent would publish it on
/// $aws/things/THING/defender/metrics/json.
std::string device_report(const scenario::FleetGroup& g, const Knobs& k, std::uint64_t report_id,
                          const TrafficCounters& since_last, Rng& rng);

/// The topic an authorization-failure anomaly uses: the explicit one, or a neighbour's own topic.
std::string denied_topic(const scenario::FleetGroup& g, const Knobs& k, const std::string& thing,
                         const std::string& neighbour, bool for_subscribe);

}  // namespace fleetsim::fleet

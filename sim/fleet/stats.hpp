#pragma once
// Per-worker counters and histograms. Each worker owns one and only its thread writes it; the engine
// merges copies after the run (and snapshots for progress), so the hot path has no atomics or locks.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/fleet/histogram.hpp"

namespace fleetsim::fleet {

struct Stats {
  // Connections
  std::uint64_t connect_attempts = 0;     ///< TCP connects started (initial and reconnects)
  std::uint64_t connects_ok = 0;          ///< CONNACK accepted
  std::uint64_t connect_failed_tcp = 0;   ///< TCP connect refused, unreachable or timed out
  std::uint64_t connect_failed_tls = 0;   ///< TLS handshake failed (certificate, protocol)
  std::uint64_t connect_refused = 0;      ///< CONNACK with a non-zero return code
  std::uint64_t connect_timeouts = 0;     ///< a connect step passed its deadline
  std::uint64_t throttled_connects = 0;   ///< connects delayed by the per-client-id or account rate
  // Disconnects, by cause
  std::uint64_t disconnects_planned = 0;  ///< baseline reconnects and reconnect storms (clean DISCONNECT)
  std::uint64_t disconnects_by_peer = 0;  ///< the broker closed the connection unprompted
  std::uint64_t disconnects_denied = 0;   ///< the broker closed it after the thing's denied request (AWS does; expected)
  std::uint64_t disconnects_ping = 0;     ///< keep-alive timed out
  std::uint64_t disconnects_protocol = 0; ///< the broker broke the protocol
  std::uint64_t disconnects_io = 0;       ///< read/write errors
  // Messages
  std::uint64_t publishes_qos0 = 0;       ///< telemetry and reports sent at QoS 0
  std::uint64_t publishes_qos1 = 0;       ///< sent at QoS 1
  std::uint64_t acks = 0;                 ///< PUBACKs received
  std::uint64_t lost_unacked = 0;         ///< QoS 1 publishes unacknowledged when their connection ended
  std::uint64_t dropped_backpressure = 0; ///< publishes skipped: write queue or in-flight window full
  std::uint64_t dropped_disconnected = 0; ///< publishes due while the thing was not connected
  std::uint64_t late_publishes = 0;       ///< sent more than 100 ms (real) after their scheduled time
  std::uint64_t messages_received = 0;    ///< PUBLISHes delivered to things
  std::uint64_t commands_sent = 0;        ///< commands the controller published to things
  std::uint64_t reports_sent = 0;         ///< device metric reports
  std::uint64_t reports_accepted = 0;
  std::uint64_t reports_rejected = 0;
  std::uint64_t denied_attempts = 0;      ///< publishes/subscribes sent outside the policy (auth-failure anomaly)
  std::uint64_t suback_failures = 0;      ///< SUBACK 0x80 (the broker denied a subscription)
  std::uint64_t bytes_out = 0;
  std::uint64_t bytes_in = 0;
  // Anomalies
  std::uint64_t anomalies_started = 0;
  std::uint64_t anomalies_ended = 0;
  // Distributions (microseconds)
  Histogram connect_time;  ///< TCP connect start → CONNACK
  Histogram ack_latency;   ///< QoS 1 PUBLISH queued → PUBACK
  Histogram lateness;      ///< scheduled → sent, per publish

  void merge(const Stats& o);
  nlohmann::json to_json() const;
};

/// Percentiles of a histogram as {"p50": ms, "p90": ms, "p99": ms, "max": ms, "count": n}.
nlohmann::json percentiles_ms(const Histogram& h);

}  // namespace fleetsim::fleet

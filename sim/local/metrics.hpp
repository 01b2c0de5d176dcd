#pragma once
// Per-thing, per-window metrics as Device Defender computes them: the cloud-side counts the broker sees
// and the device-side values from accepted metric reports. Windows are aligned to multiples of their
// length since the epoch (scenario time); a closed window is what the detector evaluates and what
// ListMetricValues returns.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/clock.hpp"
#include "sim/core/time.hpp"
#include "sim/local/broker_hooks.hpp"

namespace fleetsim::local {

/// The metrics the recorder produces, by their AWS names (metric_name()).
enum class Metric : std::uint8_t {
  // cloud-side
  messages_sent,           ///< aws:num-messages-sent
  messages_received,       ///< aws:num-messages-received
  authorization_failures,  ///< aws:num-authorization-failures
  message_byte_size,       ///< aws:message-byte-size: the largest message of the window
  connection_attempts,     ///< aws:num-connection-attempts (accepted and refused)
  disconnects,             ///< aws:num-disconnects
  // device-side, numbers
  bytes_out,                ///< aws:all-bytes-out: report deltas summed over the window
  bytes_in,                 ///< aws:all-bytes-in
  packets_out,              ///< aws:all-packets-out
  packets_in,               ///< aws:all-packets-in
  listening_tcp_port_count,  ///< aws:num-listening-tcp-ports: the window's last report
  listening_udp_port_count,  ///< aws:num-listening-udp-ports
  established_connections,   ///< aws:num-established-tcp-connections
  // sets (rules only)
  source_ip,                ///< aws:source-ip-address: the last address seen in the window
  listening_tcp_ports,      ///< aws:listening-tcp-ports
  listening_udp_ports,      ///< aws:listening-udp-ports
  destination_ips,          ///< aws:destination-ip-addresses: remote_addr hosts of the last report
};
inline constexpr std::size_t metric_count = 17;
inline constexpr std::size_t numeric_metric_count = 13;  ///< messages_sent .. established_connections

std::string_view metric_name(Metric m);
std::optional<Metric> parse_metric(std::string_view aws_name);
/// Whether the metric is measured by the broker (else it comes from device reports).
bool is_cloud_side(Metric m);

/// One datapoint in AWS's MetricValue shape.
struct MetricValue {
  enum class Type { count, number, ports, cidrs, strings, numbers };
  Type type = Type::count;
  double scalar = 0;                 ///< count (a whole number) or number
  std::vector<int> ports;            ///< sorted, unique
  std::vector<double> numbers;
  std::vector<std::string> strings;  ///< cidrs or strings, sorted, unique

  static MetricValue count(std::uint64_t n);
  static MetricValue number(double x);
  static MetricValue port_set(std::vector<int> ports);
  static MetricValue cidr_set(std::vector<std::string> ips);

  /// {"count": N} | {"number": x} | {"ports": [...]} | {"cidrs": [...]} | {"strings": [...]} | {"numbers": [...]}
  nlohmann::json to_json() const;
  /// The first member present of count, number, ports, cidrs, strings, numbers; nullopt if none.
  static std::optional<MetricValue> from_json(const nlohmann::json& j);
  bool operator==(const MetricValue&) const = default;
};

using ThingMetrics = std::map<std::string, MetricValue, std::less<>>;  ///< by AWS metric name

struct ClosedWindow {
  EpochMillis start = 0, end = 0;
  std::map<std::string, ThingMetrics, std::less<>> things;  ///< by thing name (client id for cloud-side metrics)
};

/// One ListMetricValues datum; the timestamp is the end of the window (when it was aggregated).
struct MetricDatum {
  EpochMillis timestamp = 0;
  MetricValue value;
};

/// Counts the broker's traffic facts per thing and window. Thread-safe: things are spread over shards
/// with a mutex each, so broker threads rarely wait for one another; close_windows and metric_values may
/// run concurrently with the hooks.
///
/// Memory: about 200 bytes per thing per retained window (13 numbers, a mask, the window start and four
/// shared pointers to port/IP sets, which are shared with the previous window when unchanged), so 14 days
/// of 5-minute windows cost ~0.8 MB per thing; lower `retention` for large fleets.
class MetricsRecorder final : public BrokerObserver {
 public:
  MetricsRecorder(const Clock& clock, Millis window = Millis(300'000), Millis retention = Millis(14 * millis_per_day));
  ~MetricsRecorder() override;

  void on_connect_attempt(const ConnectionIdentity& who, bool accepted) override;
  void on_disconnect(const ConnectionIdentity& who, DisconnectReason why) override;
  void on_message_from_device(const ConnectionIdentity& who, std::string_view topic, std::size_t payload_bytes) override;
  void on_message_to_device(const ConnectionIdentity& who, std::string_view topic, std::size_t payload_bytes) override;
  void on_authorization_failure(const ConnectionIdentity& who, std::string_view action, std::string_view resource) override;
  void on_device_report(std::string_view thing_name, const nlohmann::json& report) override;

  /// Closes every window that ended at or before `now`, oldest first (empty windows included, so the
  /// caller sees time pass). A thing connected at any time during a window has every cloud-side count
  /// (zeros included); device-side metrics appear only when a report arrived in the window.
  std::vector<ClosedWindow> close_windows(EpochMillis now);

  /// ListMetricValues: the retained datapoints of `thing` with from <= timestamp <= to, newest first.
  std::vector<MetricDatum> metric_values(std::string_view thing, std::string_view metric, EpochMillis from,
                                         EpochMillis to) const;

  Millis window() const { return window_; }
  /// The start of the first window not yet closed.
  EpochMillis closed_until() const { return closed_until_.load(std::memory_order_acquire); }

 private:
  struct Accum;
  struct Stored;
  struct ThingState;
  struct Shard;

  template <class F>
  void record(std::string_view thing, F&& update);
  Shard& shard_for(std::string_view thing) const;
  static Accum fresh_window(EpochMillis start, bool connected);
  Accum& accum_for(ThingState& t, EpochMillis w, EpochMillis closed);
  void store(ThingState& t, const Accum& a, ThingMetrics& out);

  const Clock& clock_;
  Millis window_;
  Millis retention_;
  std::atomic<EpochMillis> closed_until_;
  std::mutex close_mutex_;
  static constexpr std::size_t shard_count_ = 32;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace fleetsim::local

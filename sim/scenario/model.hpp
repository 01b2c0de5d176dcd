#pragma once
// The typed scenario: what `fleetsim validate` accepts and everything else reads.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"
#include "sim/core/rng.hpp"
#include "sim/core/time.hpp"
#include "sim/core/units.hpp"
#include "sim/scenario/anomaly_kinds.hpp"

namespace fleetsim::scenario {

/// Where the fleet connects: the embedded emulator, AWS IoT Core, or any MQTT broker.
struct Target {
  enum class Kind { local, aws, mqtt };
  Kind kind = Kind::local;
  std::string host;         ///< mqtt: broker host; aws: data endpoint override (empty = DescribeEndpoint)
  std::uint16_t port = 0;   ///< mqtt/aws: broker port (0 = the scheme's default)
  bool tls = true;          ///< mqtts:// or aws
  std::string region;       ///< aws: region (empty = the AWS credential chain's region)
  std::string ca_file;      ///< CA bundle to verify the broker (empty = system store, or the local CA)
  std::string cert_file;    ///< one shared client certificate (empty = per-thing certificates)
  std::string key_file;     ///< its private key
  std::string server_name;  ///< SNI and verification name (empty = host)
  bool verify_peer = true;  ///< TLS peer verification; off only on purpose
  SourceLocation where;
};
/// `local`, `aws`, `mqtt://HOST[:PORT]`, `mqtts://HOST[:PORT]` (IPv6 hosts in brackets).
Expected<Target> parse_target(std::string_view text);
std::string describe(const Target& t);

struct ClockSettings {
  double time_scale = 1;                ///< scenario seconds per real second
  std::optional<EpochMillis> start;     ///< absolute start shared by shards; empty = "now"
  std::optional<Millis> duration;       ///< empty = run until stopped
};

/// A payload-size distribution in bytes.
struct SizeDistribution {
  enum class Kind { fixed, uniform, normal };
  Kind kind = Kind::fixed;
  double a = 0;  ///< fixed: the size; uniform: min; normal: mean
  double b = 0;  ///< uniform: max; normal: standard deviation
  double mean() const { return kind == Kind::uniform ? (a + b) / 2 : a; }
  double low() const;   ///< a typical low value (uniform min, normal mean-2sd)
  double high() const;  ///< a typical high value
  std::uint64_t sample(Rng& rng) const;
  std::string describe() const;
};

/// Daily modulation of traffic rates: rate × (1 + amplitude·cos(2π(t − peak)/24h)).
struct Diurnal {
  double amplitude = 0;
  Millis peak{14 * 3'600'000};
  double factor(EpochMillis t) const;
};

struct PublishBaseline {
  std::string topic;       ///< a key of the group's topics
  Rate rate;               ///< messages per unit of time
  double jitter = 0.1;     ///< each interval varies uniformly by ±jitter
  int qos = 0;
  SizeDistribution payload{SizeDistribution::Kind::fixed, 256, 0};
};

/// Messages the thing receives: a controller connection publishes commands to the thing's topic.
struct ReceiveBaseline {
  std::string topic;  ///< a key of the group's topics (empty: the thing receives nothing)
  Rate rate;
  int qos = 0;
  SizeDistribution payload{SizeDistribution::Kind::fixed, 128, 0};
};

/// Device Defender device-side metric reports, as the Device Defender agent would send them.
struct DeviceMetricsBaseline {
  bool enabled = false;
  Millis every{300'000};
  /// Per report (deltas). Empty = derived from the thing's own MQTT traffic.
  std::optional<std::uint64_t> bytes_in, bytes_out, packets_in, packets_out;
  std::vector<int> listening_tcp_ports;
  std::vector<int> listening_udp_ports;
  std::uint64_t established_connections = 1;
  double jitter = 0.1;
};

struct Baseline {
  PublishBaseline publish;
  ReceiveBaseline receive;
  Rate reconnects;  ///< clean disconnect + reconnect, e.g. 2/day
  DeviceMetricsBaseline device_metrics;
  Diurnal diurnal;
};

struct FleetGroup {
  std::string name;
  std::uint64_t count = 0;
  std::string thing_name;  ///< template: {index}, {index:04}, {group}
  std::string thing_group; ///< AWS thing group the things are added to
  std::map<std::string, std::string> topics;  ///< name → template with {thing}
  Baseline baseline;
  SourceLocation where;
  std::string name_of(std::uint64_t index) const;  ///< index counts from 1
  std::string topic_for(const std::string& topic_key, const std::string& thing) const;
};

/// Which things an anomaly hits, chosen deterministically from the seed.
struct ThingSelector {
  std::string group;
  std::optional<std::uint64_t> count;
  std::optional<double> fraction;
  std::vector<std::string> names;
  bool rotate = false;  ///< pick new things for every occurrence of a recurring anomaly
};

/// When an anomaly happens: once at an offset, or recurring.
struct AnomalySchedule {
  std::optional<Millis> start;        ///< offset from the scenario start (one-off)
  std::optional<Millis> every;        ///< recurrence period
  std::optional<Millis> time_of_day;  ///< recurring: first occurrence at this UTC time of day
  Millis after{0};                    ///< recurring: not before this offset (e.g. after training)
  std::optional<std::uint64_t> times; ///< recurring: at most this many occurrences
};

struct Strength {
  StrengthForm form = StrengthForm::none;
  double value = 0;
  std::string text;  ///< as written
};

struct Anomaly {
  std::string name;
  AnomalyKind kind{};
  ThingSelector things;
  AnomalySchedule when;
  Millis duration{0};
  Strength strength;
  std::string mode;   ///< kind-specific: authorization-failures publish|subscribe|both; ports tcp|udp
  std::string topic;  ///< authorization-failures: the topic outside the policy (template with {thing})
  SourceLocation where;
};

/// One behavior, summarised from its AWS JSON.
struct BehaviorSummary {
  std::string name;
  std::string metric;
  enum class Type { ml, static_rule, statistical } type = Type::ml;
  std::string confidence;  ///< ML only
  int datapoints_to_alarm = 1;
  int datapoints_to_clear = 1;
  bool suppress_alerts = false;
  SourceLocation where;
};

struct SecurityProfile {
  bool present = false;
  std::string name;
  std::string description;
  std::vector<std::string> target_groups;  ///< thing group names
  std::vector<std::string> target_arns;    ///< explicit ARNs (all/things, ...)
  nlohmann::json behaviors = nlohmann::json::array();  ///< exactly the AWS Behavior JSON shape
  nlohmann::json additional_metrics_to_retain_v2 = nlohmann::json::array();
  std::vector<BehaviorSummary> summaries;
  SourceLocation where;
};

/// Settings of the local emulator's statistical detector (the stand-in for ML Detect).
struct LocalDetector {
  Millis window{300'000};
  Millis training{3'600'000};
  std::uint64_t min_datapoints = 100;
};

/// Gates for nightly CI: a run that misses one exits 1.
struct Expectations {
  bool present = false;
  std::optional<double> min_recall;
  std::map<AnomalyKind, double> min_recall_by_kind;
  std::map<int, Millis> max_time_to_detect;  ///< percentile → maximum
  std::optional<double> max_false_alarms_per_thing_day;
  std::string confidence = "MEDIUM";
};

/// Connection behaviour and quotas. AWS's fixed quotas hold against AWS unless raised on purpose.
struct ConnectionSettings {
  Rate ramp{50};                       ///< new connects per second, fleet-wide (per shard)
  std::uint64_t max_connecting = 100;  ///< connects in flight at once
  Millis keep_alive{60'000};
  Millis backoff_initial{1000};
  Millis backoff_max{60'000};
  Rate publishes_per_connection{100};  ///< AWS: 100/s, fixed
  Rate connects_per_client_id{1};      ///< AWS: 1/s, fixed
  Rate account_connects{500};          ///< AWS: 500/s, adjustable
  bool account_quota_raised = false;   ///< account_connects above 500/s was raised in Service Quotas
};

struct Scenario {
  std::string file;
  std::string sha256;
  int version = 1;
  std::string name;
  std::string description;
  std::uint64_t seed = 0;
  ClockSettings clock;
  Target target;
  ConnectionSettings connection;
  std::vector<FleetGroup> fleet;
  std::vector<Anomaly> anomalies;
  SecurityProfile security_profile;
  LocalDetector local_detector;
  Expectations expect;

  std::uint64_t thing_count() const;
};

}  // namespace fleetsim::scenario

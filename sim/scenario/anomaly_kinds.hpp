#pragma once
// The catalogue of anomaly kinds: what each one does, which Device Defender metrics it is meant to move
// (primary) and which it moves as a side effect, and how its strength is written.
#include <span>
#include <string_view>
#include <vector>

namespace fleetsim::scenario {

enum class AnomalyKind {
  message_flood,           ///< publishes far faster than the baseline
  payload_inflation,       ///< publishes much larger payloads
  receive_flood,           ///< the thing is sent far more commands
  authorization_failures,  ///< publishes/subscribes outside the thing's policy
  reconnect_storm,         ///< disconnects and reconnects over and over
  silence,                 ///< stops publishing (stays connected)
  device_bytes_out,        ///< the device agent reports far more bytes/packets out (exfiltration)
  device_listening_ports,  ///< the device agent reports extra listening ports (a backdoor)
  device_connections,      ///< the device agent reports many established TCP connections
};

/// How an anomaly's `strength` may be written.
enum class StrengthForm { none, multiplier, rate, size, count, percent };

struct KindInfo {
  AnomalyKind kind;
  std::string_view name;     ///< as written in scenarios, e.g. "message-flood"
  std::string_view summary;  ///< one line for --help and plan
  std::vector<StrengthForm> strength_forms;  ///< accepted forms, first is the default's form
  std::string_view default_strength;         ///< used when `strength` is omitted
  std::vector<std::string_view> modes;       ///< accepted `mode` values, first is the default (empty: none)
  bool device_side;                          ///< needs the group's device_metrics reports
};

std::span<const KindInfo> anomaly_kinds();
const KindInfo& kind_info(AnomalyKind kind);
const KindInfo* find_kind(std::string_view name);
std::string_view describe(StrengthForm form);  ///< "a multiplier such as x20"

/// The metrics an anomaly of this kind (and mode) moves.
struct AffectedMetrics {
  std::vector<std::string_view> primary;       ///< what it is meant to move
  std::vector<std::string_view> side_effects;  ///< what it moves as a consequence
};
AffectedMetrics affected_metrics(AnomalyKind kind, std::string_view mode);

}  // namespace fleetsim::scenario

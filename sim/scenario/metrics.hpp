#pragma once
// The Device Defender metrics fleetsim knows, with the facts validation needs.
#include <span>
#include <string_view>

namespace fleetsim::scenario {

struct MetricInfo {
  std::string_view name;       ///< e.g. "aws:num-messages-sent"
  bool device_side;            ///< reported by the device agent, not measured by the broker
  bool ml;                     ///< ML Detect supports it
  enum class Value { count, number, ports, cidrs, ip } value;  ///< the MetricValue member a static rule uses
  bool needs_duration;         ///< static rules on it take durationSeconds
};

std::span<const MetricInfo> known_metrics();
const MetricInfo* find_metric(std::string_view name);

}  // namespace fleetsim::scenario

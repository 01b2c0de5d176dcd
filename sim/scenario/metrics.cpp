#include "sim/scenario/metrics.hpp"

#include <array>

namespace fleetsim::scenario {

namespace {
using V = MetricInfo::Value;
// From the Device Defender guide's cloud-side and device-side metric pages.
constexpr std::array metrics{
    MetricInfo{"aws:message-byte-size", false, true, V::count, false},
    MetricInfo{"aws:num-messages-sent", false, true, V::count, true},
    MetricInfo{"aws:num-messages-received", false, true, V::count, true},
    MetricInfo{"aws:num-authorization-failures", false, true, V::count, true},
    MetricInfo{"aws:num-connection-attempts", false, true, V::count, true},
    MetricInfo{"aws:num-disconnects", false, true, V::count, true},
    MetricInfo{"aws:disconnect-duration", false, false, V::count, false},
    MetricInfo{"aws:source-ip-address", false, false, V::cidrs, false},
    MetricInfo{"aws:all-bytes-out", true, true, V::count, true},
    MetricInfo{"aws:all-bytes-in", true, true, V::count, true},
    MetricInfo{"aws:all-packets-out", true, true, V::count, true},
    MetricInfo{"aws:all-packets-in", true, true, V::count, true},
    MetricInfo{"aws:num-listening-tcp-ports", true, true, V::count, false},
    MetricInfo{"aws:num-listening-udp-ports", true, true, V::count, false},
    MetricInfo{"aws:num-established-tcp-connections", true, true, V::count, false},
    MetricInfo{"aws:destination-ip-addresses", true, false, V::cidrs, false},
    MetricInfo{"aws:listening-tcp-ports", true, false, V::ports, false},
    MetricInfo{"aws:listening-udp-ports", true, false, V::ports, false},
};
}  // namespace

std::span<const MetricInfo> known_metrics() { return metrics; }

const MetricInfo* find_metric(std::string_view name) {
  for (const auto& m : metrics)
    if (m.name == name) return &m;
  return nullptr;
}

}  // namespace fleetsim::scenario

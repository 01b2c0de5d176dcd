#include "sim/scenario/anomaly_kinds.hpp"

#include <stdexcept>

namespace fleetsim::scenario {
namespace {
using F = StrengthForm;
const std::vector<KindInfo>& catalogue() {
  static const std::vector<KindInfo> kinds{
      {AnomalyKind::message_flood, "message-flood", "publishes far faster than its baseline rate",
       {F::multiplier, F::rate}, "x20", {}, false},
      {AnomalyKind::payload_inflation, "payload-inflation", "publishes at its usual rate with much larger payloads",
       {F::multiplier, F::size}, "x20", {}, false},
      {AnomalyKind::receive_flood, "receive-flood", "is sent far more commands than usual",
       {F::multiplier, F::rate}, "x20", {}, false},
      {AnomalyKind::authorization_failures, "authorization-failures",
       "publishes or subscribes to topics its policy denies", {F::rate}, "6/min", {"publish", "subscribe", "both"},
       false},
      {AnomalyKind::reconnect_storm, "reconnect-storm", "disconnects and reconnects over and over",
       {F::rate}, "6/min", {}, false},
      {AnomalyKind::silence, "silence", "stops publishing telemetry while staying connected",
       {F::percent}, "100%", {}, false},
      {AnomalyKind::device_bytes_out, "device-bytes-out",
       "reports far more bytes and packets out (exfiltration)", {F::multiplier, F::size}, "x20", {}, true},
      {AnomalyKind::device_listening_ports, "device-listening-ports",
       "reports extra listening ports (a backdoor)", {F::count}, "5", {"tcp", "udp"}, true},
      {AnomalyKind::device_connections, "device-connections", "reports many more established TCP connections",
       {F::count, F::multiplier}, "20", {}, true},
  };
  return kinds;
}
}  // namespace

std::span<const KindInfo> anomaly_kinds() { return catalogue(); }

const KindInfo& kind_info(AnomalyKind kind) {
  for (const auto& k : catalogue())
    if (k.kind == kind) return k;
  throw std::logic_error("anomaly kind missing from the catalogue");
}

const KindInfo* find_kind(std::string_view name) {
  for (const auto& k : catalogue())
    if (k.name == name) return &k;
  return nullptr;
}

std::string_view describe(StrengthForm form) {
  switch (form) {
    case F::none: return "nothing";
    case F::multiplier: return "a multiplier of the baseline such as x20";
    case F::rate: return "a rate such as 30/min";
    case F::size: return "a size such as 64KiB";
    case F::count: return "a whole number such as 5";
    case F::percent: return "a percentage such as 80%";
  }
  return "?";
}

AffectedMetrics affected_metrics(AnomalyKind kind, std::string_view mode) {
  switch (kind) {
    case AnomalyKind::message_flood:
      return {{"aws:num-messages-sent"}, {"aws:all-bytes-out", "aws:all-packets-out"}};
    case AnomalyKind::payload_inflation:
      return {{"aws:message-byte-size"}, {"aws:all-bytes-out"}};
    case AnomalyKind::receive_flood:
      return {{"aws:num-messages-received"}, {"aws:all-bytes-in", "aws:all-packets-in"}};
    case AnomalyKind::authorization_failures:
      // AWS IoT closes the connection on a denied request (disconnect reason AUTH_ERROR), so the device
      // disconnects and reconnects as a consequence.
      return {{"aws:num-authorization-failures"}, {"aws:num-disconnects", "aws:num-connection-attempts"}};
    case AnomalyKind::reconnect_storm:
      return {{"aws:num-connection-attempts", "aws:num-disconnects"}, {}};
    case AnomalyKind::silence:
      return {{"aws:num-messages-sent"}, {"aws:all-bytes-out", "aws:all-packets-out"}};
    case AnomalyKind::device_bytes_out:
      return {{"aws:all-bytes-out", "aws:all-packets-out"}, {}};
    case AnomalyKind::device_listening_ports:
      if (mode == "udp") return {{"aws:num-listening-udp-ports"}, {"aws:listening-udp-ports"}};
      return {{"aws:num-listening-tcp-ports"}, {"aws:listening-tcp-ports"}};
    case AnomalyKind::device_connections:
      return {{"aws:num-established-tcp-connections"}, {"aws:destination-ip-addresses"}};
  }
  return {};
}

}  // namespace fleetsim::scenario

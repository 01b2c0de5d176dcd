#pragma once
// Device-side metric reports (Device Defender Detect): the schema AWS documents for
// $aws/things/THING/defender/metrics/json (and /cbor), the check the emulator's broker runs on every
// report, and the acknowledgements it publishes on .../accepted and .../rejected.
//
// The schema (long names, short names in brackets):
//   header (hed) { report_id (rid): integer >= 0, version (v): "1.0" }                        required
//   metrics (met) {                                                       at least one of metrics, custom_metrics
//     network_stats (ns) { bytes_in (bi), bytes_out (bo), packets_in (pi), packets_out (po) }  deltas, integers >= 0
//     tcp_connections (tc) { established_connections (ec) {
//         connections (cs): [{ remote_addr (rad): "ip:port", local_port (lp), local_interface (li) }], total (t) } }
//     listening_tcp_ports (tp), listening_udp_ports (up) {
//         ports (pts): [{ port (pt): 0..65535, interface (if) }], total (t) } }
//   custom_metrics (cmet) { NAME: [ { number | number_list | string_list | ip_list } ] }     values are arrays
// Unknown members are rejected. AWS answers every rejection with the same documented code and message
// (ErrorCode "InvalidPayload", ErrorMessage "Malformed metrics report"); `detail` says what was wrong, for
// logs and tests only.
//
// Thread-safety: free functions without shared state.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sim/core/time.hpp"

namespace fleetsim::local {

/// The wire format of a report, from the last level of its topic.
enum class ReportFormat { json, cbor };

/// What the broker makes of one report.
struct DeviceReportCheck {
  bool accepted = false;
  nlohmann::json report;                ///< when accepted: the report with long member names only
  std::optional<std::int64_t> report_id;  ///< when it could be read, accepted or not (AWS echoes it)
  std::string error_code;               ///< when rejected: "InvalidPayload"
  std::string error_message;            ///< when rejected: "Malformed metrics report"
  std::string detail;                   ///< when rejected: which member is wrong and why (not sent)
};

/// Validates a JSON (or CBOR) report against the documented schema and normalises short names.
DeviceReportCheck check_device_report(std::string_view payload, ReportFormat format = ReportFormat::json);
/// The same for an already parsed document.
DeviceReportCheck check_device_report_document(const nlohmann::json& document);

/// The acknowledgement AWS publishes: {"thingName","reportId","status":"ACCEPTED"|"REJECTED",
/// "statusDetails":{"ErrorCode","ErrorMessage"} (rejected only),"timestamp": epoch ms}; reportId is
/// left out when the report had none that could be read.
nlohmann::json device_report_ack(std::string_view thing_name, const DeviceReportCheck& check, EpochMillis now);

/// The parts of a device-report topic: `$aws/things/THING/defender/metrics/json` or `/cbor`.
struct ReportTopic {
  std::string_view thing_name;
  ReportFormat format = ReportFormat::json;
};
/// The thing and format if `topic` is a report topic (not its /accepted or /rejected).
std::optional<ReportTopic> parse_report_topic(std::string_view topic);
/// `$aws/things/THING/defender/metrics/FORMAT/accepted` (or /rejected).
std::string report_ack_topic(std::string_view thing_name, ReportFormat format, bool accepted);
/// The longest thing name AWS accepts in a report topic (bytes of UTF-8).
inline constexpr std::size_t max_report_thing_name = 128;

}  // namespace fleetsim::local

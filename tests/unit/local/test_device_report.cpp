// Test that header file is self-contained
#include "sim/local/device_report.hpp"

#include <catch2/catch.hpp>

using fleetsim::local::check_device_report;
using fleetsim::local::device_report_ack;
using fleetsim::local::parse_report_topic;
using fleetsim::local::report_ack_topic;
using fleetsim::local::ReportFormat;
using json = nlohmann::json;

namespace {

const char* long_report = R"({
  "header": {"report_id": 1530304554, "version": "1.0"},
  "metrics": {
    "listening_tcp_ports": {"ports": [{"interface": "eth0", "port": 24800}, {"port": 22}], "total": 2},
    "listening_udp_ports": {"ports": [{"interface": "eth0", "port": 5353}], "total": 1},
    "network_stats": {"bytes_in": 29358693495, "bytes_out": 26485035, "packets_in": 10013573555, "packets_out": 11382615},
    "tcp_connections": {"established_connections": {
      "connections": [{"local_interface": "eth0", "local_port": 80, "remote_addr": "192.168.0.1:8000"},
                      {"remote_addr": "[2001:db8::1]:443"}],
      "total": 2}}
  },
  "custom_metrics": {"cpu": [{"number": 12.5}], "ifs": [{"string_list": ["eth0"]}], "peers": [{"ip_list": ["10.0.0.1"]}],
                     "temps": [{"number_list": [1, 2.5]}]}
})";

// The same report with AWS's short names.
const char* short_report = R"({
  "hed": {"rid": 1530304554, "v": "1.0"},
  "met": {
    "tp": {"pts": [{"if": "eth0", "pt": 24800}, {"pt": 22}], "t": 2},
    "up": {"pts": [{"if": "eth0", "pt": 5353}], "t": 1},
    "ns": {"bi": 29358693495, "bo": 26485035, "pi": 10013573555, "po": 11382615},
    "tc": {"ec": {"cs": [{"li": "eth0", "lp": 80, "rad": "192.168.0.1:8000"}, {"rad": "[2001:db8::1]:443"}], "t": 2}}
  },
  "cmet": {"cpu": [{"number": 12.5}], "ifs": [{"string_list": ["eth0"]}], "peers": [{"ip_list": ["10.0.0.1"]}],
           "temps": [{"number_list": [1, 2.5]}]}
})";

/// A valid minimal report with `patch` merged in (null members removed).
std::string with(const json& patch) {
  json base = json::parse(R"({"header": {"report_id": 7, "version": "1.0"}, "metrics": {"network_stats": {"bytes_in": 1}}})");
  base.merge_patch(patch);
  return base.dump();
}

}  // namespace

TEST_CASE("device report: long names are accepted and kept", "[device_report]") {
  auto check = check_device_report(long_report);
  INFO(check.detail);
  REQUIRE(check.accepted);
  CHECK(check.report_id == 1530304554);
  auto normalised = json::parse(long_report);
  CHECK(check.report == normalised);
}

TEST_CASE("device report: short names are accepted and normalised to long names", "[device_report]") {
  auto check = check_device_report(short_report);
  INFO(check.detail);
  REQUIRE(check.accepted);
  CHECK(check.report == json::parse(long_report));
}

TEST_CASE("device report: only custom metrics, or only metrics, are enough", "[device_report]") {
  CHECK(check_device_report(R"({"header":{"report_id":1,"version":"1.0"},"custom_metrics":{"c":[{"number":0}]}})").accepted);
  CHECK(check_device_report(R"({"hed":{"rid":1,"v":"1.0"},"met":{}})").accepted);
}

TEST_CASE("device report: CBOR reports are checked the same way", "[device_report]") {
  auto bytes = json::to_cbor(json::parse(short_report));
  auto check = check_device_report(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                                   ReportFormat::cbor);
  REQUIRE(check.accepted);
  CHECK(check.report == json::parse(long_report));
  CHECK_FALSE(check_device_report(long_report, ReportFormat::cbor).accepted);  // JSON text is not CBOR
}

TEST_CASE("device report: every rejection reason", "[device_report]") {
  struct Case {
    std::string payload;
    std::string detail;  // a fragment of the detail
  };
  const std::vector<Case> cases = {
      {"not json", "not JSON"},
      {"[1,2]", "must be an object"},
      {R"({"metrics":{}})", "header is missing"},
      {R"({"header":{"version":"1.0"},"metrics":{}})", "header.report_id is missing"},
      {R"({"header":{"report_id":1},"metrics":{}})", "header.version is missing"},
      {with({{"header", {{"version", "2.0"}}}}), "header.version must be \"1.0\""},
      {with({{"header", {{"version", 1.0}}}}), "header.version must be a string"},
      {with({{"header", {{"report_id", "7"}}}}), "header.report_id must be an integer"},
      {with({{"header", {{"report_id", -1}}}}), "header.report_id must be an integer"},
      {with({{"header", {{"report_id", 1.5}}}}), "header.report_id must be an integer"},
      {with({{"metrics", nullptr}}), "needs metrics or custom_metrics"},
      {with({{"metrics", {{"network_stats", {{"bytes_out", -5}}}}}}), "network_stats.bytes_out must be an integer >= 0"},
      {with({{"metrics", {{"network_stats", {{"bytes", 5}}}}}}), "unknown member 'bytes'"},
      {with({{"metrics", {{"listening_tcp_ports", {{"ports", 22}}}}}}), "ports must be an array"},
      {with({{"metrics", {{"listening_udp_ports", {{"ports", {{{"port", 70000}}}}}}}}}), "port must be 0..65535"},
      {with({{"metrics", {{"listening_udp_ports", {{"ports", {{{"interface", "eth0"}}}}}}}}}), ".port is missing"},
      {with({{"metrics", {{"listening_tcp_ports", {{"total", -1}}}}}}), "total must be an integer >= 0"},
      {with({{"metrics", {{"tcp_connections", {{"established_connections", {{"connections", {{{"remote_addr", "nowhere"}}}}}}}}}}}),
       "remote_addr must be \"ip:port\""},
      {with({{"metrics", {{"tcp_connections", {{"established_connections", {{"connections", {{{"remote_addr", "10.0.0.1:99999"}}}}}}}}}}}),
       "remote_addr must be \"ip:port\""},
      {with({{"custom_metrics", {{"c", {{"number", 1}}}}}}), "must be an array of one value object"},
      {with({{"custom_metrics", {{"c", {{{"number", "1"}}}}}}}), "number must be a number"},
      {with({{"custom_metrics", {{"c", {{{"ip_list", {"300.1.1.1"}}}}}}}}), "invalid IP address"},
      {with({{"custom_metrics", {{"c", {{{"colour", 1}}}}}}}), "unknown value type 'colour'"},
      {with({{"extra", 1}}), "unknown member 'extra'"},
      {R"({"header":{"report_id":1,"version":"1.0"},"hed":{"rid":1,"v":"1.0"},"metrics":{}})", "given twice"},
  };
  for (const auto& c : cases) {
    INFO(c.payload);
    auto check = check_device_report(c.payload);
    CHECK_FALSE(check.accepted);
    CHECK(check.error_code == "InvalidPayload");
    CHECK(check.error_message == "Malformed metrics report");
    CHECK_THAT(check.detail, Catch::Contains(c.detail));
  }
}

TEST_CASE("device report: acknowledgements carry AWS's documented payloads", "[device_report]") {
  auto accepted = check_device_report(with(json::object()));
  CHECK(device_report_ack("thing-1", accepted, 1700000000123).dump() ==
        R"({"reportId":7,"status":"ACCEPTED","thingName":"thing-1","timestamp":1700000000123})");
  auto rejected = check_device_report(with({{"header", {{"version", "9"}}}}));
  CHECK(device_report_ack("thing-1", rejected, 5).dump() ==
        R"({"reportId":7,"status":"REJECTED","statusDetails":{"ErrorCode":"InvalidPayload","ErrorMessage":"Malformed metrics report"},)"
        R"("thingName":"thing-1","timestamp":5})");
  // Without a readable report id there is none to echo.
  CHECK_FALSE(device_report_ack("t", check_device_report("{"), 5).contains("reportId"));
}

TEST_CASE("device report: topics", "[device_report]") {
  auto t = parse_report_topic("$aws/things/thing-1/defender/metrics/json");
  REQUIRE(t);
  CHECK(t->thing_name == "thing-1");
  CHECK(t->format == ReportFormat::json);
  CHECK(parse_report_topic("$aws/things/t/defender/metrics/cbor")->format == ReportFormat::cbor);
  CHECK_FALSE(parse_report_topic("$aws/things/t/defender/metrics/json/accepted"));
  CHECK_FALSE(parse_report_topic("$aws/things//defender/metrics/json"));
  CHECK_FALSE(parse_report_topic("$aws/things/t/defender/metrics/xml"));
  CHECK_FALSE(parse_report_topic("things/t/defender/metrics/json"));
  CHECK(report_ack_topic("t", ReportFormat::json, true) == "$aws/things/t/defender/metrics/json/accepted");
  CHECK(report_ack_topic("t", ReportFormat::cbor, false) == "$aws/things/t/defender/metrics/cbor/rejected");
}

#include "sim/local/device_report.hpp"

#include <arpa/inet.h>

#include <array>
#include <limits>
#include <utility>


namespace fleetsim::local {

namespace {

using json = nlohmann::json;

/// A member's long name and the short name AWS also accepts.
struct Name {
  std::string_view long_name;
  std::string_view short_name;
};

/// Rejection with a detail; thrown inside this file only, caught in check_device_report.
struct Malformed {
  std::string detail;
};

[[noreturn]] void fail(std::string detail) { throw Malformed{std::move(detail)}; }

/// The members of `object` (at `path`), renamed to their long names; unknown or repeated members fail.
template <std::size_t N>
json rename(const json& object, std::string_view path, const std::array<Name, N>& names) {
  if (!object.is_object()) fail(std::string(path) + " must be an object");
  json out = json::object();
  for (const auto& [key, value] : object.items()) {
    const Name* found = nullptr;
    for (const auto& n : names)
      if (key == n.long_name || key == n.short_name) found = &n;
    if (!found) fail(std::string(path) + " has an unknown member '" + key + "'");
    std::string long_name(found->long_name);
    if (out.contains(long_name)) fail(std::string(path) + "." + long_name + " is given twice (long and short name)");
    out[long_name] = value;
  }
  return out;
}

std::int64_t non_negative_integer(const json& v, const std::string& path) {
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max())) fail(path + " is too large");
    return v.get<std::int64_t>();
  }
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::int64_t>();
  fail(path + " must be an integer >= 0");
}

void require(const json& object, std::string_view member, const std::string& path) {
  if (!object.contains(member)) fail(path + "." + std::string(member) + " is missing");
}

bool valid_ip(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 || inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

/// "ip:port" for IPv4, "[ip]:port" or "ip:port" (last colon) for IPv6.
bool valid_address_port(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return false;
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    return false;
  return valid_ip(host);
}

std::string checked_string(const json& v, const std::string& path) {
  if (!v.is_string()) fail(path + " must be a string");
  return v.get<std::string>();
}

json header(const json& h) {
  static constexpr std::array<Name, 2> names{{{"report_id", "rid"}, {"version", "v"}}};
  json out = rename(h, "header", names);
  require(out, "report_id", "header");
  require(out, "version", "header");
  non_negative_integer(out["report_id"], "header.report_id");
  if (checked_string(out["version"], "header.version") != "1.0") fail("header.version must be \"1.0\"");
  return out;
}

json ports(const json& p, const std::string& path) {
  static constexpr std::array<Name, 2> names{{{"ports", "pts"}, {"total", "t"}}};
  static constexpr std::array<Name, 2> port_names{{{"port", "pt"}, {"interface", "if"}}};
  json out = rename(p, path, names);
  if (out.contains("ports")) {
    if (!out["ports"].is_array()) fail(path + ".ports must be an array");
    json list = json::array();
    for (std::size_t i = 0; i < out["ports"].size(); ++i) {
      std::string at = path + ".ports[" + std::to_string(i) + "]";
      json entry = rename(out["ports"][i], at, port_names);
      require(entry, "port", at);
      if (non_negative_integer(entry["port"], at + ".port") > 65535) fail(at + ".port must be 0..65535");
      if (entry.contains("interface")) checked_string(entry["interface"], at + ".interface");
      list.push_back(std::move(entry));
    }
    out["ports"] = std::move(list);
  }
  if (out.contains("total")) non_negative_integer(out["total"], path + ".total");
  return out;
}

json network_stats(const json& n) {
  static constexpr std::array<Name, 4> names{
      {{"bytes_in", "bi"}, {"bytes_out", "bo"}, {"packets_in", "pi"}, {"packets_out", "po"}}};
  json out = rename(n, "metrics.network_stats", names);
  for (const auto& [key, value] : out.items()) non_negative_integer(value, "metrics.network_stats." + key);
  return out;
}

json tcp_connections(const json& t) {
  static constexpr std::array<Name, 1> names{{{"established_connections", "ec"}}};
  static constexpr std::array<Name, 2> established{{{"connections", "cs"}, {"total", "t"}}};
  static constexpr std::array<Name, 3> connection{
      {{"remote_addr", "rad"}, {"local_port", "lp"}, {"local_interface", "li"}}};
  const std::string path = "metrics.tcp_connections";
  json out = rename(t, path, names);
  if (!out.contains("established_connections")) return out;
  const std::string epath = path + ".established_connections";
  json ec = rename(out["established_connections"], epath, established);
  if (ec.contains("connections")) {
    if (!ec["connections"].is_array()) fail(epath + ".connections must be an array");
    json list = json::array();
    for (std::size_t i = 0; i < ec["connections"].size(); ++i) {
      std::string at = epath + ".connections[" + std::to_string(i) + "]";
      json c = rename(ec["connections"][i], at, connection);
      require(c, "remote_addr", at);
      if (!valid_address_port(checked_string(c["remote_addr"], at + ".remote_addr")))
        fail(at + ".remote_addr must be \"ip:port\"");
      if (c.contains("local_port") && non_negative_integer(c["local_port"], at + ".local_port") > 65535)
        fail(at + ".local_port must be 0..65535");
      if (c.contains("local_interface")) checked_string(c["local_interface"], at + ".local_interface");
      list.push_back(std::move(c));
    }
    ec["connections"] = std::move(list);
  }
  if (ec.contains("total")) non_negative_integer(ec["total"], epath + ".total");
  out["established_connections"] = std::move(ec);
  return out;
}

json metrics(const json& m) {
  static constexpr std::array<Name, 4> names{{{"network_stats", "ns"},
                                              {"tcp_connections", "tc"},
                                              {"listening_tcp_ports", "tp"},
                                              {"listening_udp_ports", "up"}}};
  json out = rename(m, "metrics", names);
  if (out.contains("network_stats")) out["network_stats"] = network_stats(out["network_stats"]);
  if (out.contains("tcp_connections")) out["tcp_connections"] = tcp_connections(out["tcp_connections"]);
  for (const char* key : {"listening_tcp_ports", "listening_udp_ports"})
    if (out.contains(key)) out[key] = ports(out[key], std::string("metrics.") + key);
  return out;
}

json custom_metrics(const json& c) {
  if (!c.is_object()) fail("custom_metrics must be an object");
  for (const auto& [name, value] : c.items()) {
    std::string path = "custom_metrics." + name;
    if (name.empty() || name.size() > 128) fail(path + ": the name must be 1..128 characters");
    // AWS rejects {"number": 1} without the array ("Malformed metrics report").
    if (!value.is_array() || value.size() != 1) fail(path + " must be an array of one value object");
    const json& v = value[0];
    if (!v.is_object() || v.size() != 1) fail(path + "[0] must be an object with one of number, number_list, string_list, ip_list");
    const std::string& type = v.begin().key();
    const json& data = v.begin().value();
    if (type == "number") {
      if (!data.is_number()) fail(path + "[0].number must be a number");
    } else if (type == "number_list" || type == "string_list" || type == "ip_list") {
      if (!data.is_array()) fail(path + "[0]." + type + " must be an array");
      for (const auto& e : data) {
        if (type == "number_list" && !e.is_number()) fail(path + "[0].number_list must hold numbers");
        if (type != "number_list" && !e.is_string()) fail(path + "[0]." + type + " must hold strings");
        if (type == "ip_list" && !valid_ip(e.get<std::string>())) fail(path + "[0].ip_list holds an invalid IP address");
      }
    } else {
      fail(path + "[0] has an unknown value type '" + type + "'");
    }
  }
  return c;
}

}  // namespace

DeviceReportCheck check_device_report_document(const json& document) {
  static constexpr std::array<Name, 3> names{{{"header", "hed"}, {"metrics", "met"}, {"custom_metrics", "cmet"}}};
  DeviceReportCheck check;
  try {
    // Read the report id first, so that a rejection can still echo it as AWS does.
    if (document.is_object())
      for (const char* h : {"header", "hed"})
        if (auto it = document.find(h); it != document.end() && it->is_object())
          for (const char* r : {"report_id", "rid"})
            if (auto id = it->find(r); id != it->end() && id->is_number_integer()) check.report_id = id->get<std::int64_t>();
    json out = rename(document, "the report", names);
    require(out, "header", "the report");
    out["header"] = header(out["header"]);
    if (!out.contains("metrics") && !out.contains("custom_metrics"))
      fail("the report needs metrics or custom_metrics");
    if (out.contains("metrics")) out["metrics"] = metrics(out["metrics"]);
    if (out.contains("custom_metrics")) out["custom_metrics"] = custom_metrics(out["custom_metrics"]);
    check.accepted = true;
    check.report = std::move(out);
  } catch (const Malformed& m) {
    check.error_code = "InvalidPayload";
    check.error_message = "Malformed metrics report";
    check.detail = m.detail;
  }
  return check;
}

DeviceReportCheck check_device_report(std::string_view payload, ReportFormat format) {
  json document = format == ReportFormat::json ? json::parse(payload, nullptr, false)
                                               : json::from_cbor(payload, true, false);
  if (document.is_discarded()) {
    DeviceReportCheck check;
    check.error_code = "InvalidPayload";
    check.error_message = "Malformed metrics report";
    check.detail = format == ReportFormat::json ? "the payload is not JSON" : "the payload is not CBOR";
    return check;
  }
  return check_device_report_document(document);
}

json device_report_ack(std::string_view thing_name, const DeviceReportCheck& check, EpochMillis now) {
  json ack = {{"thingName", thing_name}};
  if (check.report_id) ack["reportId"] = *check.report_id;
  ack["status"] = check.accepted ? "ACCEPTED" : "REJECTED";
  if (!check.accepted)
    ack["statusDetails"] = {{"ErrorCode", check.error_code}, {"ErrorMessage", check.error_message}};
  ack["timestamp"] = now;
  return ack;
}

std::optional<ReportTopic> parse_report_topic(std::string_view topic) {
  constexpr std::string_view prefix = "$aws/things/";
  constexpr std::string_view middle = "/defender/metrics/";
  if (!topic.starts_with(prefix)) return std::nullopt;
  topic.remove_prefix(prefix.size());
  auto slash = topic.find('/');
  if (slash == 0 || slash == std::string_view::npos) return std::nullopt;
  ReportTopic r{topic.substr(0, slash)};
  topic.remove_prefix(slash);
  if (!topic.starts_with(middle)) return std::nullopt;
  topic.remove_prefix(middle.size());
  if (topic == "json") r.format = ReportFormat::json;
  else if (topic == "cbor") r.format = ReportFormat::cbor;
  else return std::nullopt;
  return r;
}

std::string report_ack_topic(std::string_view thing_name, ReportFormat format, bool accepted) {
  std::string t = "$aws/things/";
  t += thing_name;
  t += format == ReportFormat::json ? "/defender/metrics/json/" : "/defender/metrics/cbor/";
  t += accepted ? "accepted" : "rejected";
  return t;
}

}  // namespace fleetsim::local

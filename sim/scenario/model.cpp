#include "sim/scenario/model.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>

namespace fleetsim::scenario {

double SizeDistribution::low() const {
  switch (kind) {
    case Kind::fixed: return a;
    case Kind::uniform: return a;
    case Kind::normal: return std::max(0.0, a - 2 * b);
  }
  return a;
}

double SizeDistribution::high() const {
  switch (kind) {
    case Kind::fixed: return a;
    case Kind::uniform: return b;
    case Kind::normal: return a + 2 * b;
  }
  return a;
}

std::uint64_t SizeDistribution::sample(Rng& rng) const {
  double v = a;
  if (kind == Kind::uniform) v = rng.uniform(a, b + 1);
  if (kind == Kind::normal) v = rng.normal(a, b);
  return static_cast<std::uint64_t>(std::max(0.0, std::floor(v)));
}

std::string SizeDistribution::describe() const {
  switch (kind) {
    case Kind::fixed: return format_size(a);
    case Kind::uniform: return format_size(a) + ".." + format_size(b);
    case Kind::normal: return format_size(a) + "±" + format_size(b);
  }
  return "";
}

double Diurnal::factor(EpochMillis t) const {
  if (amplitude == 0) return 1;
  double day_phase = static_cast<double>(((t - peak.count()) % millis_per_day + millis_per_day) % millis_per_day) /
                     static_cast<double>(millis_per_day);
  return 1 + amplitude * std::cos(2 * std::numbers::pi * day_phase);
}

std::string FleetGroup::name_of(std::uint64_t index) const {
  std::string out;
  std::string_view t = thing_name;
  while (!t.empty()) {
    auto open = t.find('{');
    if (open == std::string_view::npos) {
      out += t;
      break;
    }
    out += t.substr(0, open);
    auto close = t.find('}', open);
    if (close == std::string_view::npos) {
      out += t.substr(open);
      break;
    }
    auto field = t.substr(open + 1, close - open - 1);
    if (field == "group") {
      out += name;
    } else if (field.starts_with("index")) {
      std::string digits = std::to_string(index);
      std::size_t width = 0;
      if (field.size() > 6 && field[5] == ':') std::from_chars(field.data() + 6, field.data() + field.size(), width);
      if (digits.size() < width) out.append(width - digits.size(), '0');
      out += digits;
    } else {
      out += t.substr(open, close - open + 1);
    }
    t.remove_prefix(close + 1);
  }
  return out;
}

std::string FleetGroup::topic_for(const std::string& topic_key, const std::string& thing) const {
  auto it = topics.find(topic_key);
  std::string t = it == topics.end() ? topic_key : it->second;
  for (auto pos = t.find("{thing}"); pos != std::string::npos; pos = t.find("{thing}", pos + thing.size()))
    t.replace(pos, 7, thing);
  return t;
}

std::uint64_t Scenario::thing_count() const {
  std::uint64_t n = 0;
  for (const auto& g : fleet) n += g.count;
  return n;
}

Expected<Target> parse_target(std::string_view text) {
  Target t;
  const char* accepted = "write local, aws, mqtt://HOST:PORT or mqtts://HOST:PORT";
  if (text == "local") return t;
  if (text == "aws") {
    t.kind = Target::Kind::aws;
    return t;
  }
  std::string_view rest;
  if (text.starts_with("mqtt://")) {
    t.tls = false;
    rest = text.substr(7);
  } else if (text.starts_with("mqtts://")) {
    rest = text.substr(8);
  } else {
    return unexpected("'" + std::string(text) + "' is not a target; " + accepted);
  }
  t.kind = Target::Kind::mqtt;
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string_view port_text;
  if (rest.starts_with("[")) {  // [::1]:8883
    auto close = rest.find(']');
    if (close == std::string_view::npos) return unexpected("'" + std::string(text) + "': unclosed '[' in the host");
    t.host = std::string(rest.substr(1, close - 1));
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return unexpected("'" + std::string(text) + "': expected ':PORT' after the host");
      port_text = after.substr(1);
    }
  } else {
    auto colon = rest.rfind(':');
    t.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (t.host.empty() || t.host.find_first_of("/?#@ ") != std::string::npos)
    return unexpected("'" + std::string(text) + "' has no valid host; " + accepted);
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || p != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return unexpected("'" + std::string(text) + "': the port must be a number from 1 to 65535");
    t.port = static_cast<std::uint16_t>(port);
  } else {
    t.port = t.tls ? 8883 : 1883;
  }
  return t;
}

std::string describe(const Target& t) {
  switch (t.kind) {
    case Target::Kind::local: return "local";
    case Target::Kind::aws: return t.region.empty() ? "aws" : "aws (" + t.region + ")";
    case Target::Kind::mqtt: {
      std::string host = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
      return std::string(t.tls ? "mqtts://" : "mqtt://") + host + ":" + std::to_string(t.port);
    }
  }
  return "?";
}

}  // namespace fleetsim::scenario

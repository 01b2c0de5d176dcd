#include "sim/scenario/behaviors.hpp"

#include <algorithm>
#include <set>

#include "sim/core/text.hpp"
#include "sim/scenario/metrics.hpp"

namespace fleetsim::scenario {

using detail::Map;
using detail::Reader;

namespace {

constexpr std::size_t max_behaviors = 100;  // AWS: 100 behaviors per security profile

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' || c == '_' ||
         c == '-';
}

bool valid_aws_name(const std::string& s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), is_name_char);
}

// The JSON for a MetricValue, with its members typed as the AWS model types them.
std::optional<nlohmann::json> read_metric_value(Reader& r, const YAML::Node& n, const std::string& what) {
  auto m = r.map(n, what, {"count", "cidrs", "ports", "number", "numbers", "strings"});
  if (!m) return std::nullopt;
  nlohmann::json out = nlohmann::json::object();
  if (auto v = m->get("count"); v.IsDefined())
    if (auto c = r.count(v, what + ".count", 0, UINT64_MAX)) out["count"] = *c;
  if (auto v = m->get("number"); v.IsDefined())
    if (auto x = r.number(v, what + ".number", -1e300, 1e300)) out["number"] = *x;
  auto list = [&](std::string_view key, auto&& read_item) {
    if (auto v = m->get(key); v.IsDefined()) {
      auto items = r.list(v, what + "." + std::string(key));
      if (!items) return;
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : *items)
        if (auto x = read_item(item)) arr.push_back(*x);
      out[std::string(key)] = arr;
    }
  };
  list("ports", [&](const YAML::Node& i) { return r.count(i, what + ".ports item", 0, 65535); });
  list("numbers", [&](const YAML::Node& i) { return r.number(i, what + ".numbers item", -1e300, 1e300); });
  list("strings", [&](const YAML::Node& i) { return r.string(i, what + ".strings item"); });
  list("cidrs", [&](const YAML::Node& i) -> std::optional<std::string> {
    auto s = r.string(i, what + ".cidrs item");
    if (s && (s->size() < 2 || s->size() > 43 || s->find_first_not_of("0123456789abcdefABCDEF:./") != std::string::npos)) {
      r.error(i, what + ".cidrs: '" + *s + "' is not a CIDR", "write e.g. 10.0.0.0/8");
      return std::nullopt;
    }
    return s;
  });
  if (out.size() != m->entries().size()) return out;  // an item failed; already reported
  if (out.size() != 1) r.error(n, what + " needs exactly one of count, number, numbers, ports, cidrs or strings");
  return out;
}

void read_criteria(Reader& r, const YAML::Node& n, const std::string& what, const MetricInfo* metric,
                   nlohmann::json& json, BehaviorSummary& summary) {
  auto m = r.map(n, what,
                 {"comparisonOperator", "value", "durationSeconds", "consecutiveDatapointsToAlarm",
                  "consecutiveDatapointsToClear", "statisticalThreshold", "mlDetectionConfig"});
  if (!m) return;
  if (auto v = m->get("consecutiveDatapointsToAlarm"); v.IsDefined())
    if (auto c = r.count(v, what + ".consecutiveDatapointsToAlarm", 1, 10)) {
      json["consecutiveDatapointsToAlarm"] = *c;
      summary.datapoints_to_alarm = int(*c);
    }
  if (auto v = m->get("consecutiveDatapointsToClear"); v.IsDefined())
    if (auto c = r.count(v, what + ".consecutiveDatapointsToClear", 1, 10)) {
      json["consecutiveDatapointsToClear"] = *c;
      summary.datapoints_to_clear = int(*c);
    }
  bool ml = m->has("mlDetectionConfig");
  bool statistical = m->has("statisticalThreshold");
  if (ml) {
    summary.type = BehaviorSummary::Type::ml;
    for (auto key : {"comparisonOperator", "value", "durationSeconds", "statisticalThreshold"})
      if (m->has(key))
        r.error(m->get(key), what + ": an ML Detect behavior (mlDetectionConfig) takes no " + std::string(key),
                "remove it, or remove mlDetectionConfig for a rule");
    auto c = r.map(m->get("mlDetectionConfig"), what + ".mlDetectionConfig", {"confidenceLevel"});
    if (c)
      if (auto level = r.one_of(c->require("confidenceLevel"), what + ".mlDetectionConfig.confidenceLevel",
                                {"LOW", "MEDIUM", "HIGH"})) {
        json["mlDetectionConfig"] = {{"confidenceLevel", *level}};
        summary.confidence = *level;
      }
    if (metric && !metric->ml)
      r.error(n, what + ": ML Detect does not support " + std::string(metric->name),
              "use a static rule (comparisonOperator and value) for it");
    return;
  }
  summary.type = statistical ? BehaviorSummary::Type::statistical : BehaviorSummary::Type::static_rule;
  auto op_node = m->require("comparisonOperator");
  std::optional<std::string> op;
  if (op_node.IsDefined())
    op = r.one_of(op_node, what + ".comparisonOperator",
                  {"less-than", "less-than-equals", "greater-than", "greater-than-equals", "in-cidr-set",
                   "not-in-cidr-set", "in-port-set", "not-in-port-set", "in-set", "not-in-set"});
  if (op) json["comparisonOperator"] = *op;
  if (statistical) {
    if (m->has("value")) r.error(m->get("value"), what + ": a statistical rule takes statisticalThreshold, not value");
    auto t = r.map(m->get("statisticalThreshold"), what + ".statisticalThreshold", {"statistic"});
    if (t)
      if (auto stat = r.one_of(t->require("statistic"), what + ".statisticalThreshold.statistic",
                               {"p0", "p0.1", "p0.01", "p1", "p10", "p50", "p90", "p99", "p99.9", "p99.99", "p100"}))
        json["statisticalThreshold"] = {{"statistic", *stat}};
  } else if (auto v = m->require("value"); v.IsDefined()) {
    if (auto value = read_metric_value(r, v, what + ".value")) {
      json["value"] = *value;
      if (metric && op && !value->empty()) {
        const std::string member = value->begin().key();
        bool numeric_op = op->find("than") != std::string::npos;
        bool ok = numeric_op ? (member == "count" || member == "number")
                             : (op->find("cidr") != std::string::npos ? member == "cidrs"
                                : op->find("port") != std::string::npos ? member == "ports"
                                                                         : member == "numbers" || member == "strings");
        if (!ok) r.error(v, what + ": value." + member + " does not go with comparisonOperator " + *op);
      }
    }
  }
  if (auto v = m->get("durationSeconds"); v.IsDefined()) {
    if (auto d = r.count(v, what + ".durationSeconds", 0, 86400)) {
      json["durationSeconds"] = *d;
      static const std::set<std::uint64_t> allowed{300, 600, 900, 1800, 3600};
      if (metric && metric->needs_duration && !allowed.count(*d))
        r.error(v, what + ".durationSeconds is " + std::to_string(*d) + "; Device Defender accepts 300, 600, 900, 1800 or 3600");
    }
  } else if (metric && metric->needs_duration) {
    r.error(n, what + ": a rule on " + std::string(metric->name) + " needs durationSeconds",
            "add durationSeconds: 300 (300, 600, 900, 1800 or 3600)");
  }
}

}  // namespace

std::optional<std::string> read_metric_name(Reader& r, const YAML::Node& n, const std::string& what) {
  auto s = r.string(n, what);
  if (!s) return std::nullopt;
  if (find_metric(*s)) return s;
  if (s->starts_with("aws:")) {
    std::vector<std::string_view> names;
    for (const auto& m : known_metrics()) names.push_back(m.name);
    auto close = closest_match(*s, names);
    r.error(n, what + ": '" + *s + "' is not a Device Defender metric",
            close ? "did you mean '" + *close + "'?" : "metrics: " + join_alternatives(names, ", "));
    return std::nullopt;
  }
  if (!valid_aws_name(*s)) {
    r.error(n, what + ": '" + *s + "' is not a metric name", "use an aws: metric or a custom metric's name");
    return std::nullopt;
  }
  r.warning(n, what + ": '" + *s + "' is a custom metric; fleetsim does not simulate custom metrics",
            "create it with aws iot create-custom-metric and report it from your own agent");
  return s;
}

void read_behaviors(Reader& r, const YAML::Node& n, SecurityProfile& profile) {
  auto items = r.list(n, "security_profile.behaviors");
  if (!items) return;
  if (items->size() > max_behaviors)
    r.error(n, "the security profile has " + std::to_string(items->size()) + " behaviors; AWS allows at most 100",
            "split them across profiles (at most 5 per target)");
  std::set<std::string> names;
  for (std::size_t i = 0; i < items->size(); ++i) {
    const auto& item = (*items)[i];
    std::string what = "behaviors[" + std::to_string(i) + "]";
    auto m = r.map(item, what, {"name", "metric", "metricDimension", "criteria", "suppressAlerts", "exportMetric"});
    if (!m) continue;
    nlohmann::json json = nlohmann::json::object();
    BehaviorSummary summary;
    summary.where = r.at(item);
    if (auto name = r.string(m->require("name"), what + ".name")) {
      if (!valid_aws_name(*name))
        r.error(m->get("name"), what + ".name: '" + *name + "' is not a valid behavior name",
                "use 1 to 128 of a-z A-Z 0-9 : _ -");
      else if (!names.insert(*name).second)
        r.error(m->get("name"), what + ".name: '" + *name + "' is used by another behavior", "names must be unique");
      json["name"] = *name;
      summary.name = *name;
      what = "behavior '" + *name + "'";
    }
    const MetricInfo* metric = nullptr;
    if (auto v = m->get("metric"); v.IsDefined()) {
      if (auto name = read_metric_name(r, v, what + ".metric")) {
        json["metric"] = *name;
        summary.metric = *name;
        metric = find_metric(*name);
      }
    } else {
      r.error(item, "missing key 'metric' in " + what);
    }
    if (auto v = m->get("metricDimension"); v.IsDefined()) {
      if (auto d = r.map(v, what + ".metricDimension", {"dimensionName", "operator"})) {
        nlohmann::json dim = nlohmann::json::object();
        if (auto name = r.string(d->require("dimensionName"), what + ".metricDimension.dimensionName"))
          dim["dimensionName"] = *name;
        if (auto op = d->get("operator"); op.IsDefined())
          if (auto s = r.one_of(op, what + ".metricDimension.operator", {"IN", "NOT_IN"})) dim["operator"] = *s;
        json["metricDimension"] = dim;
        r.warning(v, what + ": fleetsim's local detector does not apply metric dimensions",
                  "AWS applies it; the local emulator counts the metric over all topics");
      }
    }
    if (auto v = m->get("criteria"); v.IsDefined()) {
      nlohmann::json criteria = nlohmann::json::object();
      read_criteria(r, v, what + ".criteria", metric, criteria, summary);
      json["criteria"] = criteria;
    } else {
      r.error(item, what + " has no criteria", "add criteria with mlDetectionConfig, or a rule");
    }
    if (auto v = m->get("suppressAlerts"); v.IsDefined())
      if (auto b = r.boolean(v, what + ".suppressAlerts")) {
        json["suppressAlerts"] = *b;
        summary.suppress_alerts = *b;
      }
    if (auto v = m->get("exportMetric"); v.IsDefined())
      if (auto b = r.boolean(v, what + ".exportMetric")) json["exportMetric"] = *b;
    profile.behaviors.push_back(std::move(json));
    profile.summaries.push_back(std::move(summary));
  }
}

}  // namespace fleetsim::scenario

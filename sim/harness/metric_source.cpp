#include "sim/harness/metric_source.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

namespace fleetsim::harness {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

std::optional<double> metric_number(const nlohmann::json& value) {
  if (!value.is_object()) return std::nullopt;
  for (const char* key : {"count", "number"})
    if (value.contains(key) && value[key].is_number()) return value[key].get<double>();
  for (const char* key : {"ports", "cidrs", "numbers", "strings"})
    if (value.contains(key) && value[key].is_array()) return double(value[key].size());
  return std::nullopt;
}

Expected<std::unique_ptr<FileMetricSource>> FileMetricSource::open(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected(path.string() + ": cannot open the file");
  std::unique_ptr<FileMetricSource> s(new FileMetricSource());
  s->path_ = path;
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    auto where = path.string() + ":" + std::to_string(n) + ": ";
    if (j.is_discarded() || !j.is_object()) return unexpected(where + "not a JSON object");
    if (!j.contains("thing") || !j["thing"].is_string() || !j.contains("metric") || !j["metric"].is_string() ||
        !j.contains("timestamp") || !j["timestamp"].is_number())
      return unexpected(where + "thing, metric (strings) and timestamp (epoch seconds) are required");
    auto v = metric_number(j.value("value", nlohmann::json()));
    if (!v) continue;  // a value kind we cannot reduce to a number says nothing about movement
    auto t = static_cast<EpochMillis>(std::llround(j["timestamp"].get<double>() * 1000.0));
    s->series_[{j["thing"].get<std::string>(), j["metric"].get<std::string>()}].push_back({t, *v});
    ++s->count_;
  }
  for (auto& [key, list] : s->series_)
    std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.t < b.t; });
  return s;
}

Expected<std::vector<MetricDatum>> FileMetricSource::values(const std::string& thing, const std::string& metric,
                                                            EpochMillis from, EpochMillis to) {
  std::vector<MetricDatum> out;
  auto it = series_.find({thing, metric});
  if (it == series_.end()) return out;
  for (const auto& d : it->second)
    if (d.t >= from && d.t <= to) out.push_back(d);
  return out;
}

std::string_view to_string(Movement m) {
  switch (m) {
    case Movement::moved: return "moved";
    case Movement::flat: return "flat";
    case Movement::unknown: break;
  }
  return "unknown";
}

MovementCheck check_movement(const std::vector<MetricDatum>& series, EpochMillis start, EpochMillis end_with_grace,
                             const std::vector<std::pair<EpochMillis, EpochMillis>>& exclude) {
  MovementCheck c;
  std::vector<double> baseline, during;
  for (const auto& d : series) {
    if (d.t > start && d.t <= end_with_grace) {
      during.push_back(d.value);
    } else if (d.t <= start) {
      bool other = std::any_of(exclude.begin(), exclude.end(), [&](const auto& x) { return d.t > x.first && d.t <= x.second; });
      if (!other) baseline.push_back(d.value);
    }
  }
  c.baseline_values = baseline.size();
  c.window_values = during.size();
  if (baseline.size() < 3 || during.empty()) return c;
  c.baseline_median = median(baseline);
  std::vector<double> deviations;
  for (double v : baseline) deviations.push_back(std::abs(v - c.baseline_median));
  c.baseline_mad = median(deviations);
  double m = c.baseline_median, band = 3 * 1.4826 * c.baseline_mad;
  c.movement = Movement::flat;
  for (double v : during) {
    if (!c.extreme || std::abs(v - m) > std::abs(*c.extreme - m)) c.extreme = v;
    if ((v < m / 2 || v > 2 * m) && std::abs(v - m) > band) c.movement = Movement::moved;
  }
  return c;
}

}  // namespace fleetsim::harness

#include "sim/local/detector_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fleetsim::local {

std::string_view to_string(ConfidenceLevel c) {
  switch (c) {
    case ConfidenceLevel::low: return "LOW";
    case ConfidenceLevel::medium: return "MEDIUM";
    case ConfidenceLevel::high: return "HIGH";
  }
  return "MEDIUM";
}

std::optional<ConfidenceLevel> parse_confidence(std::string_view s) {
  if (s == "LOW") return ConfidenceLevel::low;
  if (s == "MEDIUM") return ConfidenceLevel::medium;
  if (s == "HIGH") return ConfidenceLevel::high;
  return std::nullopt;
}

namespace detector_model {

std::optional<Traits> ml_traits(std::string_view metric) {
  struct Row {
    std::string_view metric;
    Traits traits;
  };
  static constexpr Row rows[] = {
      {"aws:num-messages-sent", {Kind::count, true}},
      {"aws:num-messages-received", {Kind::count, true}},
      {"aws:num-authorization-failures", {Kind::count, false}},
      {"aws:num-connection-attempts", {Kind::count, false}},
      {"aws:num-disconnects", {Kind::count, false}},
      {"aws:message-byte-size", {Kind::volume, true}},
      {"aws:all-bytes-out", {Kind::volume, true}},
      {"aws:all-bytes-in", {Kind::volume, true}},
      {"aws:all-packets-out", {Kind::count, true}},
      {"aws:all-packets-in", {Kind::count, true}},
      {"aws:num-listening-tcp-ports", {Kind::gauge, false}},
      {"aws:num-listening-udp-ports", {Kind::gauge, false}},
      {"aws:num-established-tcp-connections", {Kind::gauge, false}},
  };
  for (const auto& r : rows)
    if (r.metric == metric) return r.traits;
  return std::nullopt;
}

double transform(Kind k, double x) {
  x = std::max(0.0, x);
  switch (k) {
    case Kind::count: return 2 * std::sqrt(x + 0.375);
    case Kind::volume: return std::log1p(x);
    case Kind::gauge: return x;
  }
  return x;
}

double inverse(Kind k, double y) {
  switch (k) {
    case Kind::count: return y < 0 ? -1 : y * y / 4 - 0.375;
    case Kind::volume: return std::expm1(y);
    case Kind::gauge: return y;
  }
  return y;
}

double noise_floor(Kind k) {
  switch (k) {
    case Kind::count: return 1.0;   // Poisson: the Anscombe transform has unit variance
    case Kind::volume: return 0.05; // 5% relative
    case Kind::gauge: return 0.5;
  }
  return 1.0;
}

LevelParams level_params(ConfidenceLevel c) {
  switch (c) {
    case ConfidenceLevel::low: return {4, 1.5};
    case ConfidenceLevel::medium: return {6, 2};
    case ConfidenceLevel::high: return {9, 3};
  }
  return {6, 2};
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const std::size_t n = v.size();
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n / 2), v.end());
  const double hi = v[n / 2];
  if (n % 2) return hi;
  return (hi + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n / 2))) / 2;
}

void add_training(ThingModel& m, double y) {
  if (m.training.size() == max_training) m.training.erase(m.training.begin());
  m.training.push_back(y);
}

void fit(ThingModel& m) {
  m.centre = median(m.training);
  std::vector<double> dev;
  dev.reserve(m.training.size());
  for (double y : m.training) dev.push_back(std::abs(y - m.centre));
  m.spread = 1.4826 * median(std::move(dev));
  m.ready = true;
}

double sigma(Kind k, const ThingModel& m, const Calibration& cal) {
  return std::max({noise_floor(k), m.spread, cal.pooled_spread});
}

Calibration calibrate(Kind k, const std::map<std::string, ThingModel, std::less<>>& things) {
  Calibration cal;
  std::vector<double> spreads;
  for (const auto& [name, m] : things)
    if (m.ready) spreads.push_back(m.spread);
  cal.pooled_spread = median(std::move(spreads));
  // How far the training datapoints themselves sit from their centres, in noise units.
  std::vector<double> z;
  for (const auto& [name, m] : things) {
    if (!m.ready) continue;
    const double s = sigma(k, m, cal);
    for (double y : m.training) z.push_back(std::abs(y - m.centre) / s);
  }
  if (!z.empty()) {
    const auto q = static_cast<std::ptrdiff_t>(0.75 * double(z.size() - 1));
    std::nth_element(z.begin(), z.begin() + q, z.end());
    cal.kappa = std::max(1.0, z[static_cast<std::size_t>(q)] / 0.6745);
  }
  return cal;
}

Bounds bounds(const Traits& t, const ThingModel& m, const Calibration& cal, ConfidenceLevel c) {
  const auto p = level_params(c);
  const double width = p.sigmas * cal.kappa * sigma(t.kind, m, cal);
  const double centre = inverse(t.kind, m.centre);
  Bounds b;
  b.upper = std::max(inverse(t.kind, m.centre + width), centre * p.ratio);
  b.lower = -std::numeric_limits<double>::infinity();
  const double y_low = m.centre - width;
  if (t.drop_matters && y_low > transform(t.kind, 0)) b.lower = std::min(inverse(t.kind, y_low), centre / p.ratio);
  return b;
}

}  // namespace detector_model
}  // namespace fleetsim::local

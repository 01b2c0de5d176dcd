#pragma once
// Metric values for "not detected" vs "not delivered": did the anomaly's metric actually move?
//
// Sources: a metrics.jsonl file (the local emulator's datapoints, one per line:
// {"thing": T, "metric": M, "timestamp": epoch seconds (the window's end), "value": AWS MetricValue}),
// or AWS ListMetricValues (the CLI implements that one with the IoT client).
//
// The movement rule (the README says the same): the baseline is the thing's values of that metric
// timestamped at or before the window's start, outside the thing's other windows (at least 3 values);
// the window's values are those timestamped in (start, end + grace]. The metric *moved* when one of the
// window's values v lies outside [m/2, 2m] and |v − m| > 3 × 1.4826 × MAD (m the baseline median, MAD its
// median absolute deviation); it is *flat* when there are values on both sides and none moved;
// *unknown* otherwise. A MetricValue counts as a number: count, number, or the size of a list
// (ports, cidrs, numbers).
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/expected.hpp"
#include "sim/core/time.hpp"

namespace fleetsim::harness {

struct MetricDatum {
  EpochMillis t = 0;  ///< the datapoint's timestamp (end of its window)
  double value = 0;
};

/// An AWS MetricValue as one number (count, number, or the size of ports/cidrs/numbers); nullopt otherwise.
std::optional<double> metric_number(const nlohmann::json& value);

class MetricSource {
 public:
  virtual ~MetricSource() = default;
  /// The thing's datapoints of `metric` timestamped in [from, to], in time order.
  virtual Expected<std::vector<MetricDatum>> values(const std::string& thing, const std::string& metric,
                                                    EpochMillis from, EpochMillis to) = 0;
  /// For reports: "metrics.jsonl", "aws ListMetricValues".
  virtual std::string describe() const = 0;
};

/// metrics.jsonl, read once. Errors name the file and line.
class FileMetricSource : public MetricSource {
 public:
  static Expected<std::unique_ptr<FileMetricSource>> open(const std::filesystem::path& path);
  Expected<std::vector<MetricDatum>> values(const std::string& thing, const std::string& metric, EpochMillis from,
                                            EpochMillis to) override;
  std::string describe() const override { return path_.string(); }
  std::size_t size() const { return count_; }

 private:
  std::filesystem::path path_;
  std::map<std::pair<std::string, std::string>, std::vector<MetricDatum>> series_;
  std::size_t count_ = 0;
};

enum class Movement { moved, flat, unknown };
std::string_view to_string(Movement m);

struct MovementCheck {
  Movement movement = Movement::unknown;
  std::size_t baseline_values = 0;
  std::size_t window_values = 0;
  double baseline_median = 0;
  double baseline_mad = 0;
  std::optional<double> extreme;  ///< the window's value farthest from the median
};

/// Applies the movement rule to a thing's series; `exclude` are its other windows (with grace).
MovementCheck check_movement(const std::vector<MetricDatum>& series, EpochMillis start, EpochMillis end_with_grace,
                             const std::vector<std::pair<EpochMillis, EpochMillis>>& exclude = {});

}  // namespace fleetsim::harness

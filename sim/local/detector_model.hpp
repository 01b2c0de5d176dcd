#pragma once
// The statistics behind the local detector's ML behaviors (DETECTOR.md describes them for users): how a
// metric's datapoints are transformed, what is learned per thing and pooled per behavior, and the bounds
// a datapoint must cross at each confidence level. Pure functions; the Detector owns the state.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fleetsim::local {

/// ML Detect's confidence levels; HIGH is the least sensitive.
enum class ConfidenceLevel { low, medium, high };
std::string_view to_string(ConfidenceLevel c);
std::optional<ConfidenceLevel> parse_confidence(std::string_view s);

namespace detector_model {

/// How a metric's noise behaves, which picks its transform and noise floor.
enum class Kind {
  count,   ///< events per window (messages, failures, packets): Anscombe 2*sqrt(x + 3/8), Poisson floor 1
  volume,  ///< bytes and sizes: ln(1 + x), relative floor 5%
  gauge,   ///< small levels (ports, connections): x itself, floor 0.5
};

struct Traits {
  Kind kind;
  bool drop_matters;  ///< also flag datapoints below the baseline
};

/// The traits of an ML-capable metric; nullopt for the others (sets, source IP, custom metrics).
std::optional<Traits> ml_traits(std::string_view metric);

double transform(Kind k, double x);
/// The raw value of a transformed one (negative below the transform of 0).
double inverse(Kind k, double y);
/// The smallest noise scale, in transformed units.
double noise_floor(Kind k);

/// The documented per-level constants: `sigmas` noise units and at least a factor `ratio` from the centre.
struct LevelParams {
  double sigmas;
  double ratio;
};
LevelParams level_params(ConfidenceLevel c);

/// What is learned per thing, in transformed units.
struct ThingModel {
  std::vector<double> training;  ///< transformed datapoints while training or warming up (the last `max_training`)
  bool ready = false;
  double centre = 0;  ///< median, then followed by the adaptation
  double spread = 0;  ///< 1.4826 * median absolute deviation
};
inline constexpr std::size_t max_training = 64;  ///< per thing and behavior
inline constexpr std::size_t min_thing_datapoints = 3;

void add_training(ThingModel& m, double y);
/// Centre and spread from the training datapoints (kept: calibrate() reads them); needs min_thing_datapoints.
void fit(ThingModel& m);

/// What is pooled across the behavior's targets when the model is built.
struct Calibration {
  double pooled_spread = 0;  ///< median of the ready things' spreads
  double kappa = 1;          ///< threshold stretch: max(1, q75(|z|) / 0.6745) over every training datapoint
};
Calibration calibrate(Kind k, const std::map<std::string, ThingModel, std::less<>>& things);

/// A thing's noise scale: max(floor, own spread, pooled spread).
double sigma(Kind k, const ThingModel& m, const Calibration& cal);

/// Raw-value bounds at a level: a datapoint is anomalous when above `upper` or below `lower`.
struct Bounds {
  double lower;  ///< -infinity when drops are not flagged or cannot be told apart from noise
  double upper;
};
Bounds bounds(const Traits& t, const ThingModel& m, const Calibration& cal, ConfidenceLevel c);

double median(std::vector<double> v);

}  // namespace detector_model
}  // namespace fleetsim::local

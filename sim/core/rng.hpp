#pragma once
// Seeded, portable random streams. Distributions are implemented here, not taken from <random>,
// because the standard leaves their algorithms to the library and plans must be byte-identical.
#include <cstdint>
#include <string_view>

namespace fleetsim {

/// Mixes a 64-bit value (SplitMix64's finaliser); also a good hash combiner.
std::uint64_t mix64(std::uint64_t x);

/// A stable seed for a named stream: the same (seed, label, index) always gives the same value.
std::uint64_t derive_seed(std::uint64_t seed, std::string_view label, std::uint64_t index = 0);

/// xoshiro256** seeded through SplitMix64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);

  std::uint64_t next();
  /// Uniform in [0, 1).
  double uniform01();
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }
  /// Uniform integer in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n);
  /// Normal(mean, stddev) by Box–Muller.
  double normal(double mean, double stddev);
  /// Exponential with the given mean.
  double exponential(double mean);

 private:
  std::uint64_t s_[4];
};

}  // namespace fleetsim

#pragma once
// A latency histogram with logarithmic buckets (about 3% relative resolution), fixed size, mergeable:
// each worker records into its own and they are added together after the run (no shared atomics).
#include <array>
#include <cstdint>

namespace fleetsim::fleet {

class Histogram {
 public:
  /// Records one value in microseconds (negative values count as 0).
  void record(std::int64_t micros);
  void merge(const Histogram& other);
  std::uint64_t count() const { return count_; }
  std::int64_t max() const { return max_; }
  std::int64_t min() const { return count_ ? min_ : 0; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0; }
  /// How many recorded values are at most `micros` (to bucket resolution).
  std::uint64_t count_at_most(std::int64_t micros) const;
  /// The value at percentile p (0..100), as the upper edge of its bucket; 0 when empty.
  std::int64_t percentile(double p) const;

  static constexpr int sub_buckets = 32;  // per power of two
  static constexpr int powers = 40;       // 32 exact buckets, then powers 2^5..2^44 µs (about 200 days)
  static std::size_t bucket_of(std::int64_t micros);
  static std::int64_t upper_edge(std::size_t bucket);

 private:
  std::array<std::uint64_t, sub_buckets * powers> buckets_{};
  std::uint64_t count_ = 0;
  std::int64_t sum_ = 0;
  std::int64_t min_ = INT64_MAX;
  std::int64_t max_ = 0;
};

}  // namespace fleetsim::fleet

#include "sim/fleet/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace fleetsim::fleet {

std::size_t Histogram::bucket_of(std::int64_t micros) {
  auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(micros, 0));
  if (v < sub_buckets) return static_cast<std::size_t>(v);  // exact below 32 µs
  int power = std::bit_width(v) - 1;                         // 2^power <= v
  int shift = power - 5;                                     // keep 5 bits below the leading one
  std::size_t sub = static_cast<std::size_t>((v >> shift) & (sub_buckets - 1));
  std::size_t index = static_cast<std::size_t>(power - 4) * sub_buckets + sub;
  return std::min(index, static_cast<std::size_t>(sub_buckets * powers - 1));
}

std::int64_t Histogram::upper_edge(std::size_t bucket) {
  if (bucket < sub_buckets) return static_cast<std::int64_t>(bucket);
  int power = static_cast<int>(bucket / sub_buckets) + 4;
  std::uint64_t sub = bucket % sub_buckets;
  int shift = power - 5;
  return static_cast<std::int64_t>((((std::uint64_t{1} << 5) | sub) + 1) << shift) - 1;
}

void Histogram::record(std::int64_t micros) {
  micros = std::max<std::int64_t>(micros, 0);
  ++buckets_[bucket_of(micros)];
  ++count_;
  sum_ += micros;
  min_ = std::min(min_, micros);
  max_ = std::max(max_, micros);
}

void Histogram::merge(const Histogram& o) {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
}

std::uint64_t Histogram::count_at_most(std::int64_t micros) const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < buckets_.size() && upper_edge(i) <= micros; ++i) n += buckets_[i];
  return n;
}

std::int64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(count_)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(upper_edge(i), max_);
  }
  return max_;
}

}  // namespace fleetsim::fleet

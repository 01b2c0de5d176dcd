#include "sim/core/rng.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

using namespace fleetsim;

namespace {

std::vector<std::uint64_t> draw(std::uint64_t seed, int n) {
  Rng rng(seed);
  std::vector<std::uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(rng.next());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Pinned values: plans must be byte-identical across builds, so any change to these algorithms must be deliberate.

TEST_CASE("mix64 is pinned", "[rng][pinned]") {
  CHECK(mix64(0) == 0);
  CHECK(mix64(1) == 0x5692161d100b05e5ULL);
}

TEST_CASE("derive_seed is pinned", "[rng][pinned]") {
  CHECK(derive_seed(42, "arrivals", 0) == 0xd1b7efaa95fe70f4ULL);
  CHECK(derive_seed(42, "arrivals", 1) == 0x8d9264a46349815bULL);
  CHECK(derive_seed(0, "", 0) == 0x7b44909f5992d612ULL);
  CHECK(derive_seed(42, "arrivals") == derive_seed(42, "arrivals", 0));  // index defaults to 0
}

TEST_CASE("Rng::next is pinned", "[rng][pinned]") {
  Rng rng(42);
  CHECK(rng.next() == 0x15780b2e0c2ec716ULL);
  CHECK(rng.next() == 0x6104d9866d113a7eULL);
  CHECK(rng.next() == 0xae17533239e499a1ULL);
  CHECK(rng.next() == 0xecb8ad4703b360a1ULL);
}

TEST_CASE("Rng distributions are pinned", "[rng][pinned]") {
  {
    Rng rng(42);
    // uniform01 is the top 53 bits of next() scaled to [0, 1): exact.
    CHECK(rng.uniform01() == 0x15780b2e0c2ec716ULL / 2048 * 0x1.0p-53);
    CHECK(rng.uniform01() == 0x6104d9866d113a7eULL / 2048 * 0x1.0p-53);
  }
  {
    Rng rng(42);
    CHECK(rng.uniform01() == 0.083862971059882163);
    CHECK(rng.uniform01() == 0.37898025066266861);
  }
  {
    Rng rng(7);
    CHECK(rng.below(100) == 94);
    CHECK(rng.below(100) == 74);
    CHECK(rng.below(100) == 38);
  }
  {
    // normal and exponential go through libm (log, cos, sqrt); allow for last-bit differences only.
    Rng rng(1);
    CHECK(rng.normal(0, 1) == Approx(-1.5452228371402943).epsilon(1e-12));
    CHECK(rng.exponential(10) == Approx(8.5356408561217538).epsilon(1e-12));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Determinism

TEST_CASE("Rng: the same seed gives the same sequence", "[rng]") {
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{42}, std::uint64_t{0xdeadbeef}, std::numeric_limits<std::uint64_t>::max()}) {
    INFO("seed " << seed);
    CHECK(draw(seed, 1000) == draw(seed, 1000));
  }
  Rng a(99), b(99);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(a.uniform01() == b.uniform01());
    REQUIRE(a.below(17) == b.below(17));
    REQUIRE(a.normal(5, 2) == b.normal(5, 2));
    REQUIRE(a.exponential(3) == b.exponential(3));
    REQUIRE(a.uniform(-4, 9) == b.uniform(-4, 9));
  }
}

TEST_CASE("Rng: different seeds give different sequences", "[rng]") {
  CHECK(draw(1, 100) != draw(2, 100));
  CHECK(draw(0, 100) != draw(1, 100));
  CHECK(draw(42, 100) != draw(43, 100));
  // No two of many nearby seeds share a first value.
  std::set<std::uint64_t> firsts;
  for (std::uint64_t seed = 0; seed < 1000; ++seed) firsts.insert(draw(seed, 1).front());
  CHECK(firsts.size() == 1000);
}

TEST_CASE("Rng: a stream does not repeat quickly", "[rng]") {
  auto values = draw(5, 10000);
  std::set<std::uint64_t> distinct(values.begin(), values.end());
  CHECK(distinct.size() == values.size());
}

TEST_CASE("derive_seed is stable across calls", "[rng][derive]") {
  auto first = derive_seed(42, "arrivals", 3);
  for (int i = 0; i < 10; ++i) CHECK(derive_seed(42, "arrivals", 3) == first);
  std::string label = "arr";
  label += "ivals";  // a different buffer with the same bytes
  CHECK(derive_seed(42, label, 3) == first);
}

TEST_CASE("derive_seed is sensitive to seed, label and index", "[rng][derive]") {
  auto base = derive_seed(42, "arrivals", 0);
  CHECK(derive_seed(43, "arrivals", 0) != base);
  CHECK(derive_seed(41, "arrivals", 0) != base);
  CHECK(derive_seed(42, "arrival", 0) != base);
  CHECK(derive_seed(42, "arrivalt", 0) != base);
  CHECK(derive_seed(42, "Arrivals", 0) != base);
  CHECK(derive_seed(42, "", 0) != base);
  CHECK(derive_seed(42, "arrivals", 1) != base);
  CHECK(derive_seed(0, "", 0) != derive_seed(0, "", 1));
  CHECK(derive_seed(0, "", 0) != derive_seed(1, "", 0));
  // Swapping seed and index does not collide.
  CHECK(derive_seed(1, "x", 2) != derive_seed(2, "x", 1));

  // Many (seed, label, index) combinations give distinct seeds.
  std::set<std::uint64_t> seen;
  int combos = 0;
  for (std::uint64_t seed = 0; seed < 10; ++seed)
    for (const char* label : {"", "a", "b", "ab", "ba", "arrivals", "anomalies", "devices"})
      for (std::uint64_t index = 0; index < 10; ++index) {
        seen.insert(derive_seed(seed, label, index));
        ++combos;
      }
  CHECK(seen.size() == static_cast<std::size_t>(combos));
}

TEST_CASE("Rngs seeded from derived seeds are independent streams", "[rng][derive]") {
  CHECK(draw(derive_seed(7, "a"), 50) != draw(derive_seed(7, "b"), 50));
  CHECK(draw(derive_seed(7, "a", 0), 50) != draw(derive_seed(7, "a", 1), 50));
}

// ---------------------------------------------------------------------------------------------------------------
// Ranges and distributions

TEST_CASE("Rng::below stays below n and covers every value", "[rng][below]") {
  Rng rng(123);
  for (std::uint64_t n : {1ULL, 2ULL, 3ULL, 6ULL, 7ULL, 10ULL}) {
    INFO("n = " << n);
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 2000; ++i) {
      auto v = rng.below(n);
      REQUIRE(v < n);
      seen.insert(v);
    }
    CHECK(seen.size() == n);
  }
  for (int i = 0; i < 1000; ++i) REQUIRE(rng.below(1) == 0);
}

TEST_CASE("Rng::below works for large n", "[rng][below]") {
  Rng rng(321);
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t half_plus_one = (1ULL << 63) + 1;  // the worst case for rejection
  bool above_half = false;
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(rng.below(max) < max);
    auto v = rng.below(half_plus_one);
    REQUIRE(v < half_plus_one);
    if (rng.below(1'000'000'007ULL) >= 500'000'004ULL) above_half = true;
  }
  CHECK(above_half);
}

TEST_CASE("Rng::below is roughly uniform", "[rng][below]") {
  Rng rng(77);
  constexpr int n = 10, samples = 100'000;
  int counts[n] = {};
  for (int i = 0; i < samples; ++i) ++counts[rng.below(n)];
  // Each bucket expects 10000 (sd ~95); ±1000 cannot fail by chance.
  for (int k = 0; k < n; ++k) {
    INFO("bucket " << k);
    CHECK(counts[k] > 9000);
    CHECK(counts[k] < 11000);
  }
}

TEST_CASE("Rng::uniform01 is at least 0 and below 1 with mean near 0.5", "[rng][uniform]") {
  Rng rng(2026);
  constexpr int samples = 100'000;
  double sum = 0, lo = 1, hi = 0;
  int below_quarter = 0;
  for (int i = 0; i < samples; ++i) {
    double u = rng.uniform01();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    sum += u;
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    if (u < 0.25) ++below_quarter;
  }
  CHECK(sum / samples == Approx(0.5).margin(0.01));
  CHECK(static_cast<double>(below_quarter) / samples == Approx(0.25).margin(0.01));
  CHECK(lo < 0.001);
  CHECK(hi > 0.999);
}

TEST_CASE("Rng::uniform(lo, hi) stays at least lo and below hi", "[rng][uniform]") {
  Rng rng(8);
  double sum = 0;
  for (int i = 0; i < 100'000; ++i) {
    double v = rng.uniform(-3.0, 5.0);
    REQUIRE(v >= -3.0);
    REQUIRE(v < 5.0);
    sum += v;
  }
  CHECK(sum / 100'000 == Approx(1.0).margin(0.05));
}

TEST_CASE("Rng::normal has roughly the right mean and standard deviation", "[rng][normal]") {
  Rng rng(4242);
  constexpr int samples = 100'000;
  double sum = 0, sum_sq = 0;
  int within_one_sd = 0;
  for (int i = 0; i < samples; ++i) {
    double x = rng.normal(10.0, 2.0);
    REQUIRE(std::isfinite(x));
    sum += x;
    sum_sq += x * x;
    if (std::abs(x - 10.0) < 2.0) ++within_one_sd;
  }
  double mean = sum / samples;
  double sd = std::sqrt(sum_sq / samples - mean * mean);
  CHECK(mean == Approx(10.0).margin(0.05));  // standard error ~0.006
  CHECK(sd == Approx(2.0).margin(0.05));     // standard error ~0.005
  CHECK(static_cast<double>(within_one_sd) / samples == Approx(0.6827).margin(0.01));
}

TEST_CASE("Rng::normal with zero stddev is the mean", "[rng][normal]") {
  Rng rng(1);
  for (int i = 0; i < 100; ++i) REQUIRE(rng.normal(3.5, 0.0) == 3.5);
}

TEST_CASE("Rng::exponential has roughly the right mean and is non-negative", "[rng][exponential]") {
  Rng rng(99);
  constexpr int samples = 100'000;
  double sum = 0;
  int above_mean = 0;
  for (int i = 0; i < samples; ++i) {
    double x = rng.exponential(5.0);
    REQUIRE(x >= 0.0);
    REQUIRE(std::isfinite(x));
    sum += x;
    if (x > 5.0) ++above_mean;
  }
  CHECK(sum / samples == Approx(5.0).margin(0.1));  // standard error ~0.016
  // P(X > mean) = 1/e for an exponential.
  CHECK(static_cast<double>(above_mean) / samples == Approx(std::exp(-1.0)).margin(0.01));
}

TEST_CASE("derive_seed: no seed/index combination cancels out") {
  const std::uint64_t d = 0xc4f46be25a6a6404ULL;
  CHECK(derive_seed(d + 1, "arrivals", 0) != derive_seed(d, "arrivals", 1));
  std::set<std::uint64_t> seen;
  for (std::uint64_t i = 0; i < 1000; ++i) seen.insert(derive_seed(d + i, "arrivals", i));
  CHECK(seen.size() == 1000);
}

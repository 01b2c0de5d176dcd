// Test that the header files are self-contained.
#include "sim/fleet/histogram.hpp"
#include "sim/fleet/stats.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/rng.hpp"

using namespace fleetsim;
using namespace fleetsim::fleet;

namespace {

constexpr std::size_t bucket_count = Histogram::sub_buckets * Histogram::powers;

/// The relative error the bucket layout promises: 5 bits below the leading one, 1/32 = 3.125%.
constexpr double max_relative_error = 0.032;

/// Checks `reported` stands for `actual`: never below it, at most 3.2% above.
bool within_resolution(std::int64_t reported, std::int64_t actual) {
  return reported >= actual &&
         static_cast<double>(reported - actual) <= max_relative_error * static_cast<double>(actual);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Buckets

TEST_CASE("histogram: values below 32 µs have buckets of their own") {
  for (std::int64_t v = 0; v < 32; ++v) {
    INFO("value " << v);
    CHECK(Histogram::bucket_of(v) == static_cast<std::size_t>(v));
    CHECK(Histogram::upper_edge(Histogram::bucket_of(v)) == v);
    // Next to a much larger value, so the percentile is not just capped by max().
    Histogram h;
    h.record(v);
    h.record(1'000'000);
    CHECK(h.percentile(50) == v);
  }
}

TEST_CASE("histogram: buckets tile the range without gaps, each at most 3.2% wide") {
  std::size_t bad = 0;
  for (std::size_t b = 1; b + 1 < bucket_count; ++b) {
    const auto edge = Histogram::upper_edge(b);
    const auto below = Histogram::upper_edge(b - 1);
    // The bucket holds (below, edge]: its own edge maps to it, the next value to the next bucket.
    const bool ok = edge > below && Histogram::bucket_of(edge) == b && Histogram::bucket_of(below + 1) == b &&
                    Histogram::bucket_of(edge + 1) == b + 1 &&
                    static_cast<double>(edge - below - 1) <= max_relative_error * static_cast<double>(below + 1);
    if (!ok) {
      ++bad;
      UNSCOPED_INFO("bucket " << b << ": (" << below << ", " << edge << "]");
    }
  }
  CHECK(bad == 0);
  // The documented range (2^40 µs) fits inside the buckets.
  CHECK(Histogram::bucket_of(std::int64_t{1} << 40) < bucket_count - 1);
}

TEST_CASE("histogram: any value above 32 µs is reported within 3.2%") {
  Rng rng(11);
  std::size_t bad = 0;
  std::vector<std::int64_t> values{32, 33, 63, 64, 65, 127, 128, 1000, 1023, 1024, 1025, 99'999, 1'000'000,
                                   (std::int64_t{1} << 40) - 1};
  for (int i = 0; i < 20000; ++i) values.push_back(32 + static_cast<std::int64_t>(rng.below(std::uint64_t{1} << (6 + i % 34))));
  for (auto v : values) {
    Histogram h;
    h.record(v);
    h.record(v * 4);  // a larger value, so percentile(50) is v's bucket edge, not max()
    const auto p = h.percentile(50);
    if (!within_resolution(p, v) || !within_resolution(Histogram::upper_edge(Histogram::bucket_of(v)), v)) {
      ++bad;
      UNSCOPED_INFO(v << " reported as " << p);
    }
  }
  CHECK(bad == 0);
}

TEST_CASE("histogram: negative values count as 0") {
  Histogram h;
  h.record(-250);
  CHECK(h.count() == 1);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0);
  CHECK(h.percentile(100) == 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Percentiles

TEST_CASE("histogram: percentiles of 1..100000 uniform") {
  Histogram h;
  for (std::int64_t v = 1; v <= 100'000; ++v) h.record(v);
  CHECK(h.count() == 100'000);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100'000);
  CHECK(h.mean() == Approx(50'000.5));
  CHECK(h.percentile(0) == 1);  // the smallest value's bucket
  CHECK(within_resolution(h.percentile(1), 1'000));
  CHECK(within_resolution(h.percentile(25), 25'000));
  CHECK(within_resolution(h.percentile(50), 50'000));
  CHECK(within_resolution(h.percentile(90), 90'000));
  CHECK(within_resolution(h.percentile(99), 99'000));
  CHECK(within_resolution(h.percentile(99.9), 99'900));
  CHECK(h.percentile(100) == 100'000);  // capped at the largest value, not its bucket's edge
  CHECK(h.percentile(250) == 100'000);  // clamped to 100
  // Monotonic in p.
  std::int64_t last = 0;
  std::size_t backwards = 0;
  for (double p = 0; p <= 100; p += 0.25) {
    if (h.percentile(p) < last) ++backwards;
    last = h.percentile(p);
  }
  CHECK(backwards == 0);
}

TEST_CASE("histogram: percentiles of a bimodal distribution land on the right mode") {
  Histogram h;
  for (int i = 0; i < 900; ++i) h.record(100);
  for (int i = 0; i < 100; ++i) h.record(10'000);
  CHECK(within_resolution(h.percentile(50), 100));
  CHECK(within_resolution(h.percentile(90), 100));   // rank 900: still the fast mode
  CHECK(h.percentile(90.1) == 10'000);                // rank 901: the slow mode, capped at max
  CHECK(h.percentile(99) == 10'000);
  CHECK(h.mean() == Approx(1090));
}

TEST_CASE("histogram: a single value is every percentile exactly") {
  Histogram h;
  h.record(123'456);
  for (double p : {0.0, 1.0, 50.0, 99.0, 100.0}) CHECK(h.percentile(p) == 123'456);
  CHECK(h.min() == 123'456);
  CHECK(h.max() == 123'456);
  CHECK(h.mean() == 123'456);
}

TEST_CASE("histogram: an empty histogram reports zeros") {
  Histogram h;
  CHECK(h.count() == 0);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0);
  CHECK(h.percentile(0) == 0);
  CHECK(h.percentile(50) == 0);
  CHECK(h.percentile(100) == 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Merging

TEST_CASE("histogram: merging equals recording everything in one") {
  Rng rng(5);
  Histogram all, a, b, c;
  for (int i = 0; i < 30000; ++i) {
    const auto v = 10 + static_cast<std::int64_t>(rng.exponential(5000.0));
    all.record(v);
    (i % 3 == 0 ? a : i % 3 == 1 ? b : c).record(v);
  }
  // Disjoint extremes in different parts, so min and max must come from the right side.
  all.record(3);
  a.record(3);
  all.record(9'000'000);
  c.record(9'000'000);

  Histogram merged;
  merged.merge(a);
  merged.merge(b);
  merged.merge(c);
  CHECK(merged.count() == all.count());
  CHECK(merged.min() == 3);
  CHECK(merged.max() == 9'000'000);
  CHECK(merged.mean() == Approx(all.mean()).epsilon(1e-12));
  std::size_t differ = 0;
  for (double p = 0; p <= 100; p += 0.1)
    if (merged.percentile(p) != all.percentile(p)) ++differ;
  CHECK(differ == 0);
}

TEST_CASE("histogram: merging with an empty histogram changes nothing") {
  Histogram h;
  h.record(40);
  h.record(7000);
  SECTION("empty into full") {
    h.merge(Histogram{});
    CHECK(h.count() == 2);
    CHECK(h.min() == 40);  // the empty one's "no minimum yet" must not leak in
    CHECK(h.max() == 7000);
    CHECK(h.mean() == 3520);
  }
  SECTION("full into empty") {
    Histogram e;
    e.merge(h);
    CHECK(e.count() == 2);
    CHECK(e.min() == 40);
    CHECK(e.max() == 7000);
    CHECK(e.percentile(50) == h.percentile(50));
  }
  SECTION("empty into empty stays empty") {
    Histogram e;
    e.merge(Histogram{});
    CHECK(e.count() == 0);
    CHECK(e.min() == 0);
    CHECK(e.percentile(50) == 0);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Stats: merge and to_json

namespace {

// Every counter of Stats; to_json must show each exactly once.
constexpr std::uint64_t Stats::*counters[] = {
    &Stats::connect_attempts,   &Stats::connects_ok,          &Stats::connect_failed_tcp,
    &Stats::connect_failed_tls, &Stats::connect_refused,      &Stats::connect_timeouts,
    &Stats::throttled_connects, &Stats::disconnects_planned,  &Stats::disconnects_by_peer, &Stats::disconnects_denied,
    &Stats::disconnects_ping,   &Stats::disconnects_protocol, &Stats::disconnects_io,
    &Stats::publishes_qos0,     &Stats::publishes_qos1,       &Stats::acks,
    &Stats::lost_unacked,       &Stats::dropped_backpressure, &Stats::dropped_disconnected,
    &Stats::late_publishes,     &Stats::messages_received,    &Stats::commands_sent,
    &Stats::reports_sent,       &Stats::reports_accepted,     &Stats::reports_rejected,
    &Stats::denied_attempts,    &Stats::suback_failures,      &Stats::bytes_out,
    &Stats::bytes_in,           &Stats::anomalies_started,    &Stats::anomalies_ended,
};

/// The numeric leaves of the counter sections (not latency_ms), by path.
std::map<std::string, std::uint64_t> counter_leaves(const nlohmann::json& j) {
  std::map<std::string, std::uint64_t> out;
  for (const auto& [section, fields] : j.items()) {
    if (section == "latency_ms") continue;
    for (const auto& [name, value] : fields.items()) out[section + "." + name] = value.get<std::uint64_t>();
  }
  return out;
}

}  // namespace

TEST_CASE("stats: to_json shows every counter once, and merge adds every counter") {
  Stats a, b;
  std::uint64_t k = 1;
  for (auto field : counters) {
    a.*field = k;
    b.*field = 1000 * k;
    ++k;
  }
  // Each value 1..N appears exactly once in a's JSON: no counter missing or shown twice.
  const auto leaves_a = counter_leaves(a.to_json());
  CHECK(leaves_a.size() == std::size(counters));
  std::vector<std::uint64_t> seen;
  for (const auto& [path, v] : leaves_a) seen.push_back(v);
  std::sort(seen.begin(), seen.end());
  std::vector<std::uint64_t> expected;
  for (std::uint64_t i = 1; i <= std::size(counters); ++i) expected.push_back(i);
  CHECK(seen == expected);

  const auto leaves_b = counter_leaves(b.to_json());
  a.merge(b);
  const auto merged = counter_leaves(a.to_json());
  for (const auto& [path, v] : merged) {
    INFO(path);
    CHECK(v == leaves_a.at(path) + leaves_b.at(path));
  }
  k = 1;
  for (auto field : counters) CHECK(a.*field == 1001 * k++);
  CHECK(a.to_json()["connections"]["attempts"] == 1001);
  CHECK(a.to_json()["anomalies"]["ended"] == 1001 * std::size(counters));  // the last counter
}

TEST_CASE("stats: merge adds the histograms, and to_json reports them in milliseconds") {
  Stats a, b;
  // 1503 µs is a bucket's upper edge, so its percentile is exact.
  a.connect_time.record(1503);
  b.connect_time.record(1503);
  b.connect_time.record(250'000);
  a.ack_latency.record(20'000);
  b.lateness.record(7);
  a.merge(b);
  CHECK(a.connect_time.count() == 3);
  CHECK(a.ack_latency.count() == 1);
  CHECK(a.lateness.count() == 1);

  const auto j = a.to_json()["latency_ms"];
  CHECK(j["connect"]["count"] == 3);
  CHECK(j["connect"]["p50"].get<double>() == 1.503);
  CHECK(j["connect"]["max"].get<double>() == 250.0);
  CHECK(j["connect"]["p99"].get<double>() == 250.0);
  CHECK(j["qos1_ack"]["p90"].get<double>() == 20.0);
  CHECK(j["publish_lateness"]["p50"].get<double>() == 0.007);
  CHECK(percentiles_ms(Histogram{}) == nlohmann::json{{"count", 0}, {"p50", 0.0}, {"p90", 0.0}, {"p99", 0.0},
                                                      {"max", 0.0}});
}

#include "sim/harness/metric_source.hpp"
#include "sim/harness/scores.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace fleetsim;
using namespace fleetsim::harness;

namespace {

constexpr EpochMillis t0 = 1796436000000;
constexpr EpochMillis minute = 60'000;

ledger::Window window(std::string thing, EpochMillis start, EpochMillis end) {
  ledger::Window w;
  w.id = "w@" + thing + std::to_string(start);
  w.thing = std::move(thing);
  w.kind = "message-flood";
  w.primary_metrics = {"aws:num-messages-sent"};
  w.start_ms = start;
  w.end_ms = end;
  return w;
}

ViolationEvent event(std::string thing, std::string type, EpochMillis t, std::string behavior = "sent") {
  return {"v", std::move(thing), std::move(behavior), "aws:num-messages-sent", std::move(type), "", t};
}

}  // namespace

TEST_CASE("range-based recall is front-biased, precision flat (Tatbul et al. 2018, alpha 0)", "[scores]") {
  ReconcileOptions o;
  o.grace = Millis(10 * minute);
  o.run_start = t0;
  o.run_end = t0 + 24 * 60 * minute;
  // a's real range is [60, 80 + 10 grace] = 30 minutes; b's [60, 90] has no alarm.
  std::vector<ledger::Window> w{window("a", t0 + 60 * minute, t0 + 80 * minute), window("b", t0 + 60 * minute, t0 + 80 * minute)};
  auto real = real_ranges(w, o);
  REQUIRE(real.size() == 2);
  CHECK(real[0].to - real[0].from == 30 * minute);
  // a alarms from 75 to 105 (a 30-minute predicted range, 15 of them inside); c alarms from 200, never cleared.
  std::vector<ViolationEvent> e{event("a", "in-alarm", t0 + 75 * minute), event("a", "alarm-cleared", t0 + 105 * minute),
                                event("c", "in-alarm", t0 + 200 * minute)};
  auto predicted = alarm_ranges(e, o.run_end + o.grace.count());
  REQUIRE(predicted.size() == 2);
  CHECK(predicted[1].to == o.run_end + o.grace.count());
  auto s = range_scores(real, predicted);
  // a: the overlap is the last half of the range; with δ(x) = L − x it earns ((L − L/2)/L)² = 0.25. b: 0.
  CHECK(*s.recall == Approx((0.25 + 0) / 2));
  // a's alarm: 15 of its 30 minutes overlap (0.5, flat); c's: nothing.
  CHECK(*s.precision == Approx((0.5 + 0) / 2));
  CHECK(*s.f1 == Approx(2 * 0.125 * 0.25 / (0.125 + 0.25)));
}

TEST_CASE("range-based cardinality: two alarms in one anomaly share its reward", "[scores]") {
  std::vector<Range> real{{"a", 0, 100}};
  std::vector<Range> predicted{{"a", 10, 20}, {"a", 50, 60}};
  // ∫10..20 (100 − x) dx = 850 and ∫50..60 = 450, of ∫0..100 = 5000: 0.17 + 0.09, times γ = 1/2.
  auto s = range_scores(real, predicted);
  CHECK(*s.recall == Approx((0.17 + 0.09) / 2));
  CHECK(*s.precision == Approx(1.0));  // both alarms lie wholly inside
  CHECK_FALSE(range_scores({}, predicted).recall.has_value());
  CHECK_FALSE(range_scores(real, {}).precision.has_value());
}

TEST_CASE("NAB standard profile: scaled sigmoid, A_TP 1, A_FP -0.11, A_FN -1, normalised", "[scores]") {
  CHECK(nab_sigmoid(-1.0) == Approx(0.986614).epsilon(1e-5));
  CHECK(nab_sigmoid(0.0) == Approx(0.0).margin(1e-12));
  CHECK(nab_sigmoid(3.0) == -1.0);
  std::vector<Range> windows{{"a", 1000, 2000}, {"b", 1000, 2000}};
  std::vector<ViolationEvent> e{
      event("a", "in-alarm", 1500),  // halfway: y = -0.5, σ = 0.848283, scaled by 1/σ(-1): 0.859793
      event("a", "in-alarm", 1600),  // a later detection in the same window adds nothing
      event("a", "in-alarm", 2500),  // 0.5 widths past a's window: 0.11 × σ(0.5) = 0.11 × -0.848283 = -0.093311
      event("c", "in-alarm", 500),   // no window before it on c: -0.11
      event("a", "alarm-cleared", 2600)};
  auto s = nab_score(windows, e);
  CHECK(s.true_positives == 1);
  CHECK(s.false_negatives == 1);  // b: -1
  CHECK(s.false_positives == 2);
  double raw = 0.859793 - 1.0 - 0.093311 - 0.11;
  CHECK(s.raw == Approx(raw).epsilon(1e-5));
  CHECK(s.null_raw == -2.0);
  CHECK(s.perfect_raw == 2.0);
  CHECK(*s.score == Approx(100 * (raw + 2) / 4).epsilon(1e-5));  // 41.41
  CHECK_FALSE(nab_score({}, e).score.has_value());
}

TEST_CASE("metric values: did the metric move?", "[scores]") {
  std::vector<MetricDatum> base;
  for (int i = 0; i < 5; ++i) base.push_back({t0 + i * 5 * minute, double(std::vector<int>{10, 10, 11, 9, 10}[i])});
  // Baseline median 10, MAD 0: moved means outside [5, 20] (and beyond 3 robust deviations, here 0).
  auto with = [&](std::vector<double> during) {
    auto s = base;
    for (std::size_t i = 0; i < during.size(); ++i) s.push_back({t0 + 30 * minute + EpochMillis(i) * 5 * minute, during[i]});
    return check_movement(s, t0 + 25 * minute, t0 + 45 * minute);
  };
  CHECK(with({12, 30}).movement == Movement::moved);
  CHECK(*with({12, 30}).extreme == 30);
  CHECK(with({12, 19}).movement == Movement::flat);
  CHECK(with({0}).movement == Movement::moved);  // silence
  CHECK(with({}).movement == Movement::unknown);
  CHECK(check_movement({base[0], base[1], {t0 + 30 * minute, 50}}, t0 + 25 * minute, t0 + 45 * minute).movement ==
        Movement::unknown);  // two baseline values are not enough
  // Baseline 10, 14, 6, 12, 8: median 10, MAD 2, 3 robust deviations ±8.9: 21 leaves [5, 20] and the band; 18 neither.
  std::vector<MetricDatum> noisy{{t0, 10}, {t0 + 1, 14}, {t0 + 2, 6}, {t0 + 3, 12}, {t0 + 4, 8}};
  auto n21 = noisy, n18 = noisy;
  n21.push_back({t0 + 30 * minute, 21});
  n18.push_back({t0 + 30 * minute, 18});
  CHECK(check_movement(n21, t0 + 25 * minute, t0 + 45 * minute).baseline_mad == 2);
  CHECK(check_movement(n21, t0 + 25 * minute, t0 + 45 * minute).movement == Movement::moved);
  CHECK(check_movement(n18, t0 + 25 * minute, t0 + 45 * minute).movement == Movement::flat);  // 18 < 20 = 2m
  // Values inside the thing's earlier windows (t0 and t0 + 5m, t0 + 10m here) are not baseline.
  auto excluded = check_movement(base, t0 + 25 * minute, t0 + 45 * minute, {{t0 - 1, t0 + 10 * minute}});
  CHECK(excluded.baseline_values == 2);
}

TEST_CASE("metric values as numbers", "[scores]") {
  CHECK(metric_number({{"count", 7}}) == 7.0);
  CHECK(metric_number({{"number", 2.5}}) == 2.5);
  CHECK(metric_number({{"ports", {22, 80, 443}}}) == 3.0);
  CHECK_FALSE(metric_number(nlohmann::json("x")).has_value());
}

#include "sim/scenario/expand.hpp"

#include <catch2/catch.hpp>

#include <set>

#include "sim/scenario/loader.hpp"
#include "tests/unit/scenario/scenario_text.hpp"

using namespace fleetsim;
using namespace fleetsim::scenario;

namespace {

Scenario load_ok(const std::string& text) {
  auto r = load_scenario_text(text, "e.yaml");
  if (r.ok()) check_scenario(*r.scenario, r.diagnostics);
  std::string all;
  for (const auto& d : r.diagnostics) all += format_diagnostic(d) + "\n";
  INFO(all);
  REQUIRE(r.ok());
  return *r.scenario;
}

const char* two_groups = R"(version: 1
name: expand
seed: 1234
clock: {time_scale: 60, duration: 2d}
fleet:
  - group: a
    count: 37
    topics: {t: "a/{thing}"}
    baseline: {publish: {topic: t, rate: 1/min}}
  - group: b
    count: 23
    topics: {t: "b/{thing}"}
    baseline: {publish: {topic: t, rate: 1/min}}
anomalies:
  - {name: once, kind: message-flood, things: {group: a, count: 5}, start: 3h, duration: 10m}
  - {name: nightly, kind: silence, things: {group: b, fraction: 20%, rotate: true}, every: 24h, at: "02:00", duration: 30m}
  - {name: named, kind: reconnect-storm, things: {names: [b-0007, a-0001]}, every: 6h, after: 2h, times: 3, duration: 5m}
)";

bool same(const Occurrence& x, const Occurrence& y) {
  return x.anomaly == y.anomaly && x.number == y.number && x.thing == y.thing && x.start == y.start && x.end == y.end;
}

}  // namespace

TEST_CASE("shards: parsing I/N") {
  CHECK(parse_shard("0/1")->count == 1);
  CHECK(parse_shard("3/4")->index == 3);
  CHECK_FALSE(parse_shard("4/4"));
  CHECK_FALSE(parse_shard("1/0"));
  CHECK_FALSE(parse_shard("1"));
  CHECK_FALSE(parse_shard("a/b"));
  CHECK_FALSE(parse_shard("1/2x"));
}

TEST_CASE("expansion is deterministic") {
  auto s = load_ok(two_groups);
  auto x = expand(s, {0, 1}, Millis(2 * 86'400'000), 1796436000000);
  auto y = expand(s, {0, 1}, Millis(2 * 86'400'000), 1796436000000);
  REQUIRE(x.things.size() == 60);
  REQUIRE(x.occurrences.size() == y.occurrences.size());
  for (std::size_t i = 0; i < x.things.size(); ++i) {
    CHECK(x.things[i].name == y.things[i].name);
    CHECK(x.things[i].seed == y.things[i].seed);
    CHECK(x.things[i].phase == y.things[i].phase);
  }
  for (std::size_t i = 0; i < x.occurrences.size(); ++i) CHECK(same(x.occurrences[i], y.occurrences[i]));
  CHECK(x.things[0].name == "a-0001");
  CHECK(x.things[37].name == "b-0001");
  // A different seed picks different targets.
  auto other = s;
  other.seed = 99;
  CHECK(select_things(other, other.anomalies[0], 0) != select_things(s, s.anomalies[0], 0));
}

TEST_CASE("shards are disjoint, cover the fleet, and see the same anomaly targets") {
  auto s = load_ok(two_groups);
  auto whole = expand(s, {0, 1}, Millis(2 * 86'400'000), 1796436000000);
  for (unsigned n : {1u, 2u, 3u, 7u, 60u, 61u}) {
    std::set<std::uint64_t> things;
    std::size_t occurrences = 0;
    for (unsigned i = 0; i < n; ++i) {
      auto part = expand(s, {i, n}, Millis(2 * 86'400'000), 1796436000000);
      for (const auto& t : part.things) {
        CHECK(things.insert(t.global_index).second);  // disjoint
        CHECK(t.global_index % n == i);
      }
      for (const auto& o : part.occurrences) {
        CHECK(o.thing % n == i);
        bool found = false;
        for (const auto& w : whole.occurrences) found |= same(o, w);
        CHECK(found);  // the same occurrence as the unsharded expansion
      }
      occurrences += part.occurrences.size();
    }
    CHECK(things.size() == 60);  // together they cover the fleet
    CHECK(occurrences == whole.occurrences.size());
  }
}

TEST_CASE("selections: count, fraction, names, rotation") {
  auto s = load_ok(two_groups);
  auto once = select_things(s, s.anomalies[0], 0);
  CHECK(once.size() == 5);
  for (auto t : once) CHECK(t < 37);  // group a only
  auto nightly0 = select_things(s, s.anomalies[1], 0);
  auto nightly1 = select_things(s, s.anomalies[1], 1);
  CHECK(nightly0.size() == 5);  // ceil(20% of 23)
  for (auto t : nightly0) CHECK((t >= 37 && t < 60));
  CHECK(nightly0 != nightly1);  // rotate: a new pick each night
  CHECK(select_things(s, s.anomalies[1], 1) == nightly1);
  CHECK(select_things(s, s.anomalies[2], 0) == std::vector<std::uint64_t>{0, 43});
}

TEST_CASE("recurring schedules: time of day, after, times") {
  auto s = load_ok(two_groups);
  // Start 2026-12-05T10:00:00Z: the first 02:00 UTC is 16 hours later.
  EpochMillis start = 1796436000000 + 8 * 3'600'000;
  auto nightly = occurrence_starts(s.anomalies[1], start, Millis(2 * 86'400'000));
  REQUIRE(nightly.size() == 2);
  CHECK(nightly[0] == Millis(16 * 3'600'000));
  CHECK(nightly[1] == Millis(40 * 3'600'000));
  auto named = occurrence_starts(s.anomalies[2], start, Millis(2 * 86'400'000));
  CHECK(named == std::vector<Millis>{Millis(2 * 3'600'000), Millis(8 * 3'600'000), Millis(14 * 3'600'000)});
  CHECK(occurrence_starts(s.anomalies[0], start, Millis(3 * 3'600'000)).empty());  // beyond the horizon
  CHECK(occurrence_starts(s.anomalies[0], start, Millis(4 * 3'600'000)) == std::vector<Millis>{Millis(3 * 3'600'000)});
}

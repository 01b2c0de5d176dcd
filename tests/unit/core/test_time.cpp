#include "sim/core/time.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/clock.hpp"

using namespace fleetsim;
using Catch::Matchers::Contains;

namespace {

// Values double-checked with `date -u -d <instant> +%s`.
constexpr EpochMillis dec5_0200z = 1'796'436'000'000;      // 2026-12-05T02:00:00Z
constexpr EpochMillis feb29_2024_noon = 1'709'208'000'000; // 2024-02-29T12:00:00Z
constexpr EpochMillis mar1_2000 = 951'868'800'000;         // 2000-03-01T00:00:00Z
constexpr EpochMillis jan1_1900 = -2'208'988'800'000;      // 1900-01-01T00:00:00Z

EpochMillis instant(std::string_view text) {
  auto t = parse_rfc3339(text);
  INFO("parse_rfc3339(\"" << std::string(text) << "\") failed: " << (t ? std::string() : t.error()));
  REQUIRE(t.has_value());
  return *t;
}

std::string instant_error(std::string_view text) {
  auto t = parse_rfc3339(text);
  INFO("parse_rfc3339(\"" << std::string(text) << "\") should fail but gave " << (t ? *t : 0));
  REQUIRE_FALSE(t.has_value());
  return t.error();
}

std::int64_t time_of_day(std::string_view text) {
  auto t = parse_time_of_day(text);
  INFO("parse_time_of_day(\"" << std::string(text) << "\")");
  REQUIRE(t.has_value());
  return t->count();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// parse_rfc3339

TEST_CASE("parse_rfc3339 gives known epoch values", "[time][rfc3339]") {
  CHECK(instant("1970-01-01T00:00:00Z") == 0);
  CHECK(instant("1970-01-01T00:00:01Z") == 1000);
  CHECK(instant("1970-01-02T00:00:00Z") == millis_per_day);
  CHECK(instant("2026-12-05T02:00:00Z") == dec5_0200z);
  CHECK(instant("2024-02-29T12:00:00Z") == feb29_2024_noon);
  CHECK(instant("2000-03-01T00:00:00Z") == mar1_2000);
  CHECK(instant("1969-12-31T23:59:59Z") == -1000);
  CHECK(instant("1900-01-01T00:00:00Z") == jan1_1900);
}

TEST_CASE("parse_rfc3339 accepts Z and z, T, t and a space", "[time][rfc3339]") {
  CHECK(instant("2026-12-05T02:00:00z") == dec5_0200z);
  CHECK(instant("2026-12-05t02:00:00Z") == dec5_0200z);
  CHECK(instant("2026-12-05 02:00:00Z") == dec5_0200z);
}

TEST_CASE("parse_rfc3339 applies offsets", "[time][rfc3339]") {
  CHECK(instant("2026-12-05T03:00:00+01:00") == dec5_0200z);
  CHECK(instant("2026-12-04T20:30:00-05:30") == dec5_0200z);
  CHECK(instant("2026-12-05T02:00:00+00:00") == dec5_0200z);
  CHECK(instant("2026-12-05T02:00:00-00:00") == dec5_0200z);
  CHECK(instant("2026-12-05T15:45:00+13:45") == dec5_0200z);
  // An offset that crosses midnight and a year boundary.
  CHECK(instant("2027-01-01T01:00:00+02:00") == instant("2026-12-31T23:00:00Z"));
}

TEST_CASE("parse_rfc3339 reads fractional seconds as milliseconds", "[time][rfc3339]") {
  CHECK(instant("2026-12-05T02:00:00.250Z") == dec5_0200z + 250);
  CHECK(instant("2026-12-05T02:00:00.5Z") == dec5_0200z + 500);
  CHECK(instant("2026-12-05T02:00:00.05Z") == dec5_0200z + 50);
  CHECK(instant("2026-12-05T02:00:00.001Z") == dec5_0200z + 1);
  CHECK(instant("2026-12-05T02:00:00.000Z") == dec5_0200z);
  CHECK(instant("2026-12-05T02:00:00.123456Z") == dec5_0200z + 123);  // sub-millisecond digits are dropped
  CHECK(instant("2026-12-05T03:00:00.250+01:00") == dec5_0200z + 250);
  CHECK(instant("1969-12-31T23:59:59.500Z") == -500);
}

TEST_CASE("parse_rfc3339 knows leap years", "[time][rfc3339]") {
  CHECK(instant("2024-02-29T00:00:00Z") == feb29_2024_noon - 12 * 3'600'000LL);
  CHECK(instant("2000-02-29T00:00:00Z") == mar1_2000 - millis_per_day);  // divisible by 400: leap
  CHECK_THAT(instant_error("2023-02-29T00:00:00Z"), Contains("no such date"));
  CHECK_THAT(instant_error("1900-02-29T00:00:00Z"), Contains("no such date"));  // divisible by 100: not leap
  CHECK_THAT(instant_error("2024-02-30T00:00:00Z"), Contains("no such date"));
  CHECK(instant("2023-02-28T00:00:00Z") + millis_per_day == instant("2023-03-01T00:00:00Z"));
}

TEST_CASE("parse_rfc3339 rejects impossible dates and times", "[time][rfc3339]") {
  CHECK_THAT(instant_error("2026-13-01T00:00:00Z"), Contains("no such date"));
  CHECK_THAT(instant_error("2026-00-10T00:00:00Z"), Contains("no such date"));
  CHECK_THAT(instant_error("2026-12-00T00:00:00Z"), Contains("no such date"));
  CHECK_THAT(instant_error("2026-12-32T00:00:00Z"), Contains("no such date"));
  CHECK_THAT(instant_error("2026-04-31T00:00:00Z"), Contains("no such date"));
  CHECK_THAT(instant_error("2026-12-05T24:00:00Z"), Contains("no such time of day"));
  CHECK_THAT(instant_error("2026-12-05T02:60:00Z"), Contains("no such time of day"));
  CHECK_THAT(instant_error("2026-12-05T02:00:61Z"), Contains("no such time of day"));
}

TEST_CASE("parse_rfc3339 requires a time zone", "[time][rfc3339]") {
  auto e = instant_error("2026-12-05T02:00:00");
  CHECK_THAT(e, Contains("time zone is required") && Contains("2026-12-05T02:00:00Z"));
  CHECK_THAT(instant_error("2026-12-05T02:00:00.250"), Contains("time zone is required"));
}

TEST_CASE("parse_rfc3339 rejects trailing garbage", "[time][rfc3339]") {
  CHECK_THAT(instant_error("2026-12-05T02:00:00Zjunk"), Contains("unexpected text"));
  CHECK_THAT(instant_error("2026-12-05T02:00:00Z "), Contains("unexpected text"));
  CHECK_THAT(instant_error("2026-12-05T03:00:00+01:00x"), Contains("unexpected text"));
  CHECK_THAT(instant_error("2026-12-05T02:00:00ZZ"), Contains("unexpected text"));
}

TEST_CASE("parse_rfc3339 rejects malformed text", "[time][rfc3339]") {
  for (std::string_view bad : {"", "2026", "2026-12-05", "2026/12/05T02:00:00Z", "26-12-05T02:00:00Z",
                               "2026-12-05X02:00:00Z", "2026-12-05T2:00:00Z", "2026-12-05T02-00-00Z",
                               "2026-1a-05T02:00:00Z", "2026-12-05T02:00:00.Z", "2026-12-05T03:00:00+0100",
                               "2026-12-05T03:00:00+1:00", "2026-12-05T03:00:00+01", "2026-12-05T03:00:00+24:00",
                               "2026-12-05T03:00:00+01:60", "not a date at all"}) {
    INFO("parse_rfc3339(\"" << std::string(bad) << "\")");
    auto t = parse_rfc3339(bad);
    REQUIRE_FALSE(t.has_value());
    CHECK_THAT(t.error(), Contains("is not an RFC 3339 instant"));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// format_rfc3339

TEST_CASE("format_rfc3339 writes UTC with Z", "[time][rfc3339]") {
  CHECK(format_rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(dec5_0200z) == "2026-12-05T02:00:00Z");
  CHECK(format_rfc3339(feb29_2024_noon) == "2024-02-29T12:00:00Z");
  CHECK(format_rfc3339(mar1_2000) == "2000-03-01T00:00:00Z");
  CHECK(format_rfc3339(jan1_1900) == "1900-01-01T00:00:00Z");
}

TEST_CASE("format_rfc3339 writes milliseconds only when non-zero", "[time][rfc3339]") {
  CHECK(format_rfc3339(dec5_0200z + 250) == "2026-12-05T02:00:00.250Z");
  CHECK(format_rfc3339(dec5_0200z + 5) == "2026-12-05T02:00:00.005Z");
  CHECK(format_rfc3339(dec5_0200z + 999) == "2026-12-05T02:00:00.999Z");
  CHECK(format_rfc3339(dec5_0200z + 1000) == "2026-12-05T02:00:01Z");
}

TEST_CASE("format_rfc3339 handles instants before 1970", "[time][rfc3339]") {
  CHECK(format_rfc3339(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(format_rfc3339(-1000) == "1969-12-31T23:59:59Z");
  CHECK(format_rfc3339(-500) == "1969-12-31T23:59:59.500Z");
  CHECK(format_rfc3339(-millis_per_day) == "1969-12-31T00:00:00Z");
  CHECK(format_rfc3339(-millis_per_day - 1) == "1969-12-30T23:59:59.999Z");
  CHECK(format_rfc3339(jan1_1900 - 1) == "1899-12-31T23:59:59.999Z");
}

TEST_CASE("parse_rfc3339(format_rfc3339(t)) == t", "[time][rfc3339][roundtrip]") {
  std::vector<EpochMillis> values{0,           1,           -1,          999,         -999,
                                  1000,        -1000,       millis_per_day,         -millis_per_day,
                                  dec5_0200z,  dec5_0200z + 250,        feb29_2024_noon,        mar1_2000,
                                  jan1_1900,   jan1_1900 - 1,           253'402'300'799'999 /* 9999-12-31T23:59:59.999Z */,
                                  -62'167'219'200'000 /* 0000-01-01T00:00:00Z */};
  // A spread of instants between 1900 and 2100, stepping by an awkward number of milliseconds.
  for (EpochMillis t = jan1_1900; t < 4'102'444'800'000; t += 7'654'321'987) values.push_back(t);
  for (EpochMillis t = -3 * millis_per_day; t < 3 * millis_per_day; t += 3'600'017) values.push_back(t);
  for (auto t : values) {
    auto text = format_rfc3339(t);
    INFO(t << " formatted as " << text);
    auto back = parse_rfc3339(text);
    REQUIRE(back.has_value());
    CHECK(*back == t);
  }
}

TEST_CASE("format_rfc3339(parse_rfc3339(s)) normalises to UTC", "[time][rfc3339][roundtrip]") {
  CHECK(format_rfc3339(instant("2026-12-05T03:00:00.250+01:00")) == "2026-12-05T02:00:00.250Z");
  CHECK(format_rfc3339(instant("2026-12-04T20:30:00-05:30")) == "2026-12-05T02:00:00Z");
  CHECK(format_rfc3339(instant("2026-12-05 02:00:00.000z")) == "2026-12-05T02:00:00Z");
}

// ---------------------------------------------------------------------------------------------------------------
// parse_time_of_day

TEST_CASE("parse_time_of_day gives the offset from midnight", "[time][timeofday]") {
  CHECK(time_of_day("02:00") == 2 * 3'600'000);
  CHECK(time_of_day("00:00") == 0);
  CHECK(time_of_day("23:59") == 23 * 3'600'000 + 59 * 60'000);
  CHECK(time_of_day("23:59:59") == millis_per_day - 1000);
  CHECK(time_of_day("02:00:30") == 2 * 3'600'000 + 30'000);
  CHECK(time_of_day("02:00Z") == 2 * 3'600'000);
  CHECK(time_of_day("02:00z") == 2 * 3'600'000);
  CHECK(time_of_day("02:00:30Z") == 2 * 3'600'000 + 30'000);
  // Consistent with parse_rfc3339 on a day boundary.
  CHECK(time_of_day("02:00") == dec5_0200z - instant("2026-12-05T00:00:00Z"));
}

TEST_CASE("parse_time_of_day rejects invalid times", "[time][timeofday]") {
  for (std::string_view bad : {"24:00", "2:00", "02:60", "02:00:60", "02:0", "0200", "", "Z", "02:00:0", "02:00:000",
                               "02-00", "ab:cd", "02:00+01:00", "02:00 ", " 02:00", "02:00ZZ", "-1:00"}) {
    INFO("parse_time_of_day(\"" << std::string(bad) << "\")");
    auto t = parse_time_of_day(bad);
    REQUIRE_FALSE(t.has_value());
    CHECK_THAT(t.error(), Contains("not a time of day") && Contains("HH:MM"));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Clocks

namespace {

// A steady_clock source that moves only when the test says so.
struct FakeRealTime {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
  ScaledClock::RealSource source() {
    return [this] { return now; };
  }
};

}  // namespace

TEST_CASE("ScaledClock starts at the scenario start", "[clock]") {
  FakeRealTime real;
  ScaledClock clock(dec5_0200z, 20.0, real.source());
  CHECK(clock.now() == dec5_0200z);
  CHECK(clock.scale() == 20.0);
}

TEST_CASE("ScaledClock scales elapsed real time", "[clock]") {
  using namespace std::chrono_literals;
  FakeRealTime real;
  ScaledClock clock(dec5_0200z, 20.0, real.source());
  real.now += 1s;
  CHECK(clock.now() == dec5_0200z + 20'000);
  real.now += 500ms;
  CHECK(clock.now() == dec5_0200z + 30'000);
  real.now += 3min;
  CHECK(clock.now() == dec5_0200z + 30'000 + 3 * 60'000 * 20);
  // Calling now() does not move time by itself.
  CHECK(clock.now() == clock.now());
}

TEST_CASE("ScaledClock with scale 1 follows real time; below 1 it runs slow", "[clock]") {
  using namespace std::chrono_literals;
  FakeRealTime real;
  ScaledClock normal(1000, 1.0, real.source());
  ScaledClock slow(1000, 0.5, real.source());
  real.now += 10s;
  CHECK(normal.now() == 11'000);
  CHECK(slow.now() == 6'000);
  real.now += 1ms;
  CHECK(normal.now() == 11'001);
  CHECK(slow.now() == 6'000);  // 5000.5ms of scenario time, floored
}

TEST_CASE("ScaledClock reads the real source when constructed", "[clock]") {
  using namespace std::chrono_literals;
  FakeRealTime real;
  real.now += 5h;  // whatever the source says at construction is the origin
  ScaledClock clock(0, 10.0, real.source());
  CHECK(clock.now() == 0);
  real.now += 2s;
  CHECK(clock.now() == 20'000);
}

TEST_CASE("ScaledClock::real_until returns the real time left", "[clock]") {
  using namespace std::chrono_literals;
  FakeRealTime real;
  ScaledClock clock(dec5_0200z, 20.0, real.source());
  CHECK(clock.real_until(dec5_0200z) == 0ns);
  CHECK(clock.real_until(dec5_0200z + 20'000) == std::chrono::nanoseconds(1s));
  CHECK(clock.real_until(dec5_0200z + 60'000) == std::chrono::nanoseconds(3s));
  CHECK(clock.real_until(dec5_0200z + 10) == std::chrono::nanoseconds(500us));
  real.now += 1s;
  CHECK(clock.real_until(dec5_0200z + 60'000) == std::chrono::nanoseconds(2s));
  CHECK(clock.real_until(dec5_0200z + 20'000) == 0ns);
  // Instants already passed are zero, never negative.
  CHECK(clock.real_until(dec5_0200z) == 0ns);
  CHECK(clock.real_until(dec5_0200z - 3'600'000) == 0ns);
  // Waiting the time it says brings now() to the target.
  auto left = clock.real_until(dec5_0200z + 50'000);
  CHECK(left == std::chrono::nanoseconds(1500ms));
  real.now += left;
  CHECK(clock.now() == dec5_0200z + 50'000);
  CHECK(clock.real_until(dec5_0200z + 50'000) == 0ns);
}

TEST_CASE("ScaledClock is usable through the Clock interface", "[clock]") {
  using namespace std::chrono_literals;
  FakeRealTime real;
  ScaledClock scaled(100, 4.0, real.source());
  const Clock& clock = scaled;
  real.now += 250ms;
  CHECK(clock.now() == 1100);
  CHECK(clock.scale() == 4.0);
}

TEST_CASE("ManualClock moves only when told to", "[clock]") {
  using namespace std::chrono_literals;
  ManualClock clock(dec5_0200z);
  CHECK(clock.now() == dec5_0200z);
  CHECK(clock.now() == dec5_0200z);
  clock.advance(Millis(1500));
  CHECK(clock.now() == dec5_0200z + 1500);
  clock.advance(std::chrono::duration_cast<Millis>(2min));
  CHECK(clock.now() == dec5_0200z + 1500 + 120'000);
  clock.set(0);
  CHECK(clock.now() == 0);
  clock.advance(Millis(0));
  CHECK(clock.now() == 0);
  const Clock& base = clock;
  CHECK(base.scale() == 1.0);
  CHECK(base.now() == 0);
}

TEST_CASE("SystemClock is close to the wall clock", "[clock]") {
  SystemClock clock;
  auto t = clock.now();
  CHECK(t > instant("2020-01-01T00:00:00Z"));
  CHECK(clock.scale() == 1.0);
  CHECK(clock.now() >= t);
}

TEST_CASE("ScaledClock: waiting real_until(t) always reaches t, whatever the scale", "[clock]") {
  for (double scale : {1.0, 3.0, 7.0, 60.0, 120.0, 1000.0, 33.3}) {
    FakeRealTime real;
    ScaledClock clock(1000, scale, real.source());
    for (EpochMillis t = 1001; t < 1200; t += 7) {
      real.now += clock.real_until(t);
      INFO("scale " << scale << " t " << t);
      CHECK(clock.now() >= t);
      CHECK(clock.now() <= t + static_cast<EpochMillis>(scale) + 1);
      CHECK(clock.real_until(t).count() == 0);
    }
  }
}

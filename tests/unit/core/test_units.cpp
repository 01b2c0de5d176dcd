#include "sim/core/units.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/rng.hpp"

using namespace fleetsim;
using Catch::Matchers::Contains;

namespace {

constexpr std::int64_t second = 1000;
constexpr std::int64_t minute = 60 * second;
constexpr std::int64_t hour = 60 * minute;
constexpr std::int64_t day = 24 * hour;
constexpr std::int64_t week = 7 * day;

// The accepted-units phrase every duration error should carry.
constexpr const char* duration_units_phrase = "ms, s (or sec), m (or min), h, d (or day) or w";
constexpr const char* rate_units_phrase = "/s, /min, /h or /day";
constexpr const char* size_units_phrase = "B, KB, KiB, MB, MiB, GB or GiB";

std::int64_t duration_ms(std::string_view text) {
  auto d = parse_duration(text);
  INFO("parse_duration(\"" << std::string(text) << "\") failed: " << (d ? std::string() : d.error()));
  REQUIRE(d.has_value());
  return d->count();
}

std::string duration_error(std::string_view text) {
  auto d = parse_duration(text);
  INFO("parse_duration(\"" << std::string(text) << "\") should fail but gave " << (d ? d->count() : -1) << "ms");
  REQUIRE_FALSE(d.has_value());
  return d.error();
}

double rate_per_second(std::string_view text) {
  auto r = parse_rate(text);
  INFO("parse_rate(\"" << std::string(text) << "\") failed: " << (r ? std::string() : r.error()));
  REQUIRE(r.has_value());
  return r->per_second;
}

std::string rate_error(std::string_view text) {
  auto r = parse_rate(text);
  INFO("parse_rate(\"" << std::string(text) << "\") should fail but gave " << (r ? r->per_second : -1.0) << "/s");
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

std::uint64_t size_bytes(std::string_view text) {
  auto s = parse_size(text);
  INFO("parse_size(\"" << std::string(text) << "\") failed: " << (s ? std::string() : s.error()));
  REQUIRE(s.has_value());
  return *s;
}

std::string size_error(std::string_view text) {
  auto s = parse_size(text);
  INFO("parse_size(\"" << std::string(text) << "\") should fail but gave " << (s ? *s : 0) << " bytes");
  REQUIRE_FALSE(s.has_value());
  return s.error();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// parse_duration

TEST_CASE("parse_duration accepts every single unit", "[units][duration]") {
  CHECK(duration_ms("500ms") == 500);
  CHECK(duration_ms("20s") == 20 * second);
  CHECK(duration_ms("5m") == 5 * minute);
  CHECK(duration_ms("5min") == 5 * minute);
  CHECK(duration_ms("2h") == 2 * hour);
  CHECK(duration_ms("3d") == 3 * day);
  CHECK(duration_ms("1w") == week);
  CHECK(duration_ms("0s") == 0);
  CHECK(duration_ms("1ms") == 1);
}

TEST_CASE("parse_duration distinguishes m (minutes) from ms (milliseconds)", "[units][duration]") {
  CHECK(duration_ms("1m") == 60'000);
  CHECK(duration_ms("1ms") == 1);
  CHECK(duration_ms("1min") == duration_ms("1m"));
}

TEST_CASE("parse_duration adds up compounds", "[units][duration]") {
  CHECK(duration_ms("1h30m") == hour + 30 * minute);
  CHECK(duration_ms("2m30s") == 2 * minute + 30 * second);
  CHECK(duration_ms("1d2h3m4s5ms") == day + 2 * hour + 3 * minute + 4 * second + 5);
  CHECK(duration_ms("1w1d") == week + day);
  CHECK(duration_ms("1s500ms") == 1500);
}

TEST_CASE("parse_duration accepts decimals", "[units][duration]") {
  CHECK(duration_ms("1.5h") == hour + 30 * minute);
  CHECK(duration_ms("0.5s") == 500);
  CHECK(duration_ms("2.25m") == 2 * minute + 15 * second);
  CHECK(duration_ms("0.1s") == 100);
  CHECK(duration_ms("1.5h") == duration_ms("1h30m"));
}

TEST_CASE("parse_duration ignores surrounding whitespace", "[units][duration]") {
  CHECK(duration_ms(" 20s") == 20 * second);
  CHECK(duration_ms("20s ") == 20 * second);
  CHECK(duration_ms("\t1h30m\t ") == hour + 30 * minute);
}

TEST_CASE("parse_duration rejects empty input", "[units][duration]") {
  CHECK_THAT(duration_error(""), Contains("empty") && Contains(duration_units_phrase));
  CHECK_THAT(duration_error("   "), Contains("empty"));
  CHECK_THAT(duration_error("\t"), Contains("empty"));
}

TEST_CASE("parse_duration rejects a number with no unit and names the accepted units", "[units][duration]") {
  auto e = duration_error("20");
  CHECK_THAT(e, Contains("'20'") && Contains("no unit") && Contains(duration_units_phrase));
  CHECK_THAT(duration_error("1h30"), Contains("no unit"));
}

TEST_CASE("parse_duration rejects unknown units and names the accepted units", "[units][duration]") {
  auto mins = duration_error("5mins");
  CHECK_THAT(mins, Contains("unknown duration unit 'mins'") && Contains(duration_units_phrase));
  auto q = duration_error("5q");
  CHECK_THAT(q, Contains("unknown duration unit 'q'") && Contains(duration_units_phrase));
  CHECK_THAT(duration_error("5y"), Contains("'y'"));
  CHECK_THAT(duration_error("5S"), Contains("'S'"));  // units are case-sensitive
  CHECK_THAT(duration_error("1h30x"), Contains("'x'"));
}

TEST_CASE("parse_duration rejects text that is not a number", "[units][duration]") {
  CHECK_THAT(duration_error("h"), Contains(duration_units_phrase));
  CHECK_THAT(duration_error("abc"), Contains("not a duration"));
  CHECK_THAT(duration_error("-5s"), Contains("not a duration"));
  duration_error("1.2.3s");
  duration_error(".s");
}

TEST_CASE("parse_duration rejects durations longer than a century", "[units][duration]") {
  CHECK_THAT(duration_error("36601d"), Contains("century"));
  CHECK_THAT(duration_error("5300w"), Contains("century"));
  CHECK_THAT(duration_error("99999999999999999999h"), Contains("century"));
  CHECK_THAT(duration_error("36600d1ms"), Contains("century"));
  // Exactly a (366-day-year) century is still accepted, and so is a long but sensible duration.
  CHECK(duration_ms("36600d") == 36600 * day);
  CHECK(duration_ms("3650d") == 3650 * day);
}

// ---------------------------------------------------------------------------------------------------------------
// parse_rate

TEST_CASE("parse_rate accepts counts per unit", "[units][rate]") {
  CHECK(rate_per_second("12/min") == Approx(0.2));
  CHECK(rate_per_second("0.5/s") == Approx(0.5));
  CHECK(rate_per_second("100/h") == Approx(100.0 / 3600.0));
  CHECK(rate_per_second("2/day") == Approx(2.0 / 86400.0));
  CHECK(rate_per_second("2/d") == Approx(2.0 / 86400.0));
  CHECK(rate_per_second("3/m") == Approx(3.0 / 60.0));
  CHECK(rate_per_second("60/minute") == Approx(1.0));
  CHECK(rate_per_second("7/sec") == Approx(7.0));
  CHECK(rate_per_second("7/second") == Approx(7.0));
  CHECK(rate_per_second("36/hour") == Approx(0.01));
  CHECK(rate_per_second("0/s") == 0.0);
}

TEST_CASE("parse_rate accepts counts per duration", "[units][rate]") {
  CHECK(rate_per_second("1/5m") == Approx(1.0 / 300.0));
  CHECK(rate_per_second("3/2h") == Approx(3.0 / 7200.0));
  CHECK(rate_per_second("1/500ms") == Approx(2.0));
  CHECK(rate_per_second("1/1h30m") == Approx(1.0 / 5400.0));
  CHECK(rate_per_second("1/5m") == Approx(rate_per_second("12/h")));
}

TEST_CASE("parse_rate ignores whitespace around the parts", "[units][rate]") {
  CHECK(rate_per_second(" 12/min ") == Approx(0.2));
  CHECK(rate_per_second("12 / min") == Approx(0.2));
}

TEST_CASE("Rate::per scales to a window", "[units][rate]") {
  auto r = parse_rate("12/min");
  REQUIRE(r);
  CHECK(r->per(Millis(60'000)) == Approx(12.0));
  CHECK(r->per(Millis(5 * 60'000)) == Approx(60.0));
  CHECK(r->per(Millis(0)) == 0.0);
  CHECK(Rate{0.2} == Rate{0.2});
  CHECK_FALSE(Rate{0.2} == Rate{0.3});
}

TEST_CASE("parse_rate rejects text without a slash", "[units][rate]") {
  CHECK_THAT(rate_error("12"), Contains("not a rate") && Contains(rate_units_phrase));
  CHECK_THAT(rate_error("12 per minute"), Contains("not a rate"));
  CHECK_THAT(rate_error(""), Contains("not a rate"));
}

TEST_CASE("parse_rate rejects unknown units and names the accepted ones", "[units][rate]") {
  CHECK_THAT(rate_error("12/fortnight"), Contains("unknown rate unit 'fortnight'") && Contains(rate_units_phrase));
  CHECK_THAT(rate_error("12/q"), Contains("'q'") && Contains(rate_units_phrase));
  CHECK_THAT(rate_error("12/"), Contains(rate_units_phrase));
}

TEST_CASE("parse_rate rejects a negative or missing count", "[units][rate]") {
  CHECK_THAT(rate_error("-1/s"), Contains("≥ 0"));
  CHECK_THAT(rate_error("-0.5/min"), Contains("≥ 0"));
  rate_error("/s");
  rate_error("abc/s");
}

TEST_CASE("parse_rate rejects a rate per zero duration", "[units][rate]") {
  CHECK_THAT(rate_error("1/0s"), Contains("zero duration"));
  CHECK_THAT(rate_error("1/0ms"), Contains("zero duration"));
}

TEST_CASE("parse_rate passes on a bad duration's error", "[units][rate]") {
  CHECK_THAT(rate_error("1/5q"), Contains("unknown duration unit 'q'"));
  CHECK_THAT(rate_error("1/5"), Contains("no unit"));
}

// ---------------------------------------------------------------------------------------------------------------
// parse_size

TEST_CASE("parse_size accepts decimal and binary units", "[units][size]") {
  CHECK(size_bytes("200B") == 200);
  CHECK(size_bytes("0B") == 0);
  CHECK(size_bytes("1KB") == 1000);
  CHECK(size_bytes("1kB") == 1000);
  CHECK(size_bytes("2KiB") == 2048);
  CHECK(size_bytes("1MB") == 1'000'000);
  CHECK(size_bytes("1MiB") == 1'048'576);
  CHECK(size_bytes("3GB") == 3'000'000'000ULL);
  CHECK(size_bytes("1GiB") == 1'073'741'824ULL);
  CHECK(size_bytes("4GiB") == 4ULL * 1'073'741'824ULL);
}

TEST_CASE("parse_size accepts decimals and whitespace", "[units][size]") {
  CHECK(size_bytes("1.5KiB") == 1536);
  CHECK(size_bytes("1.5KB") == 1500);
  CHECK(size_bytes("0.5MiB") == 524'288);
  CHECK(size_bytes("2.5GB") == 2'500'000'000ULL);
  CHECK(size_bytes(" 2KiB ") == 2048);
  CHECK(size_bytes("2 KiB") == 2048);
}

TEST_CASE("parse_size rejects a number with no unit", "[units][size]") {
  CHECK_THAT(size_error("200"), Contains("'200'") && Contains("no unit") && Contains(size_units_phrase));
}

TEST_CASE("parse_size rejects unknown units and names the accepted ones", "[units][size]") {
  CHECK_THAT(size_error("200XB"), Contains("unknown size unit 'XB'") && Contains(size_units_phrase));
  CHECK_THAT(size_error("2kib"), Contains("'kib'"));
  CHECK_THAT(size_error("2TB"), Contains("'TB'"));
  CHECK_THAT(size_error("2b"), Contains("'b'"));
}

TEST_CASE("parse_size rejects text that is not a size", "[units][size]") {
  CHECK_THAT(size_error("KiB"), Contains("not a size"));
  CHECK_THAT(size_error(""), Contains("not a size"));
  CHECK_THAT(size_error("-1KiB"), Contains("not a size"));
}

TEST_CASE("parse_size rejects sizes that are too large", "[units][size]") {
  CHECK_THAT(size_error("2000000GB"), Contains("too large"));
  CHECK_THAT(size_error("1000000000GiB"), Contains("too large"));
  CHECK_THAT(size_error("99999999999999999999999B"), Contains("too large"));
  CHECK(size_bytes("1000000GB") == 1'000'000'000'000'000ULL);  // the limit itself is accepted
}

// ---------------------------------------------------------------------------------------------------------------
// parse_percent, parse_multiplier, parse_count, parse_number

TEST_CASE("parse_percent turns a percentage into a fraction", "[units][percent]") {
  auto check = [](std::string_view text, double expected) {
    auto p = parse_percent(text);
    INFO("parse_percent(\"" << std::string(text) << "\")");
    REQUIRE(p.has_value());
    CHECK(*p == Approx(expected));
  };
  check("30%", 0.30);
  check("0%", 0.0);
  check("100%", 1.0);
  check("12.5%", 0.125);
  check("250%", 2.5);
  check(" 30% ", 0.30);
  check("30 %", 0.30);
}

TEST_CASE("parse_percent rejects text without a percent sign or number", "[units][percent]") {
  for (std::string_view bad : {"30", "%", "abc%", "", "30%%", "%30", "30x"}) {
    INFO("parse_percent(\"" << std::string(bad) << "\")");
    auto p = parse_percent(bad);
    REQUIRE_FALSE(p.has_value());
    CHECK_THAT(p.error(), Contains("not a percentage") && Contains("30%"));
  }
}

TEST_CASE("parse_multiplier accepts x20, X20, ×20 and 20x", "[units][multiplier]") {
  auto check = [](std::string_view text, double expected) {
    auto m = parse_multiplier(text);
    INFO("parse_multiplier(\"" << std::string(text) << "\") failed: " << (m ? std::string() : m.error()));
    REQUIRE(m.has_value());
    CHECK(*m == Approx(expected));
  };
  check("x20", 20);
  check("X20", 20);
  check("\xC3\x97" "20", 20);  // ×20
  check("20x", 20);
  check("20X", 20);
  check("x1.5", 1.5);
  check("0.5x", 0.5);
  check(" x20 ", 20);
}

TEST_CASE("parse_multiplier rejects malformed multipliers", "[units][multiplier]") {
  for (std::string_view bad : {"20", "x", "X", "\xC3\x97", "", "x20x", "xx20", "x-2", "xabc", "2 0x", "*20", "x20%"}) {
    INFO("parse_multiplier(\"" << std::string(bad) << "\")");
    auto m = parse_multiplier(bad);
    REQUIRE_FALSE(m.has_value());
    CHECK_THAT(m.error(), Contains("not a multiplier") && Contains("x20"));
  }
}

TEST_CASE("parse_count accepts non-negative integers", "[units][count]") {
  auto check = [](std::string_view text, std::uint64_t expected) {
    auto c = parse_count(text);
    INFO("parse_count(\"" << std::string(text) << "\")");
    REQUIRE(c.has_value());
    CHECK(*c == expected);
  };
  check("0", 0);
  check("40", 40);
  check(" 40 ", 40);
  check("007", 7);
  check("18446744073709551615", std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("parse_count reports overflow as an error, not a crash", "[units][count]") {
  for (std::string_view big : {"99999999999999999999999", "18446744073709551616"}) {
    INFO("parse_count(\"" << std::string(big) << "\")");
    auto c = parse_count(big);
    REQUIRE_FALSE(c.has_value());
    CHECK_THAT(c.error(), Contains("too large"));
  }
}

TEST_CASE("parse_count rejects anything that is not a plain whole number", "[units][count]") {
  for (std::string_view bad : {"", " ", "-1", "+1", "1.5", "12a", "abc", "1 2", "1e3", "0x10"}) {
    INFO("parse_count(\"" << std::string(bad) << "\")");
    auto c = parse_count(bad);
    REQUIRE_FALSE(c.has_value());
    CHECK_THAT(c.error(), Contains("not a whole number"));
  }
}

TEST_CASE("parse_number accepts plain decimal numbers", "[units][number]") {
  auto check = [](std::string_view text, double expected) {
    auto n = parse_number(text);
    INFO("parse_number(\"" << std::string(text) << "\")");
    REQUIRE(n.has_value());
    CHECK(*n == Approx(expected));
  };
  check("42", 42);
  check("1.5", 1.5);
  check("-2.25", -2.25);
  check("0", 0);
  check(" 3 ", 3);
  check("0.001", 0.001);
  check("123456789.5", 123456789.5);
}

TEST_CASE("parse_number rejects non-numbers", "[units][number]") {
  for (std::string_view bad : {"", "-", "abc", "1.2.3", "--1", "1 2", "1e3", "5s", "inf", "nan", "+"}) {
    INFO("parse_number(\"" << std::string(bad) << "\")");
    auto n = parse_number(bad);
    REQUIRE_FALSE(n.has_value());
    CHECK_THAT(n.error(), Contains("not a number"));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

TEST_CASE("format_duration picks the shortest exact spelling", "[units][format]") {
  CHECK(format_duration(Millis(0)) == "0s");
  CHECK(format_duration(Millis(1)) == "1ms");
  CHECK(format_duration(Millis(500)) == "500ms");
  CHECK(format_duration(Millis(20'000)) == "20s");
  CHECK(format_duration(Millis(300'000)) == "5m");
  CHECK(format_duration(Millis(5'400'000)) == "1h30m");
  CHECK(format_duration(Millis(day)) == "1d");
  CHECK(format_duration(Millis(week)) == "7d");
  CHECK(format_duration(Millis(1500)) == "1s500ms");
  CHECK(format_duration(Millis(day + hour + minute + second + 1)) == "1d1h1m1s1ms");
  CHECK(format_duration(Millis(2 * day + 5)) == "2d5ms");
  CHECK(format_duration(Millis(-300'000)) == "-5m");
}

TEST_CASE("parse_duration(format_duration(d)) == d", "[units][format][roundtrip]") {
  std::vector<std::int64_t> values{0,        1,           999,          1000,         1001,        59'999,
                                   60'000,   61'000,      3'599'999,    hour,         day - 1,     day,
                                   week,     week + 1,    5'400'000,    365 * day,    3650 * day,  36600 * day};
  Rng rng(2024);
  for (int i = 0; i < 2000; ++i) values.push_back(static_cast<std::int64_t>(rng.below(10 * 365 * day)));
  for (int i = 0; i < 200; ++i) values.push_back(static_cast<std::int64_t>(rng.below(10 * second)));
  for (auto v : values) {
    auto text = format_duration(Millis(v));
    INFO(v << "ms formatted as \"" << text << "\"");
    auto back = parse_duration(text);
    REQUIRE(back.has_value());
    CHECK(back->count() == v);
  }
}

TEST_CASE("format_size uses binary units with at most one decimal", "[units][format]") {
  CHECK(format_size(0) == "0B");
  CHECK(format_size(200) == "200B");
  CHECK(format_size(1000) == "1000B");
  CHECK(format_size(1023) == "1023B");
  CHECK(format_size(1024) == "1KiB");
  CHECK(format_size(2048) == "2KiB");
  CHECK(format_size(1536) == "1.5KiB");
  CHECK(format_size(1.5 * 1048576) == "1.5MiB");
  CHECK(format_size(1073741824.0) == "1GiB");
  CHECK(format_size(1099511627776.0) == "1TiB");
  CHECK(format_size(1024.0 * 1099511627776.0) == "1024TiB");  // TiB is the largest unit
  CHECK(format_size(1100) == "1.1KiB");  // 1.074 rounded to one decimal
}

TEST_CASE("parse_size(format_size(n)) == n for sizes that format exactly", "[units][format][roundtrip]") {
  for (std::uint64_t n : {0ULL, 1ULL, 200ULL, 1023ULL, 1024ULL, 1536ULL, 2048ULL, 1048576ULL, 1572864ULL,
                          1073741824ULL, 5ULL * 1073741824ULL}) {
    auto text = format_size(static_cast<double>(n));
    INFO(n << " bytes formatted as \"" << text << "\"");
    auto back = parse_size(text);
    REQUIRE(back.has_value());
    CHECK(*back == n);
  }
}

TEST_CASE("format_rate picks a readable unit", "[units][format]") {
  CHECK(format_rate(Rate{2}) == "2/s");
  CHECK(format_rate(Rate{1.5}) == "90/min");  // whole numbers preferred
  CHECK(format_rate(Rate{1}) == "1/s");
  CHECK(format_rate(Rate{0.2}) == "12/min");
  CHECK(format_rate(Rate{1.0 / 60}) == "1/min");
  CHECK(format_rate(Rate{1.0 / 3600}) == "1/h");
  CHECK(format_rate(Rate{50.0 / 3600}) == "50/h");
  CHECK(format_rate(Rate{100.0 / 3600}) == "100/h");  // 1.67/min already reads >= 1, so /min wins over /h
  CHECK(format_rate(Rate{2.0 / 86400}) == "2/day");
  CHECK(format_rate(Rate{0}) == "0/day");
}

TEST_CASE("parse_rate(format_rate(r)) gives r back", "[units][format][roundtrip]") {
  for (const char* text : {"12/min", "0.5/s", "2/day", "1/5m", "3/s", "1/h", "40/min", "7/day", "1/2h", "1.25/s"}) {
    auto r = parse_rate(text);
    REQUIRE(r.has_value());
    auto formatted = format_rate(*r);
    INFO(text << " formatted as \"" << formatted << "\"");
    auto back = parse_rate(formatted);
    REQUIRE(back.has_value());
    CHECK(back->per_second == Approx(r->per_second));
  }
}

TEST_CASE("format_rate keeps at most two decimals, so it is close but not always exact", "[units][format]") {
  for (const char* text : {"100/h", "1/7m", "5/3h", "1/3s"}) {
    auto r = parse_rate(text);
    REQUIRE(r.has_value());
    auto formatted = format_rate(*r);
    INFO(text << " formatted as \"" << formatted << "\"");
    auto back = parse_rate(formatted);
    REQUIRE(back.has_value());
    CHECK(back->per_second == Approx(r->per_second).epsilon(0.005));  // two decimals of a value >= 1
  }
}

TEST_CASE("format_number trims trailing zeros and keeps at most N decimals", "[units][format]") {
  CHECK(format_number(3.14159) == "3.14");
  CHECK(format_number(2.0) == "2");
  CHECK(format_number(2.5) == "2.5");
  CHECK(format_number(10.1) == "10.1");
  CHECK(format_number(100) == "100");
  CHECK(format_number(0) == "0");
  CHECK(format_number(-1.25) == "-1.25");
  CHECK(format_number(0.001) == "0");
  CHECK(format_number(-0.001) == "0");  // never "-0"
  CHECK(format_number(1.23456, 4) == "1.2346");
  CHECK(format_number(1.6, 0) == "2");
  CHECK(format_number(1234567.891, 1) == "1234567.9");
  CHECK(format_number(0.999, 2) == "1");
}

TEST_CASE("compound durations may have spaces between parts") {
  CHECK(*parse_duration("1h 30m") == Millis(5'400'000));
  CHECK(*parse_duration("2d 1h  5s") == Millis(2 * 86'400'000 + 3'600'000 + 5000));
}

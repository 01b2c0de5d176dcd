#include "sim/core/text.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sim/core/error.hpp"
#include "sim/core/sha256.hpp"

using namespace fleetsim;
using namespace std::string_view_literals;

// ---------------------------------------------------------------------------------------------------------------
// edit_distance and closest_match

TEST_CASE("edit_distance is the Levenshtein distance", "[text][edit_distance]") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "abc") == 0);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("flaw", "lawn") == 2);
  CHECK(edit_distance("rate", "rat") == 1);     // deletion
  CHECK(edit_distance("rate", "rates") == 1);   // insertion
  CHECK(edit_distance("rate", "race") == 1);    // substitution
  CHECK(edit_distance("duration", "duratoin") == 2);  // a transposition costs two
  CHECK(edit_distance("abc", "xyz") == 3);
  CHECK(edit_distance("Rate", "rate") == 1);    // case-sensitive
}

TEST_CASE("edit_distance is symmetric", "[text][edit_distance]") {
  const char* words[] = {"", "a", "rate", "duration", "devices", "kitten", "sitting", "anomalies"};
  for (auto a : words)
    for (auto b : words) {
      INFO(a << " / " << b);
      CHECK(edit_distance(a, b) == edit_distance(b, a));
    }
}

TEST_CASE("closest_match suggests the intended word for a typo", "[text][closest_match]") {
  std::array<std::string_view, 5> keys{"duration", "rate", "size", "devices", "anomalies"};
  CHECK(closest_match("duraton", keys) == std::optional<std::string>("duration"));
  CHECK(closest_match("durration", keys) == std::optional<std::string>("duration"));
  CHECK(closest_match("rat", keys) == std::optional<std::string>("rate"));
  CHECK(closest_match("devcies", keys) == std::optional<std::string>("devices"));
  CHECK(closest_match("anomalys", keys) == std::optional<std::string>("anomalies"));
  CHECK(closest_match("sise", keys) == std::optional<std::string>("size"));
  CHECK(closest_match("rate", keys) == std::optional<std::string>("rate"));  // exact
}

TEST_CASE("closest_match prefers the nearest candidate", "[text][closest_match]") {
  std::array<std::string_view, 3> keys{"rates", "rate", "ratio"};
  CHECK(closest_match("rate", keys) == std::optional<std::string>("rate"));
  CHECK(closest_match("ratez", keys) == std::optional<std::string>("rates"));
  CHECK(closest_match("ratoo", keys) == std::optional<std::string>("ratio"));
}

TEST_CASE("closest_match does not suggest unrelated words", "[text][closest_match]") {
  std::array<std::string_view, 5> keys{"duration", "rate", "size", "devices", "anomalies"};
  CHECK_FALSE(closest_match("banana", keys).has_value());
  CHECK_FALSE(closest_match("frequency", keys).has_value());
  CHECK_FALSE(closest_match("zzzzzzzz", keys).has_value());
  CHECK_FALSE(closest_match("deadline", keys).has_value());
  CHECK_FALSE(closest_match(std::string(100, 'a'), keys).has_value());
  CHECK_FALSE(closest_match("rate", std::span<const std::string_view>{}).has_value());
}

// ---------------------------------------------------------------------------------------------------------------
// first_invalid_utf8

TEST_CASE("first_invalid_utf8 accepts valid text", "[text][utf8]") {
  CHECK_FALSE(first_invalid_utf8("").has_value());
  CHECK_FALSE(first_invalid_utf8("plain ASCII, with punctuation: ~!@#$%^&*()\t\n").has_value());
  CHECK_FALSE(first_invalid_utf8("h\xC3\xA9llo").has_value());                 // é (2 bytes)
  CHECK_FALSE(first_invalid_utf8("\xC3\x97" "20").has_value());                // × (2 bytes)
  CHECK_FALSE(first_invalid_utf8("\xE2\x82\xAC" "5").has_value());             // € (3 bytes)
  CHECK_FALSE(first_invalid_utf8("\xF0\x9D\x84\x9E").has_value());             // 𝄞 (4 bytes)
  CHECK_FALSE(first_invalid_utf8("\xF4\x8F\xBF\xBF").has_value());             // U+10FFFF, the last code point
  CHECK_FALSE(first_invalid_utf8("\xC2\x80").has_value());                     // U+0080, smallest 2-byte
  CHECK_FALSE(first_invalid_utf8("\xE0\xA0\x80").has_value());                 // U+0800, smallest 3-byte
  CHECK_FALSE(first_invalid_utf8("\xF0\x90\x80\x80").has_value());             // U+10000, smallest 4-byte
  CHECK_FALSE(first_invalid_utf8("\xED\x9F\xBF").has_value());                 // U+D7FF, just below surrogates
  CHECK_FALSE(first_invalid_utf8("\xEE\x80\x80").has_value());                 // U+E000, just above surrogates
  CHECK_FALSE(first_invalid_utf8("\x7F").has_value());                         // DEL is valid
}

TEST_CASE("first_invalid_utf8 rejects NUL", "[text][utf8]") {
  CHECK(first_invalid_utf8("\0"sv) == std::optional<std::size_t>(0));
  CHECK(first_invalid_utf8("abc\0def"sv) == std::optional<std::size_t>(3));
}

TEST_CASE("first_invalid_utf8 rejects a lone continuation byte", "[text][utf8]") {
  CHECK(first_invalid_utf8("\x80") == std::optional<std::size_t>(0));
  CHECK(first_invalid_utf8("ab\x80") == std::optional<std::size_t>(2));
  CHECK(first_invalid_utf8("ab\xBF" "cd") == std::optional<std::size_t>(2));
  CHECK(first_invalid_utf8("\xC3\xA9\xA9") == std::optional<std::size_t>(2));  // é then a stray continuation
}

TEST_CASE("first_invalid_utf8 rejects truncated sequences", "[text][utf8]") {
  CHECK(first_invalid_utf8("\xC3") == std::optional<std::size_t>(0));
  CHECK(first_invalid_utf8("a\xE2\x82") == std::optional<std::size_t>(1));
  CHECK(first_invalid_utf8("ab\xF0\x9D\x84") == std::optional<std::size_t>(2));
  // Truncated by a following ASCII byte rather than the end of the text.
  CHECK(first_invalid_utf8("\xE2\x82" "A") == std::optional<std::size_t>(0));
  CHECK(first_invalid_utf8("x\xC3" "y") == std::optional<std::size_t>(1));
  // A NUL inside a sequence.
  CHECK(first_invalid_utf8("\xC3\0"sv) == std::optional<std::size_t>(0));
}

TEST_CASE("first_invalid_utf8 rejects overlong encodings", "[text][utf8]") {
  CHECK(first_invalid_utf8("\xC0\xAF") == std::optional<std::size_t>(0));         // '/' in 2 bytes
  CHECK(first_invalid_utf8("ok\xC1\xBF") == std::optional<std::size_t>(2));       // U+007F in 2 bytes
  CHECK(first_invalid_utf8("\xE0\x80\xAF") == std::optional<std::size_t>(0));     // '/' in 3 bytes
  CHECK(first_invalid_utf8("\xE0\x9F\xBF") == std::optional<std::size_t>(0));     // U+07FF in 3 bytes
  CHECK(first_invalid_utf8("\xF0\x80\x80\xAF") == std::optional<std::size_t>(0)); // '/' in 4 bytes
  CHECK(first_invalid_utf8("\xF0\x8F\xBF\xBF") == std::optional<std::size_t>(0)); // U+FFFF in 4 bytes
  CHECK(first_invalid_utf8("\xC0\x80") == std::optional<std::size_t>(0));         // "modified UTF-8" NUL
}

TEST_CASE("first_invalid_utf8 rejects surrogates", "[text][utf8]") {
  CHECK(first_invalid_utf8("\xED\xA0\x80") == std::optional<std::size_t>(0));     // U+D800
  CHECK(first_invalid_utf8("x\xED\xBF\xBF") == std::optional<std::size_t>(1));    // U+DFFF
}

TEST_CASE("first_invalid_utf8 rejects code points past U+10FFFF and invalid lead bytes", "[text][utf8]") {
  CHECK(first_invalid_utf8("\xF4\x90\x80\x80") == std::optional<std::size_t>(0));  // U+110000
  CHECK(first_invalid_utf8("\xF7\xBF\xBF\xBF") == std::optional<std::size_t>(0));
  CHECK(first_invalid_utf8("\xF8\x88\x80\x80\x80") == std::optional<std::size_t>(0));  // 5-byte form
  CHECK(first_invalid_utf8("\xFE") == std::optional<std::size_t>(0));
  CHECK(first_invalid_utf8("abc\xFF") == std::optional<std::size_t>(3));
}

TEST_CASE("first_invalid_utf8 reports the first problem, after valid multibyte text", "[text][utf8]") {
  // "é€" is 5 bytes, then a bad byte, then another bad byte.
  CHECK(first_invalid_utf8("\xC3\xA9\xE2\x82\xAC\xFF\x80") == std::optional<std::size_t>(5));
}

// ---------------------------------------------------------------------------------------------------------------
// join_alternatives

TEST_CASE("join_alternatives joins with commas and a final word", "[text][join]") {
  std::vector<std::string_view> none;
  std::vector<std::string_view> one{"a"};
  std::vector<std::string_view> two{"a", "b"};
  std::vector<std::string_view> three{"a", "b", "c"};
  std::vector<std::string_view> four{"ms", "s", "m", "h"};
  CHECK(join_alternatives(none) == "");
  CHECK(join_alternatives(one) == "a");
  CHECK(join_alternatives(two) == "a or b");
  CHECK(join_alternatives(three) == "a, b or c");
  CHECK(join_alternatives(four) == "ms, s, m or h");
  CHECK(join_alternatives(three, " and ") == "a, b and c");
  CHECK(join_alternatives(two, ", or ") == "a, or b");
}

// ---------------------------------------------------------------------------------------------------------------
// Diagnostics and the error category (sim/core/error.hpp)

TEST_CASE("format_diagnostic uses the file:line:col: error: message; hint shape", "[error][diagnostic]") {
  Diagnostic d;
  d.where = {"scenario.yaml", 3, 7};
  d.message = "unknown key 'rat'";
  d.hint = "did you mean 'rate'?";
  CHECK(format_diagnostic(d) == "scenario.yaml:3:7: error: unknown key 'rat'; did you mean 'rate'?");

  d.hint.clear();
  CHECK(format_diagnostic(d) == "scenario.yaml:3:7: error: unknown key 'rat'");

  d.severity = Diagnostic::Severity::warning;
  CHECK(format_diagnostic(d) == "scenario.yaml:3:7: warning: unknown key 'rat'");
}

TEST_CASE("format_diagnostic leaves out unknown positions", "[error][diagnostic]") {
  Diagnostic d;
  d.message = "msg";
  d.hint = "hint";
  d.where = {"f.yaml", 3, 0};
  CHECK(format_diagnostic(d) == "f.yaml:3: error: msg; hint");
  d.where = {"f.yaml", 0, 0};
  CHECK(format_diagnostic(d) == "f.yaml: error: msg; hint");
  d.where = {"", 0, 0};
  CHECK(format_diagnostic(d) == "<input>: error: msg; hint");
  d.where = {"", 2, 5};
  CHECK(format_diagnostic(d) == "<input>:2:5: error: msg; hint");
}

TEST_CASE("InputError carries its diagnostics and describes the first", "[error][diagnostic]") {
  Diagnostic a{Diagnostic::Severity::error, {"a.yaml", 1, 2}, "first", "fix it"};
  Diagnostic b{Diagnostic::Severity::error, {"a.yaml", 9, 1}, "second", ""};
  InputError e({a, b});
  CHECK(std::string(e.what()) == "a.yaml:1:2: error: first; fix it");
  REQUIRE(e.diagnostics.size() == 2);
  CHECK(e.diagnostics[1].message == "second");
  CHECK(std::string(InputError({}).what()) == "invalid input");
  CHECK_THROWS_AS(throw InputError({a}), std::runtime_error);
}

TEST_CASE("the fleetsim error category names its errors", "[error][category]") {
  const auto& cat = error_category();
  CHECK(std::string(cat.name()) == "fleetsim");
  CHECK(make_error_code(error::timeout).message() == "the step did not finish before its deadline");
  CHECK(make_error_code(error::protocol).message() == "the peer broke the protocol");
  CHECK(make_error_code(error::too_large).message() == "input exceeded a configured limit");
  CHECK(make_error_code(error::cancelled).message() == "stopped on request");
  CHECK(cat.message(0) == "unknown fleetsim error");
  CHECK(cat.message(99) == "unknown fleetsim error");
}

TEST_CASE("fleetsim::error converts to std::error_code", "[error][category]") {
  std::error_code ec = error::cancelled;  // via is_error_code_enum
  CHECK(ec.value() == 4);
  CHECK(&ec.category() == &error_category());
  CHECK(ec == error::cancelled);
  CHECK(ec != error::timeout);
  CHECK(static_cast<bool>(ec));
  CHECK(ec != std::make_error_code(std::errc::operation_canceled));
  CHECK(make_error_code(error::timeout).value() == 1);
  CHECK(&error_category() == &error_category());  // one instance
}

TEST_CASE("exit codes are fixed", "[error]") {
  CHECK(exit_ok == 0);
  CHECK(exit_expectations_failed == 1);
  CHECK(exit_bad_input == 2);
  CHECK(exit_runtime_failure == 3);
}

// ---------------------------------------------------------------------------------------------------------------
// sha256_hex (sim/core/sha256.hpp)

TEST_CASE("sha256_hex matches the known digests", "[sha256]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256_hex hashes every byte, including NUL", "[sha256]") {
  CHECK(sha256_hex("a\0b"sv) != sha256_hex("a"));
  CHECK(sha256_hex("a\0b"sv) != sha256_hex("a\0c"sv));
  CHECK(sha256_hex("abc").size() == 64);
  CHECK(sha256_hex("abc").find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("closest_match does not pair short unrelated words") {
  std::vector<std::string_view> ok{"ok"};
  CHECK_FALSE(closest_match("id", ok).has_value());
  std::vector<std::string_view> ab{"ab"};
  CHECK_FALSE(closest_match("", ab).has_value());
  std::vector<std::string_view> rate{"rate"};
  CHECK(closest_match("rat", rate) == "rate");
}

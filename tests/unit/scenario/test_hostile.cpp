// Malformed and hostile YAML: every input ends in diagnostics with a position, never a crash or a hang.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "sim/core/rng.hpp"
#include "sim/scenario/loader.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::scenario;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads and checks; returns the result. A crash would end the test program.
LoadResult load_checked(const std::string& text) {
  auto r = load_scenario_text(text, "h.yaml");
  if (r.ok()) check_scenario(*r.scenario, r.diagnostics);
  return r;
}

// Invalid input must produce at least one error, and errors point into the file.
void require_clean_rejection(const std::string& text) {
  auto r = load_checked(text);
  REQUIRE_FALSE(r.ok());
  bool positioned = false;
  for (const auto& d : r.diagnostics) positioned |= d.severity == Diagnostic::Severity::error && d.where.line > 0;
  CHECK(positioned);
}

}  // namespace

TEST_CASE("truncated files are rejected with a position or accepted whole") {
  auto full = read_file(test::source_path("scenarios/quickstart.yaml"));
  REQUIRE(load_checked(full).ok());
  std::size_t rejected = 0;
  for (std::size_t cut = 0; cut < full.size(); cut += 53) {
    auto r = load_checked(full.substr(0, cut));
    if (r.ok()) continue;
    ++rejected;
    bool positioned = false;
    for (const auto& d : r.diagnostics) positioned |= d.severity == Diagnostic::Severity::error && d.where.line > 0;
    INFO("cut at " << cut);
    CHECK(positioned);
  }
  CHECK(rejected > full.size() / 53 / 2);
}

TEST_CASE("wrong types everywhere") {
  for (const char* text : {"[]", "42", "\"just a string\"", "version: 1\nname: x\nfleet: 3\n",
                           "version: 1\nname: x\nfleet: [1, 2]\n", "version: {a: 1}\n", "? [a, b]\n: c\n",
                           "version: 1\nname: x\nfleet:\n  - {group: g, count: -1, baseline: {publish: {topic: t, rate: 1/s}}}\n",
                           "version: 1\nname: x\nfleet:\n  - {group: g, count: 1.5, baseline: {publish: {topic: t, rate: 1/s}}}\n",
                           "version: 1\nname: x\nseed: 18446744073709551616\nfleet: []\n",
                           "version: 1\nname: x\nclock: {time_scale: 1e400}\nfleet: []\n",
                           "version: 1\nname: x\nclock: {duration: 99999999999999999999h}\nfleet: []\n",
                           "version: 2\nname: x\nfleet: []\n", "~\n", "# only a comment\n"}) {
    INFO(text);
    auto r = load_checked(text);
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r.diagnostics.empty());
  }
}

TEST_CASE("deep nesting is refused, not a stack overflow") {
  require_clean_rejection(std::string(100000, '['));
  require_clean_rejection(std::string(100000, '{'));
  std::string nested_maps;
  for (int i = 0; i < 5000; ++i) nested_maps += std::string(static_cast<std::size_t>(i % 200), ' ') + "a:\n";
  auto r = load_checked(nested_maps);
  CHECK_FALSE(r.ok());
  std::string flow = "fleet: ";
  for (int i = 0; i < 3000; ++i) flow += "{a: ";
  require_clean_rejection(flow);
}

TEST_CASE("binary garbage and invalid UTF-8") {
  Rng rng(2026);
  for (int i = 0; i < 300; ++i) {
    std::string bytes(1 + rng.below(2048), '\0');
    for (auto& c : bytes) c = static_cast<char>(rng.below(256));
    auto r = load_checked(bytes);
    CHECK_FALSE(r.ok());
  }
  auto r = load_checked("version: 1\nname: \xC3\x28\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.diagnostics[0].where.line == 2);
  CHECK(r.diagnostics[0].where.column == 7);
  CHECK(r.diagnostics[0].message == "the file is not valid UTF-8 text");
  auto nul = load_checked(std::string("version: 1\0\n", 12));
  CHECK(nul.diagnostics[0].message == "the file contains a NUL byte");
}

TEST_CASE("mutations of a valid scenario never crash") {
  auto full = read_file(test::source_path("scenarios/quickstart.yaml"));
  Rng rng(7);
  const char specials[] = ":{}[]-,&*!|>'\"%@`#\n\t ";
  for (int i = 0; i < 400; ++i) {
    auto text = full;
    for (int k = 0; k < 3; ++k) {
      auto pos = rng.below(text.size());
      switch (rng.below(3)) {
        case 0: text[pos] = specials[rng.below(sizeof specials - 1)]; break;
        case 1: text.erase(pos, rng.below(20)); break;
        case 2: text.insert(pos, text.substr(rng.below(text.size()), rng.below(40))); break;
      }
    }
    auto r = load_checked(text);
    if (!r.ok()) {
      bool any_error = false;
      for (const auto& d : r.diagnostics) any_error |= d.severity == Diagnostic::Severity::error;
      CHECK(any_error);
    }
  }
}

TEST_CASE("alias bombs and huge inputs stay bounded") {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = c;
  }
  bomb += "version: 1\nname: x\nfleet: *j\n";
  require_clean_rejection(bomb);
  auto big = load_checked(std::string(max_scenario_bytes + 1, '#'));
  REQUIRE_FALSE(big.ok());
  CHECK(big.diagnostics[0].message.find("larger than") != std::string::npos);
  require_clean_rejection("version: 1\nname: " + std::string(1 << 20, 'n') + "\nfleet: []\n");
}

// The fleetsim binary as a user runs it: exit codes, messages, determinism.
#include <catch2/catch.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "sim/core/rng.hpp"
#include "tests/support/process.hpp"

using fleetsim::test::run_fleetsim;
using fleetsim::test::source_path;

TEST_CASE("every shipped scenario validates") {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(source_path("scenarios")))
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  REQUIRE(files.size() >= 12);  // quickstart, nightly, capacity and one per anomaly kind
  std::vector<std::string> args{"validate"};
  args.insert(args.end(), files.begin(), files.end());
  auto r = run_fleetsim(args, std::chrono::seconds(60));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  for (const auto& f : files) CHECK(r.out.find(f + ": ok") != std::string::npos);
}

TEST_CASE("the nightly scenario is valid against AWS and the quickstart is not") {
  auto nightly = run_fleetsim({"validate", "--target", "aws", source_path("scenarios/nightly-ml-detect.yaml")});
  INFO(nightly.err);
  CHECK(nightly.exit_code == 0);
  auto quick = run_fleetsim({"validate", "--target", "aws", source_path("scenarios/quickstart.yaml")});
  CHECK(quick.exit_code == 2);
  CHECK(quick.err.find("time_scale is 120 but the target is AWS") != std::string::npos);
}

TEST_CASE("invalid files exit 2 with file:line:col") {
  fleetsim::test::TempDir dir;
  auto bad_key = dir.write("bad.yaml", "version: 1\nname: x\nfleeet: []\n");
  auto r = run_fleetsim({"validate", bad_key});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(bad_key + ":3:1: error: unknown key 'fleeet' in the scenario; did you mean 'fleet'?") !=
        std::string::npos);
  auto missing = run_fleetsim({"validate", dir.path() + "/nope.yaml"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("cannot open the file") != std::string::npos);
  auto directory = run_fleetsim({"validate", dir.path()});
  CHECK(directory.exit_code == 2);
}

TEST_CASE("hostile bytes through the real binary: exit 2 with a position, never a crash or a hang") {
  fleetsim::test::TempDir dir;
  fleetsim::Rng rng(11);
  std::vector<std::string> inputs{std::string(200000, '['), "a: &a [*a]\n", "version: 1\nname: \xff\xfe\n",
                                  "\t- tabbed\n", "key: 'unterminated\n", "[1, 2\n"};
  for (int i = 0; i < 20; ++i) {
    std::string bytes(1 + rng.below(512), '\0');
    for (auto& c : bytes) c = static_cast<char>(rng.below(256));
    inputs.push_back(bytes);
  }
  std::regex position(R"(:[0-9]+:[0-9]+: error: )");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto file = dir.write("h" + std::to_string(i) + ".yaml", inputs[i]);
    auto r = run_fleetsim({"validate", file}, std::chrono::seconds(20));
    INFO("input " << i << ": " << r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 2);
    CHECK(std::regex_search(r.err, position));
  }
}

TEST_CASE("plan output is byte-identical for the same file, seed and shard") {
  for (const char* format : {"table", "json", "csv"}) {
    auto a = run_fleetsim({"plan", source_path("scenarios/quickstart.yaml"), "--format", format});
    auto b = run_fleetsim({"plan", source_path("scenarios/quickstart.yaml"), "--format", format});
    INFO(a.err);
    REQUIRE(a.exit_code == 0);
    CHECK(a.out == b.out);
    CHECK(a.out.size() > 500);
  }
}

TEST_CASE("plan --shard: the shards are disjoint and together are the whole plan") {
  auto whole = run_fleetsim({"plan", source_path("scenarios/quickstart.yaml"), "--format", "json"});
  REQUIRE(whole.exit_code == 0);
  auto all = nlohmann::json::parse(whole.out);
  REQUIRE(all["things"].size() == 40);
  std::set<std::string> things, occurrences;
  for (int i = 0; i < 3; ++i) {
    auto r = run_fleetsim({"plan", source_path("scenarios/quickstart.yaml"), "--format", "json", "--shard",
                           std::to_string(i) + "/3"});
    REQUIRE(r.exit_code == 0);
    auto part = nlohmann::json::parse(r.out);
    CHECK(part["shard"] == std::to_string(i) + "/3");
    for (const auto& t : part["things"]) CHECK(things.insert(t["name"].get<std::string>()).second);
    for (const auto& o : part["occurrences"]) occurrences.insert(o.dump());
  }
  CHECK(things.size() == 40);
  std::set<std::string> expected;
  for (const auto& o : all["occurrences"]) expected.insert(o.dump());
  CHECK(occurrences == expected);
  auto bad = run_fleetsim({"plan", source_path("scenarios/quickstart.yaml"), "--shard", "3/3"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("0 ≤ I < N") != std::string::npos);
}

TEST_CASE("plan shows every anomaly standing out in the quickstart") {
  auto r = run_fleetsim({"plan", source_path("scenarios/quickstart.yaml"), "--format", "json"});
  REQUIRE(r.exit_code == 0);
  auto plan = nlohmann::json::parse(r.out);
  std::set<std::string> kinds;
  for (const auto& e : plan["effects"]) {
    if (e["role"] != "primary") continue;
    kinds.insert(e["kind"].get<std::string>());
    CHECK(e["verdict"] == "stands out");
  }
  CHECK(kinds.size() == 9);
}

TEST_CASE("help, version and bad arguments") {
  auto help = run_fleetsim({"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("validate") != std::string::npos);
  CHECK(help.out.find("plan") != std::string::npos);
  auto plan_help = run_fleetsim({"plan", "--help"});
  CHECK(plan_help.exit_code == 0);
  CHECK(plan_help.out.find("--shard") != std::string::npos);
  auto version = run_fleetsim({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.find("fleetsim 0.") == 0);
  CHECK(run_fleetsim({}).exit_code == 2);
  CHECK(run_fleetsim({"frobnicate"}).exit_code == 2);
  CHECK(run_fleetsim({"plan", source_path("scenarios/quickstart.yaml"), "--format", "xml"}).exit_code == 2);
  auto tick = run_fleetsim({"run", source_path("scenarios/quickstart.yaml"), "--target", "mqtt://127.0.0.1:1", "--tick", "0ms"});
  CHECK(tick.exit_code == 2);
  CHECK(tick.err.find("--tick") != std::string::npos);
  // Bad options are refused before the embedded emulator starts.
  auto local = run_fleetsim({"run", source_path("scenarios/quickstart.yaml"), "--duration", "soon"});
  CHECK(local.exit_code == 2);
  CHECK(local.err.find("--duration") != std::string::npos);
}

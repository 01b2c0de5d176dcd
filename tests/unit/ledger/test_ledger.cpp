// Test that the header is self-contained.
#include "sim/ledger/ledger.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sim/core/rng.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::ledger;
using Catch::Matchers::Contains;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr EpochMillis dec5_0200z = 1'796'436'000'000;  // 2026-12-05T02:00:00Z
constexpr EpochMillis minute = 60'000;

Header sample_header(ShardId shard = {}) {
  Header h;
  h.run_id = "run-20261205-0200";
  h.scenario = {"quickstart", "scenarios/quickstart.yaml", std::string(64, 'a')};
  h.seed = 18'446'744'073'709'551'557ull;  // above INT64_MAX: must survive as unsigned
  h.shard = shard;
  h.time_scale = 60;
  h.start_ms = dec5_0200z;
  h.target = "local";
  h.written_at_ms = 1'735'725'600'250;  // 2025-01-01T10:00:00.250Z
  return h;
}

AnomalyStart sample_start(std::string anomaly, std::uint64_t occurrence, std::string thing, EpochMillis t) {
  AnomalyStart s;
  s.anomaly = std::move(anomaly);
  s.kind = "message-flood";
  s.occurrence = occurrence;
  s.thing = std::move(thing);
  s.primary_metrics = {"aws:num-messages-sent"};
  s.side_effect_metrics = {"aws:message-byte-size", "aws:num-authorization-failures"};
  s.strength = "x20";
  s.strength_value = 20;
  s.mode = "";
  s.t_ms = t;
  s.planned_end_ms = t + 5 * minute;
  return s;
}

std::unique_ptr<LedgerWriter> open_writer(const fs::path& path, const Header& h = sample_header(),
                                          WriterOptions options = {}) {
  auto w = LedgerWriter::open(path, h, options);
  INFO("LedgerWriter::open: " << (w ? std::string() : w.error()));
  REQUIRE(w.has_value());
  return std::move(w.value());
}

Ledger read(const fs::path& path) {
  auto l = read_ledger(path);
  INFO("read_ledger: " << (l ? std::string() : l.error()));
  REQUIRE(l.has_value());
  return std::move(l.value());
}

Ledger read_text(const std::string& text) {
  auto l = read_ledger_text(text, "test.jsonl");
  INFO("read_ledger_text: " << (l ? std::string() : l.error()));
  REQUIRE(l.has_value());
  return std::move(l.value());
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

std::string all_issues(const std::vector<Issue>& issues) {
  std::string out;
  for (const auto& i : issues) out += format_issue(i) + "\n";
  return out;
}

std::vector<const Issue*> issues_of(const std::vector<Issue>& issues, IssueKind kind) {
  std::vector<const Issue*> out;
  for (const auto& i : issues)
    if (i.kind == kind) out.push_back(&i);
  return out;
}

// Hand-written records for the reader tests.
std::string header_line(std::uint64_t seq = 0, int schema = 1) {
  return R"({"type":"header","seq":)" + std::to_string(seq) + R"(,"schema":)" + std::to_string(schema) +
         R"(,"tool":"fleetsim test","run_id":"r1","scenario":{"name":"qs","file":"qs.yaml","sha256":"abc"},)"
         R"("seed":42,"shard":"0/1","clock":{"time_scale":60.0,"start":"2026-12-05T02:00:00Z","start_ms":1796436000000},)"
         R"("target":"local","written_at":"2025-01-01T10:00:00Z"})"
         "\n";
}
std::string start_line(std::uint64_t seq, const std::string& id, const std::string& thing, EpochMillis t) {
  return R"({"type":"anomaly_start","seq":)" + std::to_string(seq) + R"(,"id":")" + id +
         R"(","anomaly":"flood","kind":"message-flood","occurrence":0,"thing":")" + thing +
         R"(","primary_metrics":["aws:num-messages-sent"],"side_effect_metrics":[],"strength":"x20",)"
         R"("strength_value":20.0,"mode":"","t":")" +
         format_rfc3339(t) + R"(","t_ms":)" + std::to_string(t) + R"(,"planned_end_ms":)" +
         std::to_string(t + 5 * minute) + "}\n";
}
std::string end_line(std::uint64_t seq, const std::string& id, const std::string& thing, EpochMillis t,
                     const std::string& reason = "completed") {
  return R"({"type":"anomaly_end","seq":)" + std::to_string(seq) + R"(,"id":")" + id + R"(","thing":")" + thing +
         R"(","anomaly":"flood","t":")" + format_rfc3339(t) + R"(","t_ms":)" + std::to_string(t) +
         R"(,"reason":")" + reason + "\"}\n";
}
std::string heartbeat_line(std::uint64_t seq, EpochMillis t) {
  return R"({"type":"heartbeat","seq":)" + std::to_string(seq) + R"(,"t":")" + format_rfc3339(t) +
         R"(","t_ms":)" + std::to_string(t) + R"(,"stats":{"connected":10}})" "\n";
}
std::string run_end_line(std::uint64_t seq, EpochMillis t, const std::string& reason = "completed") {
  return R"({"type":"run_end","seq":)" + std::to_string(seq) + R"(,"t":")" + format_rfc3339(t) + R"(","t_ms":)" +
         std::to_string(t) + R"(,"reason":")" + reason + "\"}\n";
}

const std::string id_a = "flood#0@qs-sensor-001";
const std::string id_b = "flood#0@qs-sensor-002";

}  // namespace

//----------------------------------------------------------------------------------------------------

TEST_CASE("ledger: every record type is written and read back", "[ledger]") {
  test::TempDir dir;
  fs::path path = default_ledger_path(dir.path());
  {
    auto w = open_writer(path);
    CHECK(w->path() == path);
    CHECK(w->next_seq() == 1);
    AnomalyStart s = sample_start("flood", 0, "qs-sensor-002", dec5_0200z + 10 * minute);
    s.mode = "publish";
    REQUIRE_FALSE(w->anomaly_start(s));
    REQUIRE_FALSE(w->heartbeat(dec5_0200z + 11 * minute, json{{"things_connected", 1000}, {"messages_sent", 123456}}));
    REQUIRE_FALSE(w->anomaly_end({"flood#0@qs-sensor-002", "qs-sensor-002", "flood", dec5_0200z + 15 * minute,
                                  EndReason::completed}));
    AnomalyStart s2 = sample_start("ports", 3, "qs-sensor-007", dec5_0200z + 20 * minute + 250);
    s2.id = "custom-id";
    s2.kind = "device-listening-ports";
    s2.strength = "5";
    s2.strength_value = 5;
    REQUIRE_FALSE(w->anomaly_start(s2));
    REQUIRE_FALSE(w->anomaly_end({"custom-id", "qs-sensor-007", "ports", dec5_0200z + 21 * minute, EndReason::stopped}));
    REQUIRE_FALSE(w->run_end({dec5_0200z + 21 * minute, RunEndReason::stopped}));
    CHECK(w->next_seq() == 7);
    CHECK_FALSE(w->close());
  }

  SECTION("the raw lines are what the schema says") {
    auto lines = split_lines(slurp(path));
    REQUIRE(lines.size() == 7);
    REQUIRE(slurp(path).back() == '\n');
    std::vector<std::string> types;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      auto j = json::parse(lines[i]);
      CHECK(j.at("seq") == i);
      types.push_back(j.at("type"));
      CHECK(lines[i].rfind(R"({"type":)", 0) == 0);  // type first, for people reading the file
    }
    CHECK(types == std::vector<std::string>{"header", "anomaly_start", "heartbeat", "anomaly_end", "anomaly_start",
                                            "anomaly_end", "run_end"});
    auto h = json::parse(lines[0]);
    CHECK(h.at("schema") == 1);
    CHECK(h.at("tool") == "fleetsim " FLEETSIM_VERSION);
    CHECK(h.at("run_id") == "run-20261205-0200");
    CHECK(h.at("scenario") == json{{"name", "quickstart"}, {"file", "scenarios/quickstart.yaml"}, {"sha256", std::string(64, 'a')}});
    CHECK(h.at("seed").get<std::uint64_t>() == 18'446'744'073'709'551'557ull);
    CHECK(h.at("shard") == "0/1");
    CHECK(h.at("clock").at("time_scale") == 60.0);
    CHECK(h.at("clock").at("start") == "2026-12-05T02:00:00Z");
    CHECK(h.at("clock").at("start_ms") == dec5_0200z);
    CHECK(h.at("target") == "local");
    CHECK(h.at("written_at") == "2025-01-01T10:00:00.250Z");
    auto s = json::parse(lines[1]);
    CHECK(s.at("id") == "flood#0@qs-sensor-002");
    CHECK(s.at("t") == "2026-12-05T02:10:00Z");
    CHECK(s.at("t_ms") == dec5_0200z + 10 * minute);
    CHECK(s.at("mode") == "publish");
    auto hb = json::parse(lines[2]);
    CHECK(hb.at("stats") == json{{"things_connected", 1000}, {"messages_sent", 123456}});
    CHECK(json::parse(lines[5]).at("reason") == "stopped");
    CHECK(json::parse(lines[6]).at("reason") == "stopped");
  }

  SECTION("the reader gives back every field") {
    Ledger l = read(path);
    INFO(all_issues(l.issues));
    CHECK(l.issues.empty());
    CHECK(l.clean());
    CHECK(l.lines == 7);
    CHECK(l.records == 7);
    REQUIRE(l.header);
    const Header& h = *l.header;
    CHECK(h.schema == 1);
    CHECK(h.tool == "fleetsim " FLEETSIM_VERSION);
    CHECK(h.run_id == "run-20261205-0200");
    CHECK(h.scenario.name == "quickstart");
    CHECK(h.scenario.file == "scenarios/quickstart.yaml");
    CHECK(h.scenario.sha256 == std::string(64, 'a'));
    CHECK(h.seed == 18'446'744'073'709'551'557ull);
    CHECK(h.shard == ShardId{0, 1});
    CHECK(h.time_scale == 60);
    CHECK(h.start_ms == dec5_0200z);
    CHECK(h.target == "local");
    CHECK(h.written_at_ms == 1'735'725'600'250);

    REQUIRE(l.windows.size() == 2);
    const Window& a = l.windows[0];
    CHECK(a.id == "flood#0@qs-sensor-002");
    CHECK(a.thing == "qs-sensor-002");
    CHECK(a.anomaly == "flood");
    CHECK(a.kind == "message-flood");
    CHECK(a.occurrence == 0);
    CHECK(a.primary_metrics == std::vector<std::string>{"aws:num-messages-sent"});
    CHECK(a.side_effect_metrics ==
          std::vector<std::string>{"aws:message-byte-size", "aws:num-authorization-failures"});
    CHECK(a.strength == "x20");
    CHECK(a.strength_value == 20);
    CHECK(a.mode == "publish");
    CHECK(a.start_ms == dec5_0200z + 10 * minute);
    CHECK(a.planned_end_ms == dec5_0200z + 15 * minute);
    CHECK(a.end_ms == dec5_0200z + 15 * minute);
    CHECK(a.end_reason == EndReason::completed);
    CHECK_FALSE(a.open());
    CHECK(a.line == 2);
    CHECK(a.file == path.string());
    const Window& b = l.windows[1];
    CHECK(b.id == "custom-id");
    CHECK(b.kind == "device-listening-ports");
    CHECK(b.occurrence == 3);
    CHECK(b.strength == "5");
    CHECK(b.start_ms == dec5_0200z + 20 * minute + 250);
    CHECK(b.end_reason == EndReason::stopped);

    CHECK(l.heartbeats == 1);
    CHECK(l.last_heartbeat_ms == dec5_0200z + 11 * minute);
    CHECK(l.last_stats == json{{"things_connected", 1000}, {"messages_sent", 123456}});
    REQUIRE(l.run_end);
    CHECK(l.run_end->t_ms == dec5_0200z + 21 * minute);
    CHECK(l.run_end->reason == RunEndReason::stopped);
  }
}

TEST_CASE("ledger: the writer defaults and refuses", "[ledger]") {
  test::TempDir dir;
  fs::path path = fs::path(dir.path()) / "ledger.jsonl";
  Header h = sample_header();
  h.written_at_ms = 0;  // the writer uses the wall clock
  auto w = open_writer(path, h, {.sync = false});

  SECTION("an empty id becomes <anomaly>#<occurrence>@<thing>") {
    REQUIRE_FALSE(w->anomaly_start(sample_start("flood", 2, "qs-sensor-009", dec5_0200z)));
    w->close();
    Ledger l = read(path);
    REQUIRE(l.windows.size() == 1);
    CHECK(l.windows[0].id == "flood#2@qs-sensor-009");
    REQUIRE(l.header);
    CHECK(l.header->written_at_ms > 1'700'000'000'000);
  }
  SECTION("invalid records are refused with invalid_argument, and take no seq") {
    CHECK(w->anomaly_start(sample_start("flood", 0, "", dec5_0200z)) == std::errc::invalid_argument);
    CHECK(w->anomaly_end({"", "t", "a", dec5_0200z, EndReason::completed}) == std::errc::invalid_argument);
    CHECK(w->heartbeat(dec5_0200z, json::array({1, 2})) == std::errc::invalid_argument);
    CHECK(w->next_seq() == 1);
    CHECK_FALSE(w->heartbeat(dec5_0200z, json()));  // null stats are written as {}
    w->close();
    auto lines = split_lines(slurp(path));
    REQUIRE(lines.size() == 2);
    CHECK(json::parse(lines[1]).at("stats") == json::object());
  }
  SECTION("invalid UTF-8 from the caller is replaced, not thrown") {
    CHECK_FALSE(w->heartbeat(dec5_0200z, json{{"last_error", std::string("bad \xff byte")}}));
    w->close();
    Ledger l = read(path);
    INFO(all_issues(l.issues));
    CHECK(l.issues.size() == 1);  // only missing_run_end
    CHECK(l.last_stats.at("last_error") == "bad \xEF\xBF\xBD byte");
  }
  SECTION("after close every call fails with bad_file_descriptor") {
    CHECK_FALSE(w->close());
    CHECK_FALSE(w->close());
    CHECK(w->heartbeat(dec5_0200z, json::object()) == std::errc::bad_file_descriptor);
    CHECK(w->run_end({dec5_0200z, RunEndReason::completed}) == std::errc::bad_file_descriptor);
  }
}

TEST_CASE("ledger: an existing ledger is never overwritten", "[ledger]") {
  test::TempDir dir;
  fs::path path = fs::path(dir.path()) / "ledger.jsonl";
  {
    auto w = open_writer(path);
    REQUIRE_FALSE(w->run_end({dec5_0200z, RunEndReason::completed}));
  }
  std::string before = slurp(path);
  auto again = LedgerWriter::open(path, sample_header());
  REQUIRE_FALSE(again.has_value());
  CHECK_THAT(again.error(), Contains(path.string()) && Contains("already exists") && Contains("never overwritten"));
  CHECK(slurp(path) == before);

  // Also when the existing file is not a ledger at all.
  fs::path other = dir.write("notes.txt", "precious\n");
  CHECK_FALSE(LedgerWriter::open(other, sample_header()).has_value());
  CHECK(slurp(other) == "precious\n");

  auto nodir = LedgerWriter::open(fs::path(dir.path()) / "no-such-dir" / "ledger.jsonl", sample_header());
  REQUIRE_FALSE(nodir.has_value());
  CHECK_THAT(nodir.error(), Contains("no-such-dir") && Contains("does not exist"));
}

TEST_CASE("ledger: the file is created 0644 (less the umask)", "[ledger]") {
  test::TempDir dir;
  mode_t old = ::umask(022);
  auto w = LedgerWriter::open(fs::path(dir.path()) / "a.jsonl", sample_header());
  ::umask(077);
  auto w2 = LedgerWriter::open(fs::path(dir.path()) / "b.jsonl", sample_header());
  ::umask(old);
  REQUIRE(w.has_value());
  REQUIRE(w2.has_value());
  struct stat st {};
  REQUIRE(::stat((fs::path(dir.path()) / "a.jsonl").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0644);
  REQUIRE(::stat((fs::path(dir.path()) / "b.jsonl").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("ledger: default paths for unsharded and sharded runs", "[ledger]") {
  CHECK(default_ledger_path("runs/r1") == fs::path("runs/r1/ledger.jsonl"));
  CHECK(default_ledger_path("runs/r1", {0, 1}) == fs::path("runs/r1/ledger.jsonl"));
  CHECK(default_ledger_path("runs/r1", {0, 4}) == fs::path("runs/r1/ledger-shard-0-of-4.jsonl"));
  CHECK(default_ledger_path("/tmp/x", {11, 12}) == fs::path("/tmp/x/ledger-shard-11-of-12.jsonl"));

  CHECK(make_anomaly_id("flood", 0, "qs-sensor-002") == "flood#0@qs-sensor-002");
  CHECK(ShardId{2, 4}.to_string() == "2/4");
  auto s = parse_shard_id("3/4");
  REQUIRE(s.has_value());
  CHECK(*s == ShardId{3, 4});
  for (const char* bad : {"4/4", "0/0", "1", "/4", "1/", "-1/4", "a/4", "1/4x", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_shard_id(bad).has_value());
  }
  CHECK(parse_end_reason("stopped") == EndReason::stopped);
  CHECK_FALSE(parse_end_reason("disconnected").has_value());
  CHECK(parse_run_end_reason("failed") == RunEndReason::failed);
  CHECK(to_string(RunEndReason::completed) == "completed");
}

//----------------------------------------------------------------------------------------------------
// The tolerant reader

TEST_CASE("ledger reader: a complete hand-written ledger is clean", "[ledger][reader]") {
  Ledger l = read_text(header_line() + start_line(1, id_a, "qs-sensor-001", dec5_0200z) +
                       heartbeat_line(2, dec5_0200z + minute) + end_line(3, id_a, "qs-sensor-001", dec5_0200z + 2 * minute) +
                       run_end_line(4, dec5_0200z + 3 * minute));
  INFO(all_issues(l.issues));
  CHECK(l.issues.empty());
  CHECK(l.records == 5);
  REQUIRE(l.windows.size() == 1);
  CHECK(l.windows[0].end_ms == dec5_0200z + 2 * minute);
}

TEST_CASE("ledger reader: a torn last line is reported and the rest kept", "[ledger][reader]") {
  std::string good = header_line() + start_line(1, id_a, "qs-sensor-001", dec5_0200z);
  std::string next = end_line(2, id_a, "qs-sensor-001", dec5_0200z + minute);

  SECTION("cut in the middle, no newline") {
    Ledger l = read_text(good + next.substr(0, next.size() / 2));
    auto torn = issues_of(l.issues, IssueKind::torn_last_line);
    REQUIRE(torn.size() == 1);
    CHECK(torn[0]->line == 3);
    CHECK(torn[0]->file == "test.jsonl");
    CHECK(torn[0]->severity == Issue::Severity::warning);
    CHECK_THAT(torn[0]->message, Contains("incomplete"));
    CHECK(l.lines == 3);
    REQUIRE(l.windows.size() == 1);
    CHECK(l.windows[0].open());
    CHECK(l.clean());  // a torn tail is what a kill -9 leaves: a warning, not an error
  }
  SECTION("cut just before the newline: the record is complete and kept") {
    Ledger l = read_text(good + next.substr(0, next.size() - 1));
    auto torn = issues_of(l.issues, IssueKind::torn_last_line);
    REQUIRE(torn.size() == 1);
    CHECK_THAT(torn[0]->message, Contains("kept"));
    REQUIRE(l.windows.size() == 1);
    CHECK_FALSE(l.windows[0].open());
  }
  SECTION("an unparsable last line with a newline (a crash filled it with NULs)") {
    Ledger l = read_text(good + std::string(40, '\0') + "\n");
    auto torn = issues_of(l.issues, IssueKind::torn_last_line);
    REQUIRE(torn.size() == 1);
    CHECK(torn[0]->line == 3);
    CHECK(issues_of(l.issues, IssueKind::unparsable_line).empty());
    CHECK(l.windows.size() == 1);
  }
}

TEST_CASE("ledger reader: garbage in the middle is reported and skipped", "[ledger][reader]") {
  Ledger l = read_text(header_line() + start_line(1, id_a, "qs-sensor-001", dec5_0200z) + "{\"type\":\"anomaly_e\xff\n" +
                       "\n" + "[1,2,3]\n" + end_line(5, id_a, "qs-sensor-001", dec5_0200z + minute) +
                       run_end_line(6, dec5_0200z + 2 * minute));
  INFO(all_issues(l.issues));
  auto bad = issues_of(l.issues, IssueKind::unparsable_line);
  REQUIRE(bad.size() == 3);
  CHECK(bad[0]->line == 3);
  CHECK(bad[1]->line == 4);
  CHECK_THAT(bad[1]->message, Contains("empty line"));
  CHECK(bad[2]->line == 5);
  CHECK_THAT(bad[2]->message, Contains("not a JSON object"));
  CHECK(bad[0]->severity == Issue::Severity::error);
  CHECK_FALSE(l.clean());
  // The lost lines also show as a seq gap; everything else was read.
  auto gaps = issues_of(l.issues, IssueKind::seq_gap);
  REQUIRE(gaps.size() == 1);
  CHECK(gaps[0]->line == 6);
  CHECK_THAT(gaps[0]->message, Contains("from 1 to 5") && Contains("3 record(s) missing"));
  REQUIRE(l.windows.size() == 1);
  CHECK(l.windows[0].end_ms == dec5_0200z + minute);
  CHECK(l.run_end);
  CHECK(issues_of(l.issues, IssueKind::torn_last_line).empty());
}

TEST_CASE("ledger reader: a start without an end is an open window", "[ledger][reader]") {
  Ledger l = read_text(header_line() + start_line(1, id_a, "qs-sensor-001", dec5_0200z) +
                       start_line(2, id_b, "qs-sensor-002", dec5_0200z) +
                       end_line(3, id_b, "qs-sensor-002", dec5_0200z + minute));
  REQUIRE(l.windows.size() == 2);
  CHECK(l.windows[0].open());
  CHECK_FALSE(l.windows[0].end_reason.has_value());
  CHECK_FALSE(l.windows[1].open());
  auto open = issues_of(l.issues, IssueKind::open_window);
  REQUIRE(open.size() == 1);
  CHECK(open[0]->line == 2);
  CHECK_THAT(open[0]->message,
             Contains(id_a) && Contains("open: the run probably stopped without closing it (kill -9?)"));
  auto no_end = issues_of(l.issues, IssueKind::missing_run_end);
  REQUIRE(no_end.size() == 1);
  CHECK(no_end[0]->line == 0);
  CHECK(&l.issues.back() == no_end[0]);  // whole-file issues come last
  CHECK(l.clean());
}

TEST_CASE("ledger reader: an end without a start is reported and skipped", "[ledger][reader]") {
  Ledger l = read_text(header_line() + end_line(1, id_a, "qs-sensor-001", dec5_0200z) +
                       run_end_line(2, dec5_0200z + minute));
  auto issues = issues_of(l.issues, IssueKind::end_without_start);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0]->line == 2);
  CHECK_THAT(issues[0]->message, Contains(id_a) && Contains("never started"));
  CHECK(l.windows.empty());
  CHECK_FALSE(l.clean());
}

TEST_CASE("ledger reader: duplicate ids", "[ledger][reader]") {
  Ledger l = read_text(header_line() + start_line(1, id_a, "qs-sensor-001", dec5_0200z) +
                       start_line(2, id_a, "qs-sensor-001", dec5_0200z + 5 * minute) +
                       end_line(3, id_a, "qs-sensor-001", dec5_0200z + minute) +
                       end_line(4, id_a, "qs-sensor-001", dec5_0200z + 6 * minute) +
                       run_end_line(5, dec5_0200z + 7 * minute));
  auto dups = issues_of(l.issues, IssueKind::duplicate_id);
  REQUIRE(dups.size() == 2);
  CHECK(dups[0]->line == 3);
  CHECK_THAT(dups[0]->message, Contains("starts again (first on line 2)"));
  CHECK(dups[1]->line == 5);
  CHECK_THAT(dups[1]->message, Contains("ends a second time"));
  REQUIRE(l.windows.size() == 1);  // the first start and the first end
  CHECK(l.windows[0].start_ms == dec5_0200z);
  CHECK(l.windows[0].end_ms == dec5_0200z + minute);
}

TEST_CASE("ledger reader: seq gaps and disorder", "[ledger][reader]") {
  SECTION("a gap") {
    Ledger l = read_text(header_line() + start_line(1, id_a, "qs-sensor-001", dec5_0200z) +
                         end_line(4, id_a, "qs-sensor-001", dec5_0200z + minute) +
                         run_end_line(5, dec5_0200z + 2 * minute));
    auto gaps = issues_of(l.issues, IssueKind::seq_gap);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0]->line == 3);
    CHECK_THAT(gaps[0]->message, Contains("from 1 to 4") && Contains("2 record(s) missing"));
    CHECK(l.issues.size() == 1);
    CHECK(l.windows.size() == 1);
  }
  SECTION("reordered and duplicated lines") {
    Ledger l = read_text(header_line() + heartbeat_line(2, dec5_0200z) + heartbeat_line(1, dec5_0200z) +
                         heartbeat_line(3, dec5_0200z) + heartbeat_line(3, dec5_0200z) +
                         run_end_line(4, dec5_0200z + 2 * minute));
    INFO(all_issues(l.issues));
    auto gaps = issues_of(l.issues, IssueKind::seq_gap);
    auto disorder = issues_of(l.issues, IssueKind::seq_disorder);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0]->line == 2);
    REQUIRE(disorder.size() == 2);
    CHECK(disorder[0]->line == 3);
    CHECK_THAT(disorder[0]->message, Contains("seq 1 comes after seq 2"));
    CHECK(disorder[1]->line == 5);
    CHECK(l.heartbeats == 4);
  }
  SECTION("lost lines before the first") {
    Ledger l = read_text(start_line(7, id_a, "qs-sensor-001", dec5_0200z));
    auto gaps = issues_of(l.issues, IssueKind::seq_gap);
    REQUIRE(gaps.size() == 1);
    CHECK_THAT(gaps[0]->message, Contains("first seq is 7"));
  }
}

TEST_CASE("ledger reader: headers", "[ledger][reader]") {
  SECTION("missing") {
    Ledger l = read_text(start_line(0, id_a, "qs-sensor-001", dec5_0200z) +
                         end_line(1, id_a, "qs-sensor-001", dec5_0200z + minute) + run_end_line(2, dec5_0200z));
    CHECK_FALSE(l.header);
    auto missing = issues_of(l.issues, IssueKind::missing_header);
    REQUIRE(missing.size() == 1);
    CHECK(missing[0]->line == 1);
    CHECK(l.windows.size() == 1);  // the records are still used
    CHECK_FALSE(l.clean());
  }
  SECTION("empty file") {
    Ledger l = read_text("");
    REQUIRE(l.issues.size() == 1);
    CHECK(l.issues[0].kind == IssueKind::missing_header);
    CHECK_THAT(l.issues[0].message, Contains("empty"));
  }
  SECTION("a second header") {
    Ledger l = read_text(header_line() + header_line(1) + run_end_line(2, dec5_0200z));
    auto misplaced = issues_of(l.issues, IssueKind::misplaced_header);
    REQUIRE(misplaced.size() == 1);
    CHECK(misplaced[0]->line == 2);
  }
  SECTION("a newer schema is an error") {
    auto l = read_ledger_text(header_line(0, 2) + run_end_line(1, dec5_0200z), "new.jsonl");
    REQUIRE_FALSE(l.has_value());
    CHECK_THAT(l.error(), Contains("new.jsonl:1") && Contains("schema 2") && Contains("newer fleetsim"));
  }
  SECTION("a header without a schema is skipped") {
    Ledger l = read_text(R"({"type":"header","seq":0,"run_id":"x"})" "\n" + run_end_line(1, dec5_0200z));
    CHECK_FALSE(l.header);
    auto invalid = issues_of(l.issues, IssueKind::invalid_record);
    REQUIRE(invalid.size() == 1);
    CHECK_THAT(invalid[0]->message, Contains("'schema' is missing"));
  }
}

TEST_CASE("ledger reader: forward compatibility and malformed records", "[ledger][reader]") {
  SECTION("unknown record types and fields are skipped") {
    std::string start = start_line(2, id_a, "qs-sensor-001", dec5_0200z);
    start.insert(start.size() - 2, R"(,"future_field":{"x":1})");
    Ledger l = read_text(header_line() + R"({"type":"checkpoint","seq":1,"what":"ever"})" "\n" + start +
                         end_line(3, id_a, "qs-sensor-001", dec5_0200z + minute, "disconnected") +
                         run_end_line(4, dec5_0200z + minute));
    INFO(all_issues(l.issues));
    auto unknown = issues_of(l.issues, IssueKind::unknown_type);
    REQUIRE(unknown.size() == 1);
    CHECK(unknown[0]->line == 2);
    CHECK_THAT(unknown[0]->message, Contains("'checkpoint'"));
    auto reason = issues_of(l.issues, IssueKind::unknown_reason);
    REQUIRE(reason.size() == 1);
    CHECK_THAT(reason[0]->message, Contains("'disconnected'"));
    REQUIRE(l.windows.size() == 1);
    CHECK(l.windows[0].end_ms == dec5_0200z + minute);
    CHECK_FALSE(l.windows[0].end_reason.has_value());
    CHECK(l.issues.size() == 2);
    CHECK(l.clean());
  }
  SECTION("required fields missing: skipped; optional ones malformed: kept") {
    Ledger l = read_text(header_line() + R"({"type":"anomaly_start","seq":1,"id":"x","anomaly":"a","t_ms":5})" "\n" +
                         R"({"type":"anomaly_start","seq":2,"id":"y","anomaly":"a","thing":"t","t":"2026-12-05T02:00:00Z","strength_value":"big"})" "\n" +
                         R"({"seq":3})" "\n" + run_end_line(4, dec5_0200z));
    INFO(all_issues(l.issues));
    auto invalid = issues_of(l.issues, IssueKind::invalid_record);
    REQUIRE(invalid.size() == 3);
    CHECK(invalid[0]->line == 2);
    CHECK_THAT(invalid[0]->message, Contains("skipped") && Contains("'thing' is missing"));
    CHECK(invalid[1]->line == 3);
    CHECK(invalid[1]->severity == Issue::Severity::warning);
    CHECK_THAT(invalid[1]->message, Contains("kept") && Contains("'strength_value' is not a number"));
    CHECK(invalid[2]->line == 4);
    CHECK_THAT(invalid[2]->message, Contains("no 'type'"));
    REQUIRE(l.windows.size() == 1);
    CHECK(l.windows[0].id == "y");
    CHECK(l.windows[0].start_ms == dec5_0200z);  // from `t` when `t_ms` is absent
  }
  SECTION("an end that disagrees with its start") {
    Ledger l = read_text(header_line() + start_line(1, id_a, "qs-sensor-001", dec5_0200z) +
                         end_line(2, id_a, "qs-sensor-009", dec5_0200z - minute) + run_end_line(3, dec5_0200z));
    auto bad = issues_of(l.issues, IssueKind::inconsistent_end);
    REQUIRE(bad.size() == 2);
    CHECK_THAT(bad[0]->message, Contains("qs-sensor-009"));
    CHECK_THAT(bad[1]->message, Contains("before it starts"));
  }
  SECTION("records after the run_end") {
    Ledger l = read_text(header_line() + run_end_line(1, dec5_0200z) + heartbeat_line(2, dec5_0200z) +
                         heartbeat_line(3, dec5_0200z));
    auto after = issues_of(l.issues, IssueKind::record_after_run_end);
    REQUIRE(after.size() == 1);
    CHECK(after[0]->line == 3);
    CHECK(l.heartbeats == 2);
  }
  SECTION("CRLF line ends are accepted") {
    std::string text = header_line() + run_end_line(1, dec5_0200z);
    std::string crlf;
    for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    Ledger l = read_text(crlf);
    INFO(all_issues(l.issues));
    CHECK(l.issues.empty());
  }
}

TEST_CASE("ledger reader: files", "[ledger][reader]") {
  test::TempDir dir;
  auto missing = read_ledger(fs::path(dir.path()) / "nope.jsonl");
  REQUIRE_FALSE(missing.has_value());
  CHECK_THAT(missing.error(), Contains("nope.jsonl") && Contains("No such file"));

  fs::path p = dir.write("l.jsonl", header_line() + run_end_line(1, dec5_0200z));
  Ledger l = read(p);
  CHECK(l.file == p.string());
  CHECK(l.issues.empty());
  CHECK(format_issue({IssueKind::seq_gap, Issue::Severity::error, "f.jsonl", 3, "m"}) == "f.jsonl:3: error: m");
  CHECK(format_issue({IssueKind::missing_run_end, Issue::Severity::warning, "f.jsonl", 0, "m"}) == "f.jsonl: warning: m");
  CHECK(to_string(IssueKind::open_window) == "open_window");
}

//----------------------------------------------------------------------------------------------------
// Crash safety and concurrency

namespace {

// The child's side of the kill -9 test: write records as fast as possible until killed. Only
// async-signal-safe-ish, Catch-free code here; the child never returns.
[[noreturn]] void write_until_killed(const fs::path& path, int ready_fd) {
  auto w = LedgerWriter::open(path, sample_header(), {.sync = false});
  if (!w) ::_exit(2);
  char ok = 'x';
  if (::write(ready_fd, &ok, 1) != 1) ::_exit(3);
  ::close(ready_fd);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string filler;
  for (std::uint64_t i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    std::string thing = "qs-sensor-" + std::to_string(i % 1000);
    std::error_code ec;
    switch (i % 3) {
      case 0: ec = (*w)->anomaly_start(sample_start("flood", i, thing, dec5_0200z + static_cast<EpochMillis>(i))); break;
      case 1:
        ec = (*w)->anomaly_end({make_anomaly_id("flood", i - 1, thing.substr(0, 10) + std::to_string((i - 1) % 1000)),
                                "qs-sensor-" + std::to_string((i - 1) % 1000), "flood",
                                dec5_0200z + static_cast<EpochMillis>(i), EndReason::completed});
        break;
      default:
        // Now and then a line of a few pages, so a kill can land inside a write(2).
        filler.assign(i % 9 == 2 ? (i * 7919) % (12 * 1024) : 0, 'z');
        ec = (*w)->heartbeat(dec5_0200z + static_cast<EpochMillis>(i), json{{"i", i}, {"filler", filler}});
    }
    if (ec) ::_exit(4);
  }
  ::_exit(0);
}

}  // namespace

TEST_CASE("ledger: kill -9 tears at most the last line", "[ledger][crash]") {
  test::TempDir dir;
  Rng rng(20261205);
  int torn_seen = 0;
  for (int round = 0; round < 8; ++round) {
    fs::path path = fs::path(dir.path()) / ("killed-" + std::to_string(round) + ".jsonl");
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(ready[0]);
      write_until_killed(path, ready[1]);
    }
    ::close(ready[1]);
    char c = 0;
    ssize_t n = ::read(ready[0], &c, 1);
    ::close(ready[0]);
    // Let it write for 1–10 ms (each round different), then kill it mid-stride.
    std::this_thread::sleep_for(std::chrono::microseconds(1000 + rng.below(9'000)));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(n == 1);  // the child got as far as writing the header
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);

    std::string text = slurp(path);
    auto lines = split_lines(text);
    bool terminated = !text.empty() && text.back() == '\n';
    INFO("round " << round << ": " << lines.size() << " lines, " << text.size() << " bytes");
    REQUIRE(lines.size() >= 1);
    // Every complete line is a valid record, in seq order, with nothing interleaved.
    std::size_t complete = terminated ? lines.size() : lines.size() - 1;
    for (std::size_t i = 0; i < complete; ++i) {
      auto j = json::parse(lines[i], nullptr, false);
      INFO("line " << i + 1);
      REQUIRE(j.is_object());
      REQUIRE(j.at("seq") == i);
    }
    Ledger l = read(path);
    INFO(all_issues(l.issues));
    CHECK(l.clean());
    REQUIRE(l.header);
    for (const Issue& issue : l.issues) {
      bool expected = issue.kind == IssueKind::torn_last_line || issue.kind == IssueKind::open_window ||
                      issue.kind == IssueKind::missing_run_end;
      CHECK(expected);
      if (issue.kind == IssueKind::torn_last_line) {
        CHECK(issue.line == lines.size());
        ++torn_seen;
      }
    }
    CHECK(issues_of(l.issues, IssueKind::torn_last_line).size() == (terminated ? 0u : 1u));
    CHECK(l.records == complete);
  }
  // Whether the kernel cuts a write depends on timing; a torn tail is allowed, never required.
  INFO("torn last lines seen: " << torn_seen << " of 8 kills");
  SUCCEED();
}

TEST_CASE("ledger: concurrent writers produce whole lines with unique seqs", "[ledger][threads]") {
  test::TempDir dir;
  fs::path path = fs::path(dir.path()) / "ledger.jsonl";
  auto w = open_writer(path, sample_header(), {.sync = false});
  constexpr int threads = 4;
  constexpr int pairs = 100;
  constexpr int beats = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < pairs; ++i) {
        std::string thing = "thing-" + std::to_string(t) + "-" + std::to_string(i);
        EpochMillis at = dec5_0200z + i * minute;
        if (w->anomaly_start(sample_start("flood", 0, thing, at))) ++failures;
        if (i < beats && w->heartbeat(at, json{{"worker", t}, {"i", i}})) ++failures;
        if (w->anomaly_end({make_anomaly_id("flood", 0, thing), thing, "flood", at + minute, EndReason::completed}))
          ++failures;
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(failures == 0);
  REQUIRE_FALSE(w->run_end({dec5_0200z + 200 * minute, RunEndReason::completed}));
  w.reset();

  constexpr std::size_t expected = 1 + threads * (2 * pairs + beats) + 1;
  auto lines = split_lines(slurp(path));
  REQUIRE(lines.size() == expected);
  std::set<std::uint64_t> seqs;
  for (const auto& line : lines) {
    auto j = json::parse(line, nullptr, false);
    REQUIRE(j.is_object());
    seqs.insert(j.at("seq").get<std::uint64_t>());
  }
  CHECK(seqs.size() == expected);
  CHECK(*seqs.rbegin() == expected - 1);

  Ledger l = read(path);
  INFO(all_issues(l.issues));
  CHECK(l.issues.empty());  // in particular: seq in file order, no gaps
  CHECK(l.windows.size() == threads * pairs);
  CHECK(std::none_of(l.windows.begin(), l.windows.end(), [](const Window& w) { return w.open(); }));
  CHECK(l.heartbeats == threads * beats);
}

TEST_CASE("ledger: after a failed partial write only the torn line is lost", "[ledger][crash]") {
  // A file-size limit makes write(2) stop mid-line, as a full disk would. In a child, so the limit
  // stays there.
  test::TempDir dir;
  fs::path path = fs::path(dir.path()) / "ledger.jsonl";
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    auto w = LedgerWriter::open(path, sample_header(), {.sync = false});
    if (!w) ::_exit(10);
    struct rlimit limit {};
    if (::getrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(11);
    rlim_t before = limit.rlim_cur;
    limit.rlim_cur = static_cast<rlim_t>(fs::file_size(path) + 100);
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(11);
    if ((*w)->heartbeat(dec5_0200z, json{{"filler", std::string(1000, 'z')}}) != std::errc::file_too_large) ::_exit(12);
    limit.rlim_cur = before;
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(13);
    if ((*w)->run_end({dec5_0200z + minute, RunEndReason::completed})) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  auto lines = split_lines(slurp(path));
  REQUIRE(lines.size() == 3);
  CHECK(lines[1].size() == 100);  // the fragment, ended by the next record's leading newline
  Ledger l = read(path);
  INFO(all_issues(l.issues));
  REQUIRE(l.issues.size() == 2);
  CHECK(l.issues[0].kind == IssueKind::unparsable_line);
  CHECK(l.issues[0].line == 2);
  CHECK(l.issues[1].kind == IssueKind::seq_gap);  // the failed record used seq 1
  CHECK(l.issues[1].line == 3);
  REQUIRE(l.run_end);
  CHECK(l.run_end->t_ms == dec5_0200z + minute);
}

//----------------------------------------------------------------------------------------------------
// Merging shards

namespace {

fs::path write_shard(const std::string& dir, ShardId shard, const Header& base,
                     const std::vector<std::pair<std::string, EpochMillis>>& things) {
  Header h = base;
  h.shard = shard;
  fs::path path = default_ledger_path(dir, shard);
  auto w = open_writer(path, h, {.sync = false});
  for (const auto& [thing, at] : things) {
    REQUIRE_FALSE(w->anomaly_start(sample_start("flood", 0, thing, at)));
    REQUIRE_FALSE(w->anomaly_end({make_anomaly_id("flood", 0, thing), thing, "flood", at + minute, EndReason::completed}));
  }
  REQUIRE_FALSE(w->heartbeat(dec5_0200z + 30 * minute + shard.index, json::object()));
  REQUIRE_FALSE(w->run_end({dec5_0200z + 60 * minute, RunEndReason::completed}));
  return path;
}

}  // namespace

TEST_CASE("ledger: merging shards", "[ledger][merge]") {
  test::TempDir dir;
  Header base = sample_header();

  SECTION("two matching shards: windows concatenated and sorted by start") {
    std::vector<fs::path> paths{
        write_shard(dir.path(), {0, 2}, base, {{"t-000", dec5_0200z + 3 * minute}, {"t-002", dec5_0200z + minute}}),
        write_shard(dir.path(), {1, 2}, base, {{"t-001", dec5_0200z + 2 * minute}, {"t-003", dec5_0200z + minute}})};
    CHECK(paths[1].filename() == "ledger-shard-1-of-2.jsonl");
    auto m = read_ledgers(paths);
    REQUIRE(m.has_value());
    INFO(all_issues(m->issues));
    CHECK(m->issues.empty());
    CHECK(m->clean());
    REQUIRE(m->shards.size() == 2);
    CHECK(m->shards[0].windows.empty());  // moved into the merged list
    REQUIRE(m->windows.size() == 4);
    std::vector<std::string> order;
    for (const auto& w : m->windows) order.push_back(w.thing);
    CHECK(order == std::vector<std::string>{"t-002", "t-003", "t-001", "t-000"});
    CHECK(m->windows[1].file == paths[1].string());
    CHECK(m->heartbeats == 2);
    CHECK(m->last_heartbeat_ms == dec5_0200z + 30 * minute + 1);
  }
  SECTION("mismatched scenario, seed and clock are reported") {
    Header other = base;
    other.seed = 43;
    other.scenario.sha256 = std::string(64, 'b');
    other.start_ms += minute;
    other.time_scale = 30;
    std::vector<fs::path> paths{write_shard(dir.path(), {0, 2}, base, {{"t-000", dec5_0200z}}),
                                write_shard(dir.path(), {1, 2}, other, {{"t-001", dec5_0200z}})};
    auto m = read_ledgers(paths);
    REQUIRE(m.has_value());
    auto mismatches = issues_of(m->issues, IssueKind::shard_mismatch);
    INFO(all_issues(m->issues));
    REQUIRE(mismatches.size() == 4);
    CHECK(mismatches[0]->file == paths[1].string());
    CHECK_THAT(mismatches[0]->message, Contains("sha256") && Contains(paths[0].string()));
    CHECK_THAT(mismatches[1]->message, Contains("seed 43 differs from 18446744073709551557"));
    CHECK_THAT(mismatches[2]->message, Contains("clock start 2026-12-05T02:01:00Z"));
    CHECK_THAT(mismatches[3]->message, Contains("time_scale 30 differs from 60"));
    CHECK_FALSE(m->clean());
    CHECK(m->windows.size() == 2);  // still merged: the user decides
  }
  SECTION("missing, repeated and disagreeing shards") {
    fs::path s0 = write_shard(dir.path(), {0, 3}, base, {{"t-000", dec5_0200z}});
    fs::path s2 = write_shard(dir.path(), {2, 3}, base, {{"t-000", dec5_0200z}});  // same thing on two shards
    fs::path copy = fs::path(dir.path()) / "copy.jsonl";
    fs::copy_file(s0, copy);
    fs::path four = write_shard(dir.path(), {3, 4}, base, {});
    std::vector<fs::path> paths{s0, s2, copy, four};
    auto m = read_ledgers(paths);
    REQUIRE(m.has_value());
    INFO(all_issues(m->issues));
    auto missing = issues_of(m->issues, IssueKind::missing_shard);
    REQUIRE(missing.size() == 1);
    CHECK_THAT(missing[0]->message, Contains("shard 1/3 missing"));
    auto dup_shard = issues_of(m->issues, IssueKind::duplicate_shard);
    REQUIRE(dup_shard.size() == 1);
    CHECK(dup_shard[0]->file == copy.string());
    CHECK_THAT(dup_shard[0]->message, Contains("0/3 is given twice"));
    auto dup_ids = issues_of(m->issues, IssueKind::duplicate_id);
    REQUIRE(dup_ids.size() == 2);  // s2's and the copy's t-000
    CHECK_THAT(dup_ids[0]->message, Contains("flood#0@t-000") && Contains("two shards"));
    auto count = issues_of(m->issues, IssueKind::shard_mismatch);
    REQUIRE(count.size() == 1);
    CHECK_THAT(count[0]->message, Contains("shard count 4 differs from 3"));
  }
  SECTION("a file that cannot be read fails the merge") {
    std::vector<fs::path> paths{write_shard(dir.path(), {0, 2}, base, {}), fs::path(dir.path()) / "absent.jsonl"};
    auto m = read_ledgers(paths);
    REQUIRE_FALSE(m.has_value());
    CHECK_THAT(m.error(), Contains("absent.jsonl"));
  }
  SECTION("each shard's own issues are carried over") {
    fs::path s0 = write_shard(dir.path(), {0, 2}, base, {});
    fs::path s1 = dir.write("ledger-shard-1-of-2.jsonl", "garbage\n" + header_line(1));
    auto m = read_ledgers(std::vector<fs::path>{s0, s1});
    REQUIRE(m.has_value());
    INFO(all_issues(m->issues));
    REQUIRE_FALSE(issues_of(m->issues, IssueKind::unparsable_line).empty());
    CHECK(issues_of(m->issues, IssueKind::unparsable_line)[0]->file == s1.string());
  }
}

#pragma once
// The ground-truth ledger: what the simulator injected, when, where and how strongly, written as it
// happens to an append-only JSON Lines file that the reconciliation harness (or anyone) reads back.
//
// ## The ledger file format (schema 1)
//
// A ledger is a UTF-8 text file of JSON Lines: one JSON object per line, each line ended by "\n".
// One file per run and per shard: `<run dir>/ledger.jsonl`, or `<run dir>/ledger-shard-I-of-N.jsonl`
// for shard I/N of a sharded run (I counts from 0). Files are append-only and never overwritten.
//
// Every record has:
//   type      string   the record type (below)
//   seq       integer  0 for the header, then +1 per record in this file; a gap means lost lines,
//                      a step back means reordered or duplicated lines
// Times: `t` is RFC 3339 UTC scenario time (e.g. "2026-12-05T02:00:00.250Z"); `t_ms` is the same
// instant in milliseconds since the Unix epoch. Both are written; readers should prefer `t_ms`.
// Scenario time runs `clock.time_scale` times faster than the wall clock.
//
// type "header" — always the first line
//   schema      integer  1; a reader refuses files with a newer schema
//   tool        string   "fleetsim <version>"
//   run_id      string   identifies the run (shared by all shards of one run)
//   scenario    object   {name: string, file: string, sha256: string (lower-case hex of the file)}
//   seed        integer  the run's seed (unsigned 64-bit)
//   shard       string   "I/N", e.g. "0/1" for an unsharded run
//   clock       object   {time_scale: number, start: RFC 3339, start_ms: integer}  (scenario start)
//   target      string   where the fleet connected, e.g. "local", "aws:iot.eu-west-1", "mqtt://host:1883"
//   written_at  string   RFC 3339 wall-clock time the file was created
//
// type "anomaly_start" — an anomaly begins on one thing
//   id                   string   unique per anomaly occurrence per thing: "<anomaly>#<occurrence>@<thing>",
//                                 e.g. "flood#0@qs-sensor-002"
//   anomaly              string   the anomaly's name in the scenario
//   kind                 string   the anomaly kind, e.g. "message-flood"
//   occurrence           integer  0 for a one-off, n for the n-th recurrence
//   thing                string   thing name (= MQTT client id)
//   primary_metrics      [string] Device Defender metrics it is meant to move
//   side_effect_metrics  [string] metrics it moves as a consequence
//   strength             string   as written in the scenario, e.g. "x20", "2KiB", "30%"
//   strength_value       number   the strength as a number in its canonical unit (x20 → 20, 2KiB → 2048)
//   mode                 string   kind-specific mode, "" when the kind has none
//   t, t_ms                       when it started (scenario time)
//   planned_end_ms       integer  when it is scheduled to end (scenario time)
//
// type "anomaly_end" — the anomaly with this id stopped affecting the thing
//   id, thing, anomaly            as in its anomaly_start
//   t, t_ms                       when it ended (scenario time)
//   reason               string   "completed": it ran to its planned end;
//                                 "stopped": the run was stopped (signal, shutdown) before that.
//                                 Readers must accept other values (future versions may add some).
//
// type "heartbeat" — the run is alive; written periodically
//   t, t_ms
//   stats                object   free-form counters from the engine (things connected, messages sent, ...)
//
// type "run_end" — the last line of a run that ended in an orderly way
//   t, t_ms
//   reason               string   "completed" | "stopped" (by a signal) | "failed"
//
// Crash behaviour: each line is written with a single write(2) as it happens, and the file is
// fdatasync'ed after the header, every anomaly_start/anomaly_end and the run_end. A killed process can
// therefore leave at most a torn (unterminated) last line; a machine crash loses at most heartbeats.
// An anomaly_start with no anomaly_end means the run died while the anomaly was active.
// Readers must skip (and may report) record types and fields they do not know.
//
// Example:
//   {"type":"header","seq":0,"schema":1,"tool":"fleetsim 0.1.0","run_id":"r1","scenario":{"name":"quickstart",
//    "file":"scenarios/quickstart.yaml","sha256":"9f86…"},"seed":42,"shard":"0/1","clock":{"time_scale":60.0,
//    "start":"2026-12-05T02:00:00Z","start_ms":1796436000000},"target":"local","written_at":"2025-01-01T10:00:00Z"}
//   {"type":"anomaly_start","seq":1,"id":"flood#0@qs-sensor-002","anomaly":"flood","kind":"message-flood",
//    "occurrence":0,"thing":"qs-sensor-002","primary_metrics":["aws:num-messages-sent"],"side_effect_metrics":[],
//    "strength":"x20","strength_value":20.0,"mode":"","t":"2026-12-05T02:10:00Z","t_ms":1796436600000,
//    "planned_end_ms":1796436900000}
//   {"type":"anomaly_end","seq":2,"id":"flood#0@qs-sensor-002","thing":"qs-sensor-002","anomaly":"flood",
//    "t":"2026-12-05T02:15:00Z","t_ms":1796436900000,"reason":"completed"}
//   {"type":"run_end","seq":3,"t":"2026-12-05T03:00:00Z","t_ms":1796439600000,"reason":"completed"}
// (each record is on one line in the file; wrapped here for reading)

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/expected.hpp"
#include "sim/core/time.hpp"

namespace fleetsim::ledger {

/// The schema this code writes, and the newest it reads.
inline constexpr int schema_version = 1;

//----------------------------------------------------------------------------------------------------
// Records

/// Shard I of N (I from 0), written "I/N".
struct ShardId {
  unsigned index = 0;
  unsigned count = 1;
  std::string to_string() const { return std::to_string(index) + "/" + std::to_string(count); }
  friend bool operator==(const ShardId&, const ShardId&) = default;
};
/// "I/N" with I < N and N ≥ 1.
Expected<ShardId> parse_shard_id(std::string_view text);

struct ScenarioRef {
  std::string name;
  std::string file;
  std::string sha256;  ///< lower-case hex SHA-256 of the scenario file
};

struct Header {
  int schema = schema_version;
  std::string tool;     ///< empty: the writer fills in "fleetsim <version>"
  std::string run_id;
  ScenarioRef scenario;
  std::uint64_t seed = 0;
  ShardId shard;
  double time_scale = 1.0;
  EpochMillis start_ms = 0;      ///< scenario start (scenario time)
  std::string target;
  EpochMillis written_at_ms = 0; ///< wall clock; 0: the writer uses the system clock when it writes the header
};

/// "<anomaly>#<occurrence>@<thing>", e.g. "flood#0@qs-sensor-002".
std::string make_anomaly_id(std::string_view anomaly, std::uint64_t occurrence, std::string_view thing);

struct AnomalyStart {
  std::string id;  ///< empty: the writer uses make_anomaly_id(anomaly, occurrence, thing)
  std::string anomaly;
  std::string kind;
  std::uint64_t occurrence = 0;
  std::string thing;
  std::vector<std::string> primary_metrics;
  std::vector<std::string> side_effect_metrics;
  std::string strength;       ///< as written, e.g. "x20"
  double strength_value = 0;  ///< e.g. 20
  std::string mode;
  EpochMillis t_ms = 0;
  EpochMillis planned_end_ms = 0;
};

/// Why an anomaly ended.
enum class EndReason {
  completed,  ///< it ran to its planned end
  stopped,    ///< the run was stopped (signal, shutdown) while it was active
};
std::string_view to_string(EndReason r);
std::optional<EndReason> parse_end_reason(std::string_view text);

struct AnomalyEnd {
  std::string id;
  std::string thing;
  std::string anomaly;
  EpochMillis t_ms = 0;
  EndReason reason = EndReason::completed;
};

/// Why the run ended.
enum class RunEndReason {
  completed,  ///< the scenario ran to its end
  stopped,    ///< stopped by a signal or on request
  failed,     ///< a runtime failure ended it
};
std::string_view to_string(RunEndReason r);
std::optional<RunEndReason> parse_run_end_reason(std::string_view text);

struct RunEnd {
  EpochMillis t_ms = 0;
  RunEndReason reason = RunEndReason::completed;
};

/// `<dir>/ledger.jsonl` for an unsharded run (count ≤ 1), `<dir>/ledger-shard-I-of-N.jsonl` otherwise.
std::filesystem::path default_ledger_path(const std::filesystem::path& run_dir, ShardId shard = {});

//----------------------------------------------------------------------------------------------------
// Writer

struct WriterOptions {
  /// fdatasync after the header, anomaly_start/anomaly_end and run_end (and fsync the directory once
  /// the file is created). Turn off only for benchmarks and tests.
  bool sync = true;
};

/// Appends records to a new ledger file. Each record is one write(2) of one complete line, made when
/// the call is made (no user-space buffering). All member functions are thread-safe (one mutex; this
/// is not on the publish hot path). After open, nothing throws (except std::bad_alloc): failures
/// come back as std::error_code (errno values, std::generic_category).
///
/// A failed write consumes its seq, so a reader sees the gap; if it left part of a line in the file,
/// the next record starts with a newline so that only the torn line is lost.
/// The writer never writes a run_end by itself: call run_end() before the writer goes away.
class LedgerWriter {
 public:
  /// Creates `path` (never overwrites an existing file; mode 0644 less the umask) and writes the header.
  /// The parent directory must exist. On failure the message names the path and says what to do.
  static Expected<std::unique_ptr<LedgerWriter>> open(const std::filesystem::path& path, const Header& header,
                                                      WriterOptions options = {});
  ~LedgerWriter();
  LedgerWriter(const LedgerWriter&) = delete;
  LedgerWriter& operator=(const LedgerWriter&) = delete;

  /// invalid_argument when id (after defaulting) or thing is empty.
  std::error_code anomaly_start(const AnomalyStart& r);
  /// invalid_argument when id is empty.
  std::error_code anomaly_end(const AnomalyEnd& r);
  /// `stats` must be an object (or null, written as {}); otherwise invalid_argument. Not synced.
  std::error_code heartbeat(EpochMillis t_ms, const nlohmann::json& stats);
  std::error_code run_end(const RunEnd& r);

  /// Closes the file; later calls return bad_file_descriptor. Idempotent; the destructor calls it.
  std::error_code close();

  const std::filesystem::path& path() const { return path_; }
  /// The seq the next record will get (= records written or attempted, header included).
  std::uint64_t next_seq() const;

 private:
  LedgerWriter(std::filesystem::path path, int fd, WriterOptions options);
  // Stamps `seq`, serialises and writes one line; syncs when `sync` and options_.sync.
  std::error_code append(nlohmann::ordered_json& record, bool sync);

  std::filesystem::path path_;
  WriterOptions options_;
  mutable std::mutex mutex_;
  int fd_ = -1;                 // guarded by mutex_
  std::uint64_t seq_ = 0;       // guarded by mutex_
  bool torn_ = false;           // guarded by mutex_: the last write left an unterminated fragment
};

//----------------------------------------------------------------------------------------------------
// Reader

/// Something wrong or suspicious found while reading; the reader keeps going.
enum class IssueKind {
  torn_last_line,       ///< the last line is unterminated or unparsable (the writer was killed mid-line)
  unparsable_line,      ///< a line that is not a JSON object (skipped)
  invalid_record,       ///< a required field missing or of the wrong type (record skipped), or an optional one (kept)
  unknown_type,         ///< a record type this reader does not know (skipped; forward compatible)
  missing_header,       ///< the first record is not a header
  misplaced_header,     ///< a second header, or one after other records (skipped)
  seq_gap,              ///< seq jumped forward: records were lost
  seq_disorder,         ///< seq went back or repeated: records were reordered or duplicated
  open_window,          ///< anomaly_start without anomaly_end (kept as an open window)
  end_without_start,    ///< anomaly_end whose id was never started (skipped)
  duplicate_id,         ///< a second anomaly_start (or anomaly_end) for the same id (skipped)
  inconsistent_end,     ///< anomaly_end disagrees with its start (thing, anomaly) or ends before it starts
  unknown_reason,       ///< an end reason this reader does not know (kept, reason left empty)
  record_after_run_end, ///< records follow the run_end (kept)
  missing_run_end,      ///< no run_end: the run is still going, or was killed
  shard_mismatch,       ///< merge: shards disagree on scenario sha256, seed, clock or shard count
  duplicate_shard,      ///< merge: the same shard index given twice
  missing_shard,        ///< merge: not every shard of N is present
};
std::string_view to_string(IssueKind k);

struct Issue {
  enum class Severity { warning, error };
  IssueKind kind{};
  Severity severity = Severity::warning;
  std::string file;       ///< path, or the name given to read_ledger_text
  std::size_t line = 0;   ///< 1-based; 0 when it concerns the whole file
  std::string message;
};
/// "file:line: warning: message" (":line" left out when 0).
std::string format_issue(const Issue& issue);

/// An anomaly occurrence on one thing, from its anomaly_start and (if found) its anomaly_end.
struct Window {
  std::string id;
  std::string thing;
  std::string anomaly;
  std::string kind;
  std::uint64_t occurrence = 0;
  std::vector<std::string> primary_metrics;
  std::vector<std::string> side_effect_metrics;
  std::string strength;
  double strength_value = 0;
  std::string mode;
  EpochMillis start_ms = 0;
  EpochMillis planned_end_ms = 0;
  std::optional<EpochMillis> end_ms;      ///< empty: no anomaly_end (open window)
  std::optional<EndReason> end_reason;    ///< empty when open or when the reason was not understood
  std::string file;                        ///< which ledger it came from
  std::size_t line = 0;                    ///< line of its anomaly_start
  bool open() const { return !end_ms.has_value(); }
};

struct Ledger {
  std::string file;
  std::optional<Header> header;
  std::vector<Window> windows;             ///< in the order of their anomaly_start lines
  std::uint64_t heartbeats = 0;
  std::optional<EpochMillis> last_heartbeat_ms;
  nlohmann::json last_stats;               ///< stats of the last heartbeat (null if none)
  std::optional<RunEnd> run_end;           ///< reason completed when the value was not understood
  std::size_t lines = 0;                   ///< lines in the file, torn last line included
  std::size_t records = 0;                 ///< records accepted
  std::vector<Issue> issues;               ///< in line order; whole-file issues (line 0) last
  /// True when no issue has severity error.
  bool clean() const;
};

/// Reads a ledger file. Fails only when the file cannot be read or declares a newer schema; every
/// other problem is reported in Ledger::issues and the rest of the file is used.
Expected<Ledger> read_ledger(const std::filesystem::path& path);
/// The same, from the file's text; `name` is used in issues.
Expected<Ledger> read_ledger_text(std::string_view text, std::string name = "<ledger>");

/// Several shards of one run read as one.
struct MergedLedger {
  std::vector<Ledger> shards;   ///< the inputs, as given (their windows moved into `windows`)
  std::vector<Window> windows;  ///< all windows, by start_ms, then thing, then id
  std::vector<Issue> issues;    ///< every shard's issues, then the cross-shard ones
  std::uint64_t heartbeats = 0;
  std::optional<EpochMillis> last_heartbeat_ms;
  bool clean() const;
};

/// Merges shards' ledgers. Checks they share scenario sha256, seed, clock (start and time scale) and
/// shard count, that no shard index repeats and none is missing, and that no window id repeats across
/// shards; each finding is an issue, never a failure.
MergedLedger merge_ledgers(std::vector<Ledger> shards);
/// read_ledger on each path, then merge_ledgers; fails if any file cannot be read.
Expected<MergedLedger> read_ledgers(std::span<const std::filesystem::path> paths);

}  // namespace fleetsim::ledger

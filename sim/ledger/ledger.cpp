#include "sim/ledger/ledger.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <tuple>
#include <utility>

namespace fleetsim::ledger {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

std::error_code errno_code(int e) { return {e, std::generic_category()}; }

std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

EpochMillis wall_clock_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Writes all of `bytes` with as few write(2) calls as the kernel allows (one, normally): a partial
// write or EINTR continues with the remainder. `written` says how much reached the file.
std::error_code write_all(int fd, std::string_view bytes, std::size_t& written) {
  written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_code(errno);
    }
    if (n == 0) return errno_code(EIO);  // a regular file never does this; do not spin
    written += static_cast<std::size_t>(n);
  }
  return {};
}

std::error_code sync_fd(int fd) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return errno_code(errno);
  }
  return {};
}

// Makes the new file's directory entry durable. Best effort: some file systems refuse fsync on a
// directory, and the records themselves are synced anyway.
void sync_directory(const std::filesystem::path& file) {
  std::filesystem::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  while (::fsync(fd) != 0 && errno == EINTR) {
  }
  ::close(fd);
}

// A record with `type` and `seq` first, so lines read well; seq is stamped under the writer's lock.
ordered_json begin_record(const char* type) {
  ordered_json r = ordered_json::object();
  r["type"] = type;
  r["seq"] = 0;
  return r;
}

void put_time(ordered_json& r, EpochMillis t_ms) {
  r["t"] = format_rfc3339(t_ms);
  r["t_ms"] = t_ms;
}

}  // namespace

//----------------------------------------------------------------------------------------------------
// Records

Expected<ShardId> parse_shard_id(std::string_view text) {
  auto bad = [&] { return unexpected("'" + std::string(text) + "' is not a shard; write I/N with 0 <= I < N, e.g. 0/4"); };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad();
  unsigned index = 0, count = 0;
  auto a = std::from_chars(text.data(), text.data() + slash, index);
  auto b = std::from_chars(text.data() + slash + 1, text.data() + text.size(), count);
  if (slash == 0 || a.ec != std::errc() || a.ptr != text.data() + slash || b.ec != std::errc() ||
      b.ptr != text.data() + text.size() || slash + 1 == text.size())
    return bad();
  if (count == 0 || index >= count) return bad();
  return ShardId{index, count};
}

std::string make_anomaly_id(std::string_view anomaly, std::uint64_t occurrence, std::string_view thing) {
  std::string id(anomaly);
  id += '#';
  id += std::to_string(occurrence);
  id += '@';
  id += thing;
  return id;
}

std::string_view to_string(EndReason r) {
  switch (r) {
    case EndReason::completed: return "completed";
    case EndReason::stopped: return "stopped";
  }
  return "completed";
}

std::optional<EndReason> parse_end_reason(std::string_view text) {
  if (text == "completed") return EndReason::completed;
  if (text == "stopped") return EndReason::stopped;
  return std::nullopt;
}

std::string_view to_string(RunEndReason r) {
  switch (r) {
    case RunEndReason::completed: return "completed";
    case RunEndReason::stopped: return "stopped";
    case RunEndReason::failed: return "failed";
  }
  return "completed";
}

std::optional<RunEndReason> parse_run_end_reason(std::string_view text) {
  if (text == "completed") return RunEndReason::completed;
  if (text == "stopped") return RunEndReason::stopped;
  if (text == "failed") return RunEndReason::failed;
  return std::nullopt;
}

std::filesystem::path default_ledger_path(const std::filesystem::path& run_dir, ShardId shard) {
  if (shard.count <= 1) return run_dir / "ledger.jsonl";
  return run_dir / ("ledger-shard-" + std::to_string(shard.index) + "-of-" + std::to_string(shard.count) + ".jsonl");
}

//----------------------------------------------------------------------------------------------------
// Writer

LedgerWriter::LedgerWriter(std::filesystem::path path, int fd, WriterOptions options)
    : path_(std::move(path)), options_(options), fd_(fd) {}

LedgerWriter::~LedgerWriter() { close(); }

Expected<std::unique_ptr<LedgerWriter>> LedgerWriter::open(const std::filesystem::path& path, const Header& header,
                                                           WriterOptions options) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST)
      return unexpected("ledger " + quoted(path) +
                        " already exists; a ledger is never overwritten: write the run to a new directory, or move "
                        "the old ledger away");
    if (e == ENOENT)
      return unexpected("cannot create ledger " + quoted(path) + ": the directory " + quoted(path.parent_path()) +
                        " does not exist; create it first");
    return unexpected("cannot create ledger " + quoted(path) + ": " + std::strerror(e));
  }
  std::unique_ptr<LedgerWriter> w(new LedgerWriter(path, fd, options));

  ordered_json r = begin_record("header");
  r["schema"] = header.schema;
  r["tool"] = header.tool.empty() ? std::string("fleetsim " FLEETSIM_VERSION) : header.tool;
  r["run_id"] = header.run_id;
  r["scenario"] = {{"name", header.scenario.name}, {"file", header.scenario.file}, {"sha256", header.scenario.sha256}};
  r["seed"] = header.seed;
  r["shard"] = header.shard.to_string();
  r["clock"] = {{"time_scale", header.time_scale},
                {"start", format_rfc3339(header.start_ms)},
                {"start_ms", header.start_ms}};
  r["target"] = header.target;
  r["written_at"] = format_rfc3339(header.written_at_ms != 0 ? header.written_at_ms : wall_clock_now());
  if (auto ec = w->append(r, true)) {
    w->close();
    // We created it (O_EXCL), so removing a half-written ledger touches nothing else.
    ::unlink(path.c_str());
    return unexpected("cannot write the header of ledger " + quoted(path) + ": " + ec.message());
  }
  if (options.sync) sync_directory(path);
  return w;
}

std::error_code LedgerWriter::append(ordered_json& record, bool sync) {
  std::lock_guard lock(mutex_);
  if (fd_ < 0) return errno_code(EBADF);
  record["seq"] = seq_++;
  // A previous failed write may have left a fragment: end it, so only that line is lost.
  std::string line = torn_ ? "\n" : "";
  const std::size_t prefix = line.size();
  line += record.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  line += '\n';
  std::size_t written = 0;
  if (auto ec = write_all(fd_, line, written)) {
    if (written > prefix) torn_ = true;
    else if (written == prefix && prefix > 0) torn_ = false;
    return ec;
  }
  torn_ = false;
  if (sync && options_.sync) return sync_fd(fd_);
  return {};
}

std::error_code LedgerWriter::anomaly_start(const AnomalyStart& s) {
  std::string id = s.id.empty() ? make_anomaly_id(s.anomaly, s.occurrence, s.thing) : s.id;
  if (s.id.empty() && (s.anomaly.empty() || s.thing.empty())) return errno_code(EINVAL);
  if (s.thing.empty()) return errno_code(EINVAL);
  ordered_json r = begin_record("anomaly_start");
  r["id"] = std::move(id);
  r["anomaly"] = s.anomaly;
  r["kind"] = s.kind;
  r["occurrence"] = s.occurrence;
  r["thing"] = s.thing;
  r["primary_metrics"] = s.primary_metrics;
  r["side_effect_metrics"] = s.side_effect_metrics;
  r["strength"] = s.strength;
  r["strength_value"] = s.strength_value;
  r["mode"] = s.mode;
  put_time(r, s.t_ms);
  r["planned_end_ms"] = s.planned_end_ms;
  return append(r, true);
}

std::error_code LedgerWriter::anomaly_end(const AnomalyEnd& e) {
  if (e.id.empty()) return errno_code(EINVAL);
  ordered_json r = begin_record("anomaly_end");
  r["id"] = e.id;
  r["thing"] = e.thing;
  r["anomaly"] = e.anomaly;
  put_time(r, e.t_ms);
  r["reason"] = to_string(e.reason);
  return append(r, true);
}

std::error_code LedgerWriter::heartbeat(EpochMillis t_ms, const json& stats) {
  if (!stats.is_null() && !stats.is_object()) return errno_code(EINVAL);
  ordered_json r = begin_record("heartbeat");
  put_time(r, t_ms);
  r["stats"] = stats.is_null() ? ordered_json::object() : ordered_json(stats);
  return append(r, false);
}

std::error_code LedgerWriter::run_end(const RunEnd& e) {
  ordered_json r = begin_record("run_end");
  put_time(r, e.t_ms);
  r["reason"] = to_string(e.reason);
  return append(r, true);
}

std::error_code LedgerWriter::close() {
  std::lock_guard lock(mutex_);
  if (fd_ < 0) return {};
  int rc = ::close(fd_);
  fd_ = -1;  // never retry close(2) on Linux: the descriptor is gone even on EINTR
  return rc == 0 ? std::error_code() : errno_code(errno);
}

std::uint64_t LedgerWriter::next_seq() const {
  std::lock_guard lock(mutex_);
  return seq_;
}

//----------------------------------------------------------------------------------------------------
// Reader

std::string_view to_string(IssueKind k) {
  switch (k) {
    case IssueKind::torn_last_line: return "torn_last_line";
    case IssueKind::unparsable_line: return "unparsable_line";
    case IssueKind::invalid_record: return "invalid_record";
    case IssueKind::unknown_type: return "unknown_type";
    case IssueKind::missing_header: return "missing_header";
    case IssueKind::misplaced_header: return "misplaced_header";
    case IssueKind::seq_gap: return "seq_gap";
    case IssueKind::seq_disorder: return "seq_disorder";
    case IssueKind::open_window: return "open_window";
    case IssueKind::end_without_start: return "end_without_start";
    case IssueKind::duplicate_id: return "duplicate_id";
    case IssueKind::inconsistent_end: return "inconsistent_end";
    case IssueKind::unknown_reason: return "unknown_reason";
    case IssueKind::record_after_run_end: return "record_after_run_end";
    case IssueKind::missing_run_end: return "missing_run_end";
    case IssueKind::shard_mismatch: return "shard_mismatch";
    case IssueKind::duplicate_shard: return "duplicate_shard";
    case IssueKind::missing_shard: return "missing_shard";
  }
  return "unknown";
}

std::string format_issue(const Issue& issue) {
  std::string out;
  if (!issue.file.empty()) {
    out += issue.file;
    if (issue.line) out += ":" + std::to_string(issue.line);
    out += ": ";
  }
  out += issue.severity == Issue::Severity::error ? "error: " : "warning: ";
  out += issue.message;
  return out;
}

namespace {

bool no_errors(const std::vector<Issue>& issues) {
  return std::none_of(issues.begin(), issues.end(),
                      [](const Issue& i) { return i.severity == Issue::Severity::error; });
}

// Reads fields of one record, collecting what is missing (the record is then skipped) and what is
// malformed but optional (the record is kept, the field left at its default).
class Fields {
 public:
  explicit Fields(const json& j) : j_(j) {}

  std::string string(const char* key, bool required) {
    const json* v = find(key);
    if (v && v->is_string() && (!required || !v->get_ref<const std::string&>().empty()))
      return v->get<std::string>();
    note(key, v, required, required ? "a non-empty string" : "a string");
    return {};
  }
  std::int64_t integer(const char* key, bool required) {
    const json* v = find(key);
    if (v && v->is_number_integer() &&
        !(v->is_number_unsigned() && v->get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max())))
      return v->get<std::int64_t>();
    note(key, v, required, "an integer");
    return 0;
  }
  std::uint64_t unsigned_integer(const char* key, bool required) {
    const json* v = find(key);
    if (v && (v->is_number_unsigned() || (v->is_number_integer() && v->get<std::int64_t>() >= 0)))
      return v->get<std::uint64_t>();
    note(key, v, required, "a non-negative integer");
    return 0;
  }
  double number(const char* key, bool required) {
    const json* v = find(key);
    if (v && v->is_number()) return v->get<double>();
    note(key, v, required, "a number");
    return 0;
  }
  std::vector<std::string> strings(const char* key, bool required) {
    const json* v = find(key);
    if (v && v->is_array() && std::all_of(v->begin(), v->end(), [](const json& e) { return e.is_string(); }))
      return v->get<std::vector<std::string>>();
    note(key, v, required, "an array of strings");
    return {};
  }
  /// `t_ms`, or `t` parsed when t_ms is absent.
  EpochMillis time(const char* ms_key, const char* text_key, bool required) {
    const json* v = find(ms_key);
    if (v) return integer(ms_key, required);
    const json* t = find(text_key);
    if (t && t->is_string()) {
      if (auto parsed = parse_rfc3339(t->get_ref<const std::string&>())) return *parsed;
    }
    note(ms_key, nullptr, required, "an integer (epoch milliseconds)");
    return 0;
  }
  Fields object(const char* key) {
    const json* v = find(key);
    if (v && v->is_object()) return Fields(*v, prefix_ + key + ".", this);
    if (v) malformed_.push_back("'" + prefix_ + key + "' is not an object");
    return Fields(empty_, prefix_ + key + ".", this);
  }
  const json* find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }

  bool complete() const { return missing_.empty(); }
  std::string missing() const { return join(missing_); }
  std::string malformed() const { return join(malformed_); }

  ~Fields() {
    if (parent_) {
      parent_->missing_.insert(parent_->missing_.end(), missing_.begin(), missing_.end());
      parent_->malformed_.insert(parent_->malformed_.end(), malformed_.begin(), malformed_.end());
    }
  }
  Fields(const Fields&) = delete;
  Fields& operator=(const Fields&) = delete;

 private:
  Fields(const json& j, std::string prefix, Fields* parent) : j_(j), prefix_(std::move(prefix)), parent_(parent) {}

  void note(const char* key, const json* v, bool required, const char* what) {
    std::string text = "'" + prefix_ + key + "' " + (v ? "is not " : "is missing; it must be ") + what;
    if (required) missing_.push_back(std::move(text));
    else if (v) malformed_.push_back(std::move(text));
  }
  static std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
    return out;
  }

  inline static const json empty_ = json::object();
  const json& j_;
  std::string prefix_;
  Fields* parent_ = nullptr;
  std::vector<std::string> missing_;
  std::vector<std::string> malformed_;
};

class Reader {
 public:
  explicit Reader(std::string name) { out_.file = std::move(name); }

  Expected<Ledger> run(std::string_view text) {
    std::size_t pos = 0;
    std::size_t number = 0;
    while (pos < text.size()) {
      std::size_t nl = text.find('\n', pos);
      bool terminated = nl != std::string_view::npos;
      std::string_view line = text.substr(pos, terminated ? nl - pos : std::string_view::npos);
      pos = terminated ? nl + 1 : text.size();
      ++number;
      bool last = pos >= text.size();
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      on_line(line, number, last, terminated);
      if (fatal_) return Unexpected{*fatal_};
    }
    out_.lines = number;
    finish();
    return std::move(out_);
  }

 private:
  void issue(IssueKind kind, Issue::Severity severity, std::size_t line, std::string message) {
    out_.issues.push_back(Issue{kind, severity, out_.file, line, std::move(message)});
  }
  void error(IssueKind kind, std::size_t line, std::string message) {
    issue(kind, Issue::Severity::error, line, std::move(message));
  }
  void warning(IssueKind kind, std::size_t line, std::string message) {
    issue(kind, Issue::Severity::warning, line, std::move(message));
  }

  void on_line(std::string_view line, std::size_t number, bool last, bool terminated) {
    json j;
    std::string why;
    if (line.empty()) {
      why = "an empty line";
    } else {
      try {
        j = json::parse(line);
        if (!j.is_object()) why = "not a JSON object";
      } catch (const json::exception& e) {
        why = e.what();
      }
    }
    if (!why.empty()) {
      if (last && !terminated)
        warning(IssueKind::torn_last_line, number,
                "the last line is incomplete (" + std::to_string(line.size()) +
                    " bytes, no newline): the writer was probably killed while writing it; ignored");
      else if (last)
        warning(IssueKind::torn_last_line, number,
                "the last line is not a JSON object (" + why + "): probably torn by a crash; ignored");
      else
        error(IssueKind::unparsable_line, number, "not a ledger record (" + why + "); skipped");
      return;
    }
    if (last && !terminated)
      warning(IssueKind::torn_last_line, number,
              "the last line has no newline (the writer stopped mid-write?); its record is complete and was kept");
    on_record(j, number);
  }

  void check_seq(const json& j, std::size_t line) {
    auto it = j.find("seq");
    if (it == j.end() || !(it->is_number_unsigned() || (it->is_number_integer() && it->get<std::int64_t>() >= 0))) {
      error(IssueKind::invalid_record, line, "the record has no 'seq' (a non-negative integer); order not checked");
      return;
    }
    std::uint64_t seq = it->get<std::uint64_t>();
    if (!last_seq_) {
      if (seq != 0)
        error(IssueKind::seq_gap, line,
              "the first seq is " + std::to_string(seq) + ", not 0: " + std::to_string(seq) +
                  " record(s) before this line are missing");
      last_seq_ = seq;
      return;
    }
    if (seq == *last_seq_ + 1) {
      last_seq_ = seq;
    } else if (seq > *last_seq_) {
      error(IssueKind::seq_gap, line,
            "seq jumps from " + std::to_string(*last_seq_) + " to " + std::to_string(seq) + ": " +
                std::to_string(seq - *last_seq_ - 1) + " record(s) missing before this line");
      last_seq_ = seq;
    } else {
      error(IssueKind::seq_disorder, line,
            "seq " + std::to_string(seq) + " comes after seq " + std::to_string(*last_seq_) +
                ": lines were reordered or duplicated");
    }
  }

  // Reports a record that lacks required fields; true when it can be used.
  bool usable(const Fields& f, const std::string& type, std::size_t line) {
    if (!f.complete()) {
      error(IssueKind::invalid_record, line, type + " record skipped: " + f.missing());
      return false;
    }
    if (auto bad = f.malformed(); !bad.empty())
      warning(IssueKind::invalid_record, line, type + " record kept, but " + bad + " (default used)");
    return true;
  }

  void on_record(const json& j, std::size_t line) {
    check_seq(j, line);
    auto type_it = j.find("type");
    if (type_it == j.end() || !type_it->is_string()) {
      error(IssueKind::invalid_record, line, "the record has no 'type' (a string); skipped");
      return;
    }
    const std::string& type = type_it->get_ref<const std::string&>();
    if (type == "header") return on_header(j, line);

    if (!out_.header && !missing_header_reported_) {
      error(IssueKind::missing_header, line, "the ledger does not start with a header record");
      missing_header_reported_ = true;
    }
    if (out_.run_end && !after_run_end_reported_) {
      warning(IssueKind::record_after_run_end, line, "records follow the run_end record");
      after_run_end_reported_ = true;
    }
    ++seen_records_;
    if (type == "anomaly_start") on_start(j, line);
    else if (type == "anomaly_end") on_end(j, line);
    else if (type == "heartbeat") on_heartbeat(j, line);
    else if (type == "run_end") on_run_end(j, line);
    else
      warning(IssueKind::unknown_type, line,
              "unknown record type '" + type + "' (written by a newer fleetsim?); skipped");
  }

  void on_header(const json& j, std::size_t line) {
    if (out_.header) {
      error(IssueKind::misplaced_header, line, "a second header (the first is on line " +
                                                   std::to_string(header_line_) + "); skipped");
      return;
    }
    Fields f(j);
    Header h;
    const json* schema = f.find("schema");
    if (schema && schema->is_number_integer() &&
        (schema->is_number_unsigned() ? schema->get<std::uint64_t>() > std::uint64_t(schema_version)
                                      : schema->get<std::int64_t>() > schema_version)) {
      fatal_ = out_.file + ":" + std::to_string(line) + ": the ledger has schema " + schema->dump() + ", but this fleetsim reads schema " +
               std::to_string(schema_version) + " at most; read it with a newer fleetsim";
      return;
    }
    h.schema = static_cast<int>(f.integer("schema", true));
    if (f.complete() && h.schema < 1) {
      error(IssueKind::invalid_record, line, "header skipped: schema " + std::to_string(h.schema) + " does not exist");
      return;
    }
    h.tool = f.string("tool", false);
    h.run_id = f.string("run_id", false);
    {
      Fields s = f.object("scenario");
      h.scenario.name = s.string("name", false);
      h.scenario.file = s.string("file", false);
      h.scenario.sha256 = s.string("sha256", false);
    }
    h.seed = f.unsigned_integer("seed", false);
    if (const json* shard = f.find("shard"); shard && shard->is_string()) {
      if (auto parsed = parse_shard_id(shard->get_ref<const std::string&>())) h.shard = *parsed;
      else warning(IssueKind::invalid_record, line, "header kept, but " + parsed.error() + "; 0/1 assumed");
    } else {
      f.string("shard", false);
    }
    {
      Fields c = f.object("clock");
      h.time_scale = c.find("time_scale") ? c.number("time_scale", false) : 1.0;
      h.start_ms = c.time("start_ms", "start", false);
    }
    h.target = f.string("target", false);
    if (const json* w = f.find("written_at"); w && w->is_string()) {
      if (auto parsed = parse_rfc3339(w->get_ref<const std::string&>())) h.written_at_ms = *parsed;
    }
    if (!usable(f, "header", line)) return;
    if (seen_records_ > 0)
      error(IssueKind::misplaced_header, line, "the header is not the first record; used anyway");
    out_.header = std::move(h);
    header_line_ = line;
    ++out_.records;
  }

  void on_start(const json& j, std::size_t line) {
    Fields f(j);
    Window w;
    w.id = f.string("id", true);
    w.thing = f.string("thing", true);
    w.anomaly = f.string("anomaly", true);
    w.start_ms = f.time("t_ms", "t", true);
    w.kind = f.string("kind", false);
    w.occurrence = f.unsigned_integer("occurrence", false);
    w.primary_metrics = f.strings("primary_metrics", false);
    w.side_effect_metrics = f.strings("side_effect_metrics", false);
    w.strength = f.string("strength", false);
    w.strength_value = f.number("strength_value", false);
    w.mode = f.string("mode", false);
    w.planned_end_ms = f.integer("planned_end_ms", false);
    if (!usable(f, "anomaly_start", line)) return;
    if (auto it = by_id_.find(w.id); it != by_id_.end()) {
      error(IssueKind::duplicate_id, line,
            "anomaly '" + w.id + "' starts again (first on line " + std::to_string(out_.windows[it->second].line) +
                "); skipped");
      return;
    }
    w.file = out_.file;
    w.line = line;
    by_id_.emplace(w.id, out_.windows.size());
    out_.windows.push_back(std::move(w));
    ++out_.records;
  }

  void on_end(const json& j, std::size_t line) {
    Fields f(j);
    std::string id = f.string("id", true);
    EpochMillis t = f.time("t_ms", "t", true);
    std::string thing = f.string("thing", false);
    std::string anomaly = f.string("anomaly", false);
    std::string reason = f.string("reason", false);
    if (!usable(f, "anomaly_end", line)) return;
    auto it = by_id_.find(id);
    if (it == by_id_.end()) {
      error(IssueKind::end_without_start, line, "anomaly '" + id + "' ends but never started; skipped");
      return;
    }
    Window& w = out_.windows[it->second];
    if (w.end_ms) {
      error(IssueKind::duplicate_id, line, "anomaly '" + id + "' ends a second time; skipped");
      return;
    }
    if (!thing.empty() && thing != w.thing)
      error(IssueKind::inconsistent_end, line,
            "anomaly '" + id + "' ends on thing '" + thing + "' but started on '" + w.thing + "'");
    if (!anomaly.empty() && anomaly != w.anomaly)
      error(IssueKind::inconsistent_end, line,
            "anomaly '" + id + "' ends as anomaly '" + anomaly + "' but started as '" + w.anomaly + "'");
    if (t < w.start_ms)
      error(IssueKind::inconsistent_end, line,
            "anomaly '" + id + "' ends at " + format_rfc3339(t) + ", before it starts (" + format_rfc3339(w.start_ms) +
                ")");
    w.end_ms = t;
    if (const json* r = f.find("reason"); r && r->is_string()) {
      w.end_reason = parse_end_reason(reason);
      if (!w.end_reason)
        warning(IssueKind::unknown_reason, line, "anomaly '" + id + "' ends for an unknown reason '" + reason + "'");
    } else if (!r) {
      warning(IssueKind::invalid_record, line, "anomaly_end of '" + id + "' has no 'reason'");
    }
    ++out_.records;
  }

  void on_heartbeat(const json& j, std::size_t line) {
    Fields f(j);
    EpochMillis t = f.time("t_ms", "t", true);
    const json* stats = f.find("stats");
    if (stats && !stats->is_object()) f.object("stats");
    if (!usable(f, "heartbeat", line)) return;
    ++out_.heartbeats;
    if (!out_.last_heartbeat_ms || t >= *out_.last_heartbeat_ms) {
      out_.last_heartbeat_ms = t;
      out_.last_stats = stats && stats->is_object() ? *stats : json::object();
    }
    ++out_.records;
  }

  void on_run_end(const json& j, std::size_t line) {
    Fields f(j);
    RunEnd e;
    e.t_ms = f.time("t_ms", "t", true);
    std::string reason = f.string("reason", false);
    if (!usable(f, "run_end", line)) return;
    if (out_.run_end) {
      error(IssueKind::invalid_record, line, "a second run_end record; skipped");
      return;
    }
    if (auto r = parse_run_end_reason(reason)) e.reason = *r;
    else warning(IssueKind::unknown_reason, line, "the run ends for an unknown reason '" + reason + "'");
    out_.run_end = e;
    ++out_.records;
  }

  void finish() {
    if (out_.lines == 0) {
      error(IssueKind::missing_header, 0, "the ledger is empty");
    } else if (!out_.header && !missing_header_reported_) {
      error(IssueKind::missing_header, 0, "the ledger has no header record");
    }
    for (const Window& w : out_.windows)
      if (w.open())
        warning(IssueKind::open_window, w.line,
                "anomaly '" + w.id + "' is open: the run probably stopped without closing it (kill -9?)");
    if (out_.lines > 0 && !out_.run_end)
      warning(IssueKind::missing_run_end, 0, "no run_end record: the run is still going, or was killed");
    std::stable_sort(out_.issues.begin(), out_.issues.end(), [](const Issue& a, const Issue& b) {
      // Line order; whole-file issues (line 0) last.
      auto key = [](const Issue& i) { return i.line == 0 ? std::numeric_limits<std::size_t>::max() : i.line; };
      return key(a) < key(b);
    });
  }

  Ledger out_;
  std::map<std::string, std::size_t, std::less<>> by_id_;  // window id → index in out_.windows
  std::optional<std::uint64_t> last_seq_;
  std::size_t header_line_ = 0;
  std::size_t seen_records_ = 0;  // non-header records seen, valid or not
  bool missing_header_reported_ = false;
  bool after_run_end_reported_ = false;
  std::optional<std::string> fatal_;
};

}  // namespace

bool Ledger::clean() const { return no_errors(issues); }
bool MergedLedger::clean() const { return no_errors(issues); }

Expected<Ledger> read_ledger_text(std::string_view text, std::string name) {
  return Reader(std::move(name)).run(text);
}

Expected<Ledger> read_ledger(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unexpected("cannot read ledger " + quoted(path) + ": " + std::strerror(errno));
  std::string text;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) text.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return unexpected("cannot read ledger " + quoted(path) + ": " + std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return read_ledger_text(text, path.string());
}

MergedLedger merge_ledgers(std::vector<Ledger> shards) {
  MergedLedger m;
  auto cross = [&](IssueKind kind, Issue::Severity severity, const std::string& file, std::string message) {
    m.issues.push_back(Issue{kind, severity, file, 0, std::move(message)});
  };
  const Ledger* ref = nullptr;
  std::map<unsigned, const Ledger*> by_index;
  std::map<std::string, std::string, std::less<>> window_file;  // id → file of its first window
  for (Ledger& l : shards) {
    m.issues.insert(m.issues.end(), l.issues.begin(), l.issues.end());
    m.heartbeats += l.heartbeats;
    if (l.last_heartbeat_ms && (!m.last_heartbeat_ms || *l.last_heartbeat_ms > *m.last_heartbeat_ms))
      m.last_heartbeat_ms = l.last_heartbeat_ms;
  }
  for (Ledger& l : shards) {
    if (l.header) {
      const Header& h = *l.header;
      if (!ref) {
        ref = &l;
      } else {
        const Header& r = *ref->header;
        auto mismatch = [&](const std::string& what, const std::string& mine, const std::string& theirs) {
          cross(IssueKind::shard_mismatch, Issue::Severity::error, l.file,
                what + " " + mine + " differs from " + theirs + " in " + ref->file + ": not shards of the same run");
        };
        if (h.scenario.sha256 != r.scenario.sha256)
          mismatch("scenario sha256", "'" + h.scenario.sha256 + "'", "'" + r.scenario.sha256 + "'");
        if (h.seed != r.seed) mismatch("seed", std::to_string(h.seed), std::to_string(r.seed));
        if (h.start_ms != r.start_ms)
          mismatch("clock start", format_rfc3339(h.start_ms), format_rfc3339(r.start_ms));
        if (h.time_scale != r.time_scale)
          mismatch("clock time_scale", format_number(h.time_scale, 6), format_number(r.time_scale, 6));
        if (h.shard.count != r.shard.count)
          mismatch("shard count", std::to_string(h.shard.count), std::to_string(r.shard.count));
      }
      if (auto [it, fresh] = by_index.emplace(h.shard.index, &l); !fresh)
        cross(IssueKind::duplicate_shard, Issue::Severity::error, l.file,
              "shard " + h.shard.to_string() + " is given twice (also " + it->second->file + ")");
    }
    for (Window& w : l.windows) {
      if (auto [it, fresh] = window_file.emplace(w.id, l.file); !fresh)
        cross(IssueKind::duplicate_id, Issue::Severity::error, l.file,
              "anomaly '" + w.id + "' is also in " + it->second + ": a thing ran on two shards");
      m.windows.push_back(std::move(w));
    }
    l.windows.clear();
  }
  if (ref) {
    unsigned count = ref->header->shard.count;
    std::string absent;
    unsigned n_absent = 0;
    for (unsigned i = 0; i < count && count > 1; ++i) {
      if (by_index.count(i)) continue;
      if (n_absent++ < 10) absent += (absent.empty() ? "" : ", ") + ShardId{i, count}.to_string();
    }
    if (n_absent > 10) absent += " and " + std::to_string(n_absent - 10) + " more";
    if (n_absent)
      cross(IssueKind::missing_shard, Issue::Severity::error, "",
            "shard" + std::string(n_absent > 1 ? "s " : " ") + absent + " missing: its things' anomalies are unknown");
  }
  std::stable_sort(m.windows.begin(), m.windows.end(), [](const Window& a, const Window& b) {
    return std::tie(a.start_ms, a.thing, a.id) < std::tie(b.start_ms, b.thing, b.id);
  });
  m.shards = std::move(shards);
  return m;
}

Expected<MergedLedger> read_ledgers(std::span<const std::filesystem::path> paths) {
  std::vector<Ledger> shards;
  shards.reserve(paths.size());
  for (const auto& p : paths) {
    auto l = read_ledger(p);
    if (!l) return unexpected(l.error());
    shards.push_back(std::move(l.value()));
  }
  return merge_ledgers(std::move(shards));
}

}  // namespace fleetsim::ledger

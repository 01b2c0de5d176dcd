#include "sim/local/store.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fleetsim::local {

namespace fs = std::filesystem;

namespace {

constexpr const char* snapshot_name = "api-state.json";
constexpr const char* journal_name = "api-state.journal";
constexpr const char* format_name = "fleetsim-local-api-state";
constexpr int format_version = 1;
// Fold the journal into a snapshot once it is larger than this and than the last snapshot.
constexpr std::size_t min_compaction_bytes = 1 << 20;

Unexpected sys_error(const std::string& what, int err) { return unexpected(what + ": " + std::strerror(err)); }

Status write_all(int fd, std::string_view bytes, const std::string& what) {
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("cannot write " + what, errno);
    done += static_cast<std::size_t>(n);
  }
  return std::monostate{};
}

// Temporary file in the same directory, fsync, rename over `path`, fsync the directory.
Status replace_file(const fs::path& path, std::string_view bytes) {
  unsigned char r[6];
  RAND_bytes(r, sizeof r);
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
  const fs::path temp = path.parent_path() / ("." + path.filename().string() + ".tmp-" + suffix);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return sys_error("cannot create " + temp.string(), errno);
  auto status = write_all(fd, bytes, temp.string());
  if (status && ::fsync(fd) != 0) status = sys_error("cannot fsync " + temp.string(), errno);
  if (::close(fd) != 0 && status) status = sys_error("cannot close " + temp.string(), errno);
  if (status && ::rename(temp.c_str(), path.c_str()) != 0)
    status = sys_error("cannot rename " + temp.string() + " to " + path.string(), errno);
  if (!status) {
    ::unlink(temp.c_str());
    return status;
  }
  if (const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);  // makes the rename itself durable
    ::close(dir);
  }
  return std::monostate{};
}

Expected<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sys_error("cannot read " + path.string(), errno);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Applies one journal change {"table","key","row"} or {"table","key","deleted":true}.
bool apply(State& state, const nlohmann::json& change) {
  if (!change.is_object() || !change.contains("table") || !change.contains("key")) return false;
  const auto table = change["table"].get<std::string>();
  const auto key = change["key"].get<std::string>();
  bool known = false;
  state.visit([&](std::string_view name, auto& t) {
    if (name != table) return;
    known = true;
    if (change.value("deleted", false)) {
      t.unload(key);
    } else {
      typename std::decay_t<decltype(t)>::Rows::mapped_type row;
      from_json(change.at("row"), row);
      t.load(key, std::move(row));
    }
  });
  return known;
}

}  // namespace

Store::Store() = default;

Store::~Store() {
  if (journal_fd_ >= 0) ::close(journal_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

fs::path Store::snapshot_path() const { return dir_.empty() ? fs::path() : dir_ / snapshot_name; }
fs::path Store::journal_path() const { return dir_.empty() ? fs::path() : dir_ / journal_name; }

Expected<std::unique_ptr<Store>> Store::open(const fs::path& dir, bool durable) {
  auto store = std::make_unique<Store>();
  store->durable_ = durable;
  if (dir.empty()) return store;
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return unexpected("cannot create the state directory " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  store->dir_ = dir;
  // One emulator per state directory: a second one would interleave its journal with ours.
  const fs::path lock_path = dir / ".lock";
  store->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (store->lock_fd_ < 0) return sys_error("cannot open " + lock_path.string(), errno);
  if (::flock(store->lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return unexpected("the state directory " + dir.string() +
                      " is in use by another fleetsim local emulator; stop it or choose another state directory");
  State& state = store->state_;

  const fs::path snapshot = store->snapshot_path();
  if (fs::exists(snapshot, ec)) {
    auto text = read_file(snapshot);
    if (!text) return unexpected(text.error());
    try {
      auto j = nlohmann::json::parse(*text);
      if (j.value("format", "") != format_name || j.value("version", 0) > format_version)
        return unexpected(snapshot.string() + " is not a fleetsim local API state file of version " +
                          std::to_string(format_version) + "; move it away to start with an empty state");
      state.visit([&](std::string_view name, auto& t) {
        auto it = j.find(std::string(name));
        if (it == j.end()) return;
        for (const auto& [key, row] : it->items()) {
          typename std::decay_t<decltype(t)>::Rows::mapped_type value;
          from_json(row, value);
          t.load(key, std::move(value));
        }
      });
    } catch (const nlohmann::json::exception& e) {
      return unexpected(snapshot.string() + " is corrupt (" + e.what() +
                        "); restore it from a backup or move it away to start with an empty state");
    }
    store->snapshot_bytes_ = text->size();
  }

  const fs::path journal = store->journal_path();
  bool replayed = false;
  if (fs::exists(journal, ec)) {
    auto text = read_file(journal);
    if (!text) return unexpected(text.error());
    std::istringstream lines(*text);
    std::string line;
    int number = 0;
    while (std::getline(lines, line)) {
      ++number;
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      bool ok = !j.is_discarded() && j.is_object() && j.contains("changes") && j["changes"].is_array();
      if (ok) {
        try {
          for (const auto& change : j["changes"]) apply(state, change);
        } catch (const nlohmann::json::exception&) {
          ok = false;
        }
      }
      if (!ok) {
        if (lines.peek() == std::char_traits<char>::eof()) break;  // a torn last write: the request was never answered
        return unexpected(journal.string() + ":" + std::to_string(number) +
                          ": a corrupt journal record; restore the state directory or move it away");
      }
      replayed = true;
    }
  }

  const int fd = ::open(journal.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error("cannot open " + journal.string(), errno);
  store->journal_fd_ = fd;
  struct stat st {};
  if (::fstat(fd, &st) == 0) store->journal_bytes_ = static_cast<std::size_t>(st.st_size);
  // Start from a clean snapshot, which also drops a torn last line before anything is appended to it.
  if (replayed || store->journal_bytes_ > 0 || !fs::exists(snapshot, ec)) {
    std::lock_guard lock(store->mutex_);
    if (auto s = store->checkpoint_locked(); !s) return unexpected(s.error());
  }
  return store;
}

Status Store::write(const std::function<void(State&)>& f) {
  std::lock_guard lock(mutex_);
  f(state_);
  return commit_locked();
}

Status Store::checkpoint() {
  std::lock_guard lock(mutex_);
  return checkpoint_locked();
}

Status Store::commit_locked() {
  nlohmann::json changes = nlohmann::json::array();
  state_.visit([&](std::string_view name, auto& t) {
    for (const auto& key : t.take_dirty()) {
      nlohmann::json change{{"table", name}, {"key", key}};
      if (const auto* row = t.find(key)) change["row"] = *row;
      else change["deleted"] = true;
      changes.push_back(std::move(change));
    }
  });
  if (dir_.empty() || changes.empty()) return std::monostate{};
  const std::string line =
      nlohmann::json{{"changes", std::move(changes)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (auto s = write_all(journal_fd_, line, journal_path().string()); !s) return s;
  if (durable_ && ::fdatasync(journal_fd_) != 0) return sys_error("cannot fsync " + journal_path().string(), errno);
  journal_bytes_ += line.size();
  if (journal_bytes_ > min_compaction_bytes && journal_bytes_ > snapshot_bytes_) return checkpoint_locked();
  return std::monostate{};
}

Status Store::checkpoint_locked() {
  state_.visit([](std::string_view, auto& t) { t.take_dirty(); });  // everything goes into the snapshot
  if (dir_.empty()) return std::monostate{};
  nlohmann::json j{{"format", format_name}, {"version", format_version}};
  state_.visit([&](std::string_view name, auto& t) {
    nlohmann::json rows = nlohmann::json::object();
    for (const auto& [key, row] : t.rows()) rows[key] = row;
    j[std::string(name)] = std::move(rows);
  });
  const std::string text = j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (auto s = replace_file(snapshot_path(), text); !s) return s;
  snapshot_bytes_ = text.size();
  // The snapshot holds every journalled change now; replaying them again would be harmless (whole rows).
  if (::ftruncate(journal_fd_, 0) != 0) return sys_error("cannot truncate " + journal_path().string(), errno);
  ::fdatasync(journal_fd_);
  journal_bytes_ = 0;
  return std::monostate{};
}

}  // namespace fleetsim::local

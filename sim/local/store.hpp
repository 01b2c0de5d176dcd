#pragma once
// The emulator's state behind one mutex, surviving restarts: a snapshot (`api-state.json`, written to a
// temporary file, fsynced and renamed) plus a journal (`api-state.journal`, one JSON line per mutating
// request with the full rows it changed, fsynced before the request is answered). Replaying the
// journal over the snapshot gives the state back; the journal is folded into a new snapshot when it
// outgrows it, so each request costs what it changed, not the size of the whole registry.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <variant>

#include "sim/core/expected.hpp"
#include "sim/local/state.hpp"

namespace fleetsim::local {

using Status = Expected<std::monostate>;

class Store {
 public:
  /// A store that keeps nothing on disk.
  Store();
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Opens the state in `dir` (created 0700 when missing; locked against a second emulator): loads the
  /// snapshot, replays the journal (a torn last line, all a crash can leave, is dropped) and folds it
  /// into a fresh snapshot. Errors name the file and line and say what to do. `durable`: fsync each
  /// journal write before the request is answered (~ms per request on a disk); without it a process crash
  /// still loses nothing, a power cut may.
  static Expected<std::unique_ptr<Store>> open(const std::filesystem::path& dir, bool durable = true);

  /// Runs f(const State&) under the lock and returns what it returns.
  template <class F>
  auto read(F&& f) const {
    std::lock_guard lock(mutex_);
    return f(static_cast<const State&>(state_));
  }
  /// Runs f(State&) under the lock, then journals the rows it changed before unlocking. The status says
  /// whether that write worked (the change is in memory either way).
  Status write(const std::function<void(State&)>& f);
  /// Writes a snapshot of everything and empties the journal.
  Status checkpoint();

  /// The snapshot and journal files ("" when in memory).
  std::filesystem::path snapshot_path() const;
  std::filesystem::path journal_path() const;

 private:
  Status commit_locked();
  Status checkpoint_locked();

  mutable std::mutex mutex_;
  State state_;
  std::filesystem::path dir_;
  bool durable_ = true;
  int journal_fd_ = -1;
  int lock_fd_ = -1;
  std::size_t journal_bytes_ = 0;
  std::size_t snapshot_bytes_ = 0;
};

}  // namespace fleetsim::local

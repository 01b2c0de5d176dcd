#pragma once
// Scenario time. Everything that schedules or timestamps asks a Clock, so tests can inject one and a
// time-compressed run (time_scale > 1) reads the same to the simulator, the emulator and the ledger.
#include <atomic>
#include <chrono>
#include <functional>

#include "sim/core/time.hpp"

namespace fleetsim {

class Clock {
 public:
  virtual ~Clock() = default;
  /// The current scenario instant.
  virtual EpochMillis now() const = 0;
  /// How many scenario milliseconds pass per real millisecond.
  virtual double scale() const { return 1.0; }
};

/// Wall-clock time (system_clock).
class SystemClock final : public Clock {
 public:
  EpochMillis now() const override;
};

/// Scenario time that runs `scale` times faster than a real monotonic source, starting at `scenario_start`.
class ScaledClock final : public Clock {
 public:
  using RealSource = std::function<std::chrono::steady_clock::time_point()>;
  ScaledClock(EpochMillis scenario_start, double scale, RealSource real = &std::chrono::steady_clock::now);
  EpochMillis now() const override;
  double scale() const override { return scale_; }
  /// Real time left until the scenario instant `t` (zero if it has passed).
  std::chrono::nanoseconds real_until(EpochMillis t) const;

 private:
  EpochMillis scenario_start_;
  double scale_;
  RealSource real_;
  std::chrono::steady_clock::time_point real_start_;
};

/// A clock that moves only when told to; for tests. Safe to move from one thread while others read it
/// (a test drives time while a broker or an emulator runs on its own threads).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(EpochMillis start) : now_(start) {}
  EpochMillis now() const override { return now_.load(std::memory_order_acquire); }
  void advance(Millis d) { now_.fetch_add(d.count(), std::memory_order_acq_rel); }
  void set(EpochMillis t) { now_.store(t, std::memory_order_release); }

 private:
  std::atomic<EpochMillis> now_;
};

}  // namespace fleetsim

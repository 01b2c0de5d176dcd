#pragma once
// A worker: one thread, one single-threaded io_context, one timer, its share of the things, its own
// controller connection (which sends the things their commands) and its own stats. Nothing on the hot
// path is shared with other workers; the ledger (mutex-protected, off the hot path) is the exception.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "sim/core/clock.hpp"
#include "sim/fleet/connection.hpp"
#include "sim/fleet/deadline_queue.hpp"
#include "sim/fleet/stats.hpp"
#include "sim/fleet/thing.hpp"
#include "sim/ledger/ledger.hpp"
#include "sim/scenario/expand.hpp"

namespace fleetsim::fleet {

/// What every worker shares, read-only while the run goes (the ledger has its own lock).
struct FleetContext {
  const scenario::Scenario* scenario = nullptr;
  const ScaledClock* clock = nullptr;
  EpochMillis start_ms = 0;                                       ///< the scenario instant offsets count from
  TransportSettings transport;
  std::shared_ptr<net::ssl::context> tls_context;                 ///< null for plain TCP
  std::map<std::string, pki::CertifiedKey> identities;            ///< thing name → its certificate and key
  std::optional<pki::CertifiedKey> shared_identity;               ///< one pair for every thing
  ledger::LedgerWriter* ledger = nullptr;
  std::string controller_id;                                      ///< client id prefix of controller connections
  std::chrono::microseconds tick{1000};  ///< scheduling granularity: coarser wakes less, sends up to a tick late
};

/// Figures a worker publishes for the progress line (relaxed atomics, refreshed once a second).
struct LiveFigures {
  std::atomic<std::uint64_t> connected{0};
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> active_anomalies{0};
};

class Worker {
 public:
  Worker(const FleetContext& context, unsigned index, unsigned worker_count, std::vector<scenario::ThingPlan> things,
         std::vector<std::string> neighbours, std::vector<scenario::Occurrence> occurrences);
  ~Worker();

  /// The thread body: runs until stop() has finished.
  void run();
  /// Thread-safe: asks the worker to stop cleanly (closing open anomalies as stopped).
  void request_stop();
  const LiveFigures& live() const { return live_; }
  /// Valid after run() returned.
  const Stats& final_stats() const { return stats_; }
  /// After run(): the names of this worker's things that never connected.
  std::vector<std::string> never_connected() const;
  /// A copy of the stats as of the last refresh (about once a second); thread-safe.
  Stats snapshot() const {
    std::lock_guard lock(snapshot_mutex_);
    return snapshot_;
  }

  // For things (same thread).
  net::io_context& ioc() { return ioc_; }
  const scenario::Scenario& scenario() const { return *context_.scenario; }
  const ScaledClock& clock() const { return *context_.clock; }
  const TransportSettings& transport() const { return context_.transport; }
  net::ssl::context* tls_context() const { return context_.tls_context.get(); }
  const pki::CertifiedKey* identity_for(const std::string& thing) const;
  Stats& stats() { return stats_; }
  std::span<char> read_buffer() { return {read_buffer_.data(), read_buffer_.size()}; }
  std::string_view payload(std::size_t size) const { return {payload_.data(), std::min(size, payload_.size())}; }
  void wake(std::uint32_t slot, SteadyTime when);
  void cancel_wake(std::uint32_t slot) { deadlines_.cancel(slot); }
  void request_connect(std::uint32_t slot);
  void connect_done(std::uint32_t slot);

 private:
  class Controller;
  void arm();
  void on_timer();
  void pump_connects(SteadyTime now);
  void anomaly_events(SteadyTime now);
  void send_commands(std::uint32_t thing, SteadyTime now);
  void refresh_live();
  void stop_now();
  std::uint32_t command_slot(std::uint32_t thing) const { return static_cast<std::uint32_t>(things_.size()) + thing; }
  std::uint32_t pump_slot() const { return static_cast<std::uint32_t>(2 * things_.size()); }
  std::uint32_t anomaly_slot() const { return pump_slot() + 1; }
  std::uint32_t controller_slot() const { return pump_slot() + 2; }
  std::uint32_t live_slot() const { return pump_slot() + 3; }

  const FleetContext& context_;
  unsigned index_;
  net::io_context ioc_{1};
  net::steady_timer timer_;
  SteadyTime armed_ = SteadyTime::max();
  bool in_timer_ = false;
  DeadlineQueue deadlines_;
  std::vector<std::uint32_t> due_;
  std::vector<std::unique_ptr<Thing>> things_;
  std::vector<EpochMillis> next_command_;
  std::unique_ptr<Controller> controller_;
  std::string read_buffer_;
  std::string payload_;
  Stats stats_;
  LiveFigures live_;
  mutable std::mutex snapshot_mutex_;
  Stats snapshot_;  // guarded by snapshot_mutex_
  // Connect ramp: a token bucket in real time, and a cap on connects in flight.
  std::deque<std::uint32_t> connect_queue_;
  std::size_t connecting_ = 0;
  std::size_t max_connecting_ = 1;
  double connect_rate_ = 1;  // per real second, this worker's share
  double tokens_ = 1;
  SteadyTime tokens_at_{};
  // Anomaly occurrences on this worker's things, as start and end events in scenario time.
  struct Occ {
    scenario::Occurrence occurrence;
    std::uint32_t thing;
    std::string id;
    bool started = false, ended = false;
  };
  std::vector<Occ> occurrences_;
  std::vector<std::size_t> by_start_, by_end_;
  std::size_t next_start_ = 0, next_end_ = 0;
  bool stopping_ = false;
};

}  // namespace fleetsim::fleet

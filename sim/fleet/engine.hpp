#pragma once
// The engine: turns a scenario into workers, runs them against the target until the scenario's end or
// a signal, writes the ledger and the run directory, and reports capacity figures.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/core/clock.hpp"
#include "sim/fleet/stats.hpp"
#include "sim/scenario/expand.hpp"
#include "sim/scenario/model.hpp"

namespace fleetsim::fleet {

struct RunOptions {
  scenario::Shard shard;
  unsigned workers = 0;                    ///< 0: one per core
  std::filesystem::path out_dir;           ///< empty: runs/<scenario>-<UTC timestamp>[-shard-I-of-N]
  std::filesystem::path certs_dir;         ///< per-thing <thing>.pem/.key (empty: certs/<scenario>/ if it exists)
  std::optional<Millis> duration;          ///< overrides clock.duration
  std::string scenario_text;               ///< copied into the run directory as scenario.yaml
  bool quiet = false;                      ///< no progress output
  std::optional<std::uint16_t> metrics_port;  ///< serve Prometheus text on this port (0: any free port)
  std::string metrics_address = "127.0.0.1";  ///< where it listens
  std::vector<std::string> source_addresses;  ///< local addresses to connect from (to pass ~28k connections)
  std::chrono::microseconds tick{1000};       ///< workers' scheduling granularity
  /// A clock shared with the target (the embedded emulator): the scenario starts at its now(), and it
  /// must run at the scenario's time_scale. Null: the engine makes its own from clock.start.
  const ScaledClock* clock = nullptr;
};

struct RunOutcome {
  int exit_code = 0;
  std::filesystem::path run_dir;
  Stats stats;
  nlohmann::json summary;  ///< the capacity summary, as written to stats.json
};

/// runs/<scenario>-<UTC time>[-shard-I-of-N], where a run writes when --out is not given.
std::filesystem::path default_run_dir(const std::string& scenario, const scenario::Shard& shard, EpochMillis now);

/// Runs the scenario's fleet against its target. Throws InputError for bad configuration (exit 2);
/// returns exit 3 when the run could not reach the target at all.
RunOutcome run_fleet(const scenario::Scenario& s, const RunOptions& options);

/// The capacity summary: planned versus achieved connects and message rates, latency percentiles,
/// errors, throttling and disconnects by cause.
nlohmann::json capacity_summary(const scenario::Scenario& s, std::uint64_t things, const Stats& stats,
                                double elapsed_real_seconds, double time_scale);
/// The summary as the terminal shows it.
std::string format_capacity_summary(const nlohmann::json& summary);

}  // namespace fleetsim::fleet

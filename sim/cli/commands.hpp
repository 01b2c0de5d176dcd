#pragma once
// One function per subcommand: each adds itself to the CLI11 app and returns how to run it.
#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/error.hpp"
#include "sim/scenario/expand.hpp"
#include "sim/scenario/model.hpp"

namespace fleetsim::cli {

struct LoadedScenario {
  scenario::Scenario scenario;
  scenario::Shard shard;
};

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  ///< returns the exit code
};

Command add_validate(CLI::App& app);
Command add_plan(CLI::App& app);
Command add_run(CLI::App& app);
Command add_provision(CLI::App& app);
Command add_teardown(CLI::App& app);
Command add_profile(CLI::App& app);
Command add_status(CLI::App& app);
Command add_violations(CLI::App& app);
Command add_mitigation(CLI::App& app);
Command add_reconcile(CLI::App& app);
Command add_local(CLI::App& app);

/// Throws InputError naming the command's option ("fleetsim run --shard: ...").
[[noreturn]] void bad_argument(const std::string& command, const std::string& option, const std::string& message,
                               const std::string& hint = {});
/// Loads and checks a scenario with the command line's --target and --shard (I/N, or auto/N from
/// JOB_COMPLETION_INDEX / AWS_BATCH_JOB_ARRAY_INDEX); throws InputError when anything is invalid and
/// prints the warnings.
LoadedScenario load_for_command(const std::string& command, const std::string& file, const std::string& target,
                                const std::string& shard);

/// Prints diagnostics to stderr, errors and warnings alike.
void print_diagnostics(const std::vector<Diagnostic>& ds);
bool has_errors(const std::vector<Diagnostic>& ds);

}  // namespace fleetsim::cli

#pragma once
// One function per subcommand: each adds itself to the CLI11 app and returns how to run it.
#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/error.hpp"

namespace fleetsim::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  ///< returns the exit code
};

Command add_validate(CLI::App& app);
Command add_plan(CLI::App& app);

/// Prints diagnostics to stderr, errors and warnings alike.
void print_diagnostics(const std::vector<Diagnostic>& ds);
bool has_errors(const std::vector<Diagnostic>& ds);

}  // namespace fleetsim::cli

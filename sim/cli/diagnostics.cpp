#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "sim/cli/commands.hpp"
#include "sim/scenario/loader.hpp"

namespace fleetsim::cli {

void print_diagnostics(const std::vector<Diagnostic>& ds) {
  for (const auto& d : ds) std::cerr << format_diagnostic(d) << '\n';
}

bool has_errors(const std::vector<Diagnostic>& ds) {
  return std::any_of(ds.begin(), ds.end(), [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::error; });
}

void bad_argument(const std::string& command, const std::string& option, const std::string& message,
                  const std::string& hint) {
  throw InputError({{Diagnostic::Severity::error, {"fleetsim " + command + " " + option, 0, 0}, message, hint}});
}

LoadedScenario load_for_command(const std::string& command, const std::string& file, const std::string& target_text,
                                const std::string& shard_text) {
  std::optional<scenario::Target> target;
  if (!target_text.empty()) {
    auto t = scenario::parse_target(target_text);
    if (!t) bad_argument(command, "--target", t.error());
    target = *t;
  }
  std::string shard_spec = shard_text;
  if (shard_spec.starts_with("auto/")) {
    // The index comes from the job runner: a Kubernetes Indexed Job or an AWS Batch array job.
    const char* index = std::getenv("JOB_COMPLETION_INDEX");
    if (!index) index = std::getenv("AWS_BATCH_JOB_ARRAY_INDEX");
    if (!index)
      bad_argument(command, "--shard", "auto needs JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX in the environment",
                   "or give the index: --shard 0/4");
    shard_spec = std::string(index) + shard_spec.substr(4);
  }
  auto shard = scenario::parse_shard(shard_spec);
  if (!shard) bad_argument(command, "--shard", shard.error());
  auto result = scenario::load_and_check(file, target);
  if (!result.ok()) throw InputError(result.diagnostics);
  print_diagnostics(result.diagnostics);  // warnings only
  return {std::move(*result.scenario), *shard};
}

}  // namespace fleetsim::cli

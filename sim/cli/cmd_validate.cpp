// fleetsim validate FILE...
#include <iostream>
#include <memory>

#include "sim/cli/commands.hpp"
#include "sim/scenario/loader.hpp"

namespace fleetsim::cli {

namespace {
struct ValidateOptions {
  std::vector<std::string> files;
  std::string target;
  bool strict = false;
};
std::string counted(std::uint64_t n, const std::string& one, const std::string& many = {}) {
  return std::to_string(n) + " " + (n == 1 ? one : many.empty() ? one + "s" : many);
}
}  // namespace

Command add_validate(CLI::App& app) {
  auto opts = std::make_shared<ValidateOptions>();
  auto* sub = app.add_subcommand("validate", "Check scenario files: structure, units, references and the target's rules");
  sub->footer(
      "Every problem is printed as FILE:LINE:COL: error: what is wrong; what would be right.\n"
      "Warnings (e.g. an anomaly that starts while the detector is still training) do not fail\n"
      "validation unless --strict is given. Exit 0 when every file is valid, 2 otherwise.");
  sub->add_option("files", opts->files, "Scenario YAML files")->required();
  sub->add_option("--target", opts->target,
                  "Validate against this target instead of the scenario's: local, aws, mqtt://HOST:PORT, mqtts://HOST:PORT");
  sub->add_flag("--strict", opts->strict, "Treat warnings as errors (for CI)");
  return {sub, [opts] {
            std::optional<scenario::Target> target;
            if (!opts->target.empty()) {
              auto t = scenario::parse_target(opts->target);
              if (!t) {
                std::cerr << "fleetsim validate: --target " << t.error() << '\n';
                return int(exit_bad_input);
              }
              target = *t;
            }
            bool all_ok = true;
            for (const auto& file : opts->files) {
              auto result = scenario::load_and_check(file, target);
              print_diagnostics(result.diagnostics);
              std::size_t warnings = 0;
              for (const auto& d : result.diagnostics) warnings += d.severity == Diagnostic::Severity::warning;
              bool ok = result.ok() && !(opts->strict && warnings > 0);
              all_ok &= ok;
              if (ok) {
                const auto& s = *result.scenario;
                std::cout << file << ": ok - " << counted(s.thing_count(), "thing") << " in "
                          << counted(s.fleet.size(), "group") << ", " << counted(s.anomalies.size(), "anomaly", "anomalies")
                          << ", " << counted(s.security_profile.summaries.size(), "behavior") << ", target "
                          << scenario::describe(s.target);
                if (warnings) std::cout << ", " << counted(warnings, "warning");
                std::cout << '\n';
              } else {
                std::cerr << file << ": invalid\n";
              }
            }
            return int(all_ok ? exit_ok : exit_bad_input);
          }};
}

}  // namespace fleetsim::cli

#pragma once
// Reading a scenario file into the typed model, and checking it makes sense for its target.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/error.hpp"
#include "sim/scenario/model.hpp"

namespace fleetsim::scenario {

struct LoadResult {
  std::optional<Scenario> scenario;     ///< set when the file is structurally valid
  std::vector<Diagnostic> diagnostics;  ///< errors and warnings, in file order
  bool ok() const;                      ///< loaded, and no errors
};

/// Files larger than this are refused before parsing.
constexpr std::size_t max_scenario_bytes = 4 * 1024 * 1024;

/// Parses YAML text (`file` names it in diagnostics). Structure, types and units only.
LoadResult load_scenario_text(std::string_view text, const std::string& file);
/// Reads and parses a file.
LoadResult load_scenario_file(const std::string& path);

/// Cross-checks a loaded scenario: references, AWS rules, limits for its target, and warnings about
/// anomalies that cannot be detected. Appends to `out`. Run again after overriding the target.
void check_scenario(const Scenario& s, std::vector<Diagnostic>& out);

/// load + check: what `fleetsim validate` does.
LoadResult load_and_check(const std::string& path, const std::optional<Target>& target_override = std::nullopt);

}  // namespace fleetsim::scenario

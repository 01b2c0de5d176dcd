#include <algorithm>
#include <iostream>

#include "sim/cli/commands.hpp"

namespace fleetsim::cli {

void print_diagnostics(const std::vector<Diagnostic>& ds) {
  for (const auto& d : ds) std::cerr << format_diagnostic(d) << '\n';
}

bool has_errors(const std::vector<Diagnostic>& ds) {
  return std::any_of(ds.begin(), ds.end(), [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::error; });
}

}  // namespace fleetsim::cli

#pragma once
// Exit codes, the fleetsim error category for async boundaries, and diagnostics for user input.
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace fleetsim {

/// Process exit codes, the same for every subcommand.
enum exit_code : int {
  exit_ok = 0,                 ///< everything worked
  exit_expectations_failed = 1,///< the run completed, but an expectation (recall, latency, ...) failed
  exit_bad_input = 2,          ///< bad input or configuration; nothing was run
  exit_runtime_failure = 3,    ///< network, broker or AWS failure while running
};

/// Errors reported through std::error_code by fleetsim's own code.
enum class error {
  timeout = 1,       ///< a step did not finish before its deadline
  protocol,          ///< the peer broke the protocol
  too_large,         ///< input exceeded a configured limit
  cancelled,         ///< stopped on request (signal or shutdown)
};
const std::error_category& error_category();
inline std::error_code make_error_code(error e) { return {static_cast<int>(e), error_category()}; }

/// Where in a user's file something was found; line and column count from 1 (0 = unknown).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

/// One problem with user input: what is wrong, where, and (in `hint`) what would be right.
struct Diagnostic {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  SourceLocation where;
  std::string message;
  std::string hint;
};

/// "file:line:col: error: message; hint" — the format compilers use, so editors can jump to it.
std::string format_diagnostic(const Diagnostic& d);

/// Thrown at start-up (never across async boundaries) when user input is invalid; maps to exit 2.
struct InputError : std::runtime_error {
  explicit InputError(std::vector<Diagnostic> ds);
  std::vector<Diagnostic> diagnostics;
};

}  // namespace fleetsim

template <>
struct std::is_error_code_enum<fleetsim::error> : std::true_type {};

#include "sim/core/error.hpp"

namespace fleetsim {

const std::error_category& error_category() {
  struct category final : std::error_category {
    const char* name() const noexcept override { return "fleetsim"; }
    std::string message(int ev) const override {
      switch (static_cast<error>(ev)) {
        case error::timeout: return "the step did not finish before its deadline";
        case error::protocol: return "the peer broke the protocol";
        case error::too_large: return "input exceeded a configured limit";
        case error::cancelled: return "stopped on request";
      }
      return "unknown fleetsim error";
    }
  };
  static const category instance;
  return instance;
}

std::string format_diagnostic(const Diagnostic& d) {
  std::string out = d.where.file.empty() ? std::string("<input>") : d.where.file;
  if (d.where.line > 0) {
    out += ":" + std::to_string(d.where.line);
    if (d.where.column > 0) out += ":" + std::to_string(d.where.column);
  }
  out += d.severity == Diagnostic::Severity::error ? ": error: " : ": warning: ";
  out += d.message;
  if (!d.hint.empty()) out += "; " + d.hint;
  return out;
}

InputError::InputError(std::vector<Diagnostic> ds)
    : std::runtime_error(ds.empty() ? "invalid input" : format_diagnostic(ds.front())), diagnostics(std::move(ds)) {}

}  // namespace fleetsim

#pragma once
// Violation events as ListViolationEvents returns them (AWS or the local emulator), and from files.
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/expected.hpp"
#include "sim/harness/reconcile.hpp"

namespace fleetsim::harness {

/// One element of ListViolationEvents' violationEvents (violationEventTime in epoch seconds).
Expected<ViolationEvent> violation_from_json(const nlohmann::json& j);

/// A file of violation events: JSON Lines (one event per line), a JSON array, or a saved
/// ListViolationEvents answer ({"violationEvents": [...]}). Errors name the file and line.
Expected<std::vector<ViolationEvent>> read_violation_file(const std::filesystem::path& path);

}  // namespace fleetsim::harness

#pragma once
// Security-profile behaviors, written exactly in the AWS `Behavior` JSON shape and checked against it.
#include <optional>
#include <string>

#include "sim/scenario/model.hpp"
#include "sim/scenario/yaml_reader.hpp"

namespace fleetsim::scenario {

/// Reads `behaviors:` into profile.behaviors (JSON, as CreateSecurityProfile sends it) and profile.summaries.
void read_behaviors(detail::Reader& r, const YAML::Node& n, SecurityProfile& profile);
/// A metric name: a known `aws:` metric (with a suggestion on a typo) or a custom metric's name.
std::optional<std::string> read_metric_name(detail::Reader& r, const YAML::Node& n, const std::string& what);

}  // namespace fleetsim::scenario

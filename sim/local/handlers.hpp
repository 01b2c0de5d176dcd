#pragma once
// The operations the local emulator implements, registered by concern. A later piece (the detector's
// GetBehaviorModelTrainingSummaries, ListActiveViolations, ListViolationEvents, ListMetricValues, ...)
// adds its own handlers to the same Router.
#include <string>

#include <nlohmann/json.hpp>

#include "sim/local/router.hpp"

namespace fleetsim::local {

/// Things, thing groups and their membership, DescribeEndpoint.
void register_registry_handlers(Router& router);
/// Keys and certificates, policies and their targets, thing principals.
void register_certificate_handlers(Router& router);
/// Security profiles and their targets, mitigation actions.
void register_detect_handlers(Router& router);
/// Training summaries, active violations, violation events, verification states (the detector's output).
void register_violation_handlers(Router& router);
/// Detect mitigation actions tasks and their executions.
void register_mitigation_task_handlers(Router& router);
/// "MACHINE_LEARNING", "STATISTICAL" or "STATIC", as ListActiveViolations' behaviorCriteriaType filters.
std::string behavior_criteria_type(const nlohmann::json& behavior);
/// All of the above.
void register_all_handlers(Router& router);

}  // namespace fleetsim::local

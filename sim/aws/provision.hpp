#pragma once
// Provisioning a simulated fleet in AWS IoT (or the local emulator): thing groups, things, one key pair
// and certificate per thing, a policy that lets each thing connect only as itself and use only its own
// topics, the attachments, and the security profile attached to the thing groups. Idempotent and
// resumable: every created resource is recorded in a manifest as soon as it exists, and a rerun skips
// what the manifest (or the service) already has. Teardown removes exactly what the manifest lists.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/aws/iot_client.hpp"

namespace fleetsim::aws {

struct ThingSpec {
  std::string name;
  std::string thing_group;
};

struct ProvisionPlan {
  std::string scenario;                       ///< names the policy and the certificate folder
  std::vector<ThingSpec> things;
  std::vector<std::string> publish_topics;    ///< templates with {thing}
  std::vector<std::string> subscribe_topics;  ///< templates with {thing}
  bool device_metrics = false;                ///< allow the Device Defender report topics
  std::vector<std::string> command_topics;    ///< templates with {thing}, for the controller's policy
  nlohmann::json security_profile;            ///< CreateSecurityProfile input (empty: none)
  std::vector<std::string> profile_target_groups;  ///< thing group names the profile is attached to
  std::filesystem::path certs_dir;            ///< keys (0600) and certificates, and manifest.json
};

struct ProvisionProgress {
  std::size_t things_done = 0;
  std::size_t things_total = 0;
  std::string step;  ///< what it is doing now
};

struct ProvisionOptions {
  std::function<void(const ProvisionProgress&)> progress;  ///< called as things complete
  /// For tests: stop (as if interrupted) after this many things (0: never).
  std::size_t stop_after_things = 0;
};

struct ProvisionOutcome {
  bool ok = false;
  std::string error;  ///< the AwsError's description, or a local failure
  std::size_t things_created = 0;   ///< this run
  std::size_t things_skipped = 0;   ///< already complete from an earlier run
  std::filesystem::path manifest;
};

/// The policy document each thing's certificate gets (JSON text, IoT policy variables for the thing name).
std::string thing_policy_document(const ProvisionPlan& plan, const std::string& region, const std::string& account);

ProvisionOutcome provision(IotClient& client, const ProvisionPlan& plan, const ProvisionOptions& options = {});
/// Removes what the manifest in plan.certs_dir lists: detach, deactivate, delete; resumable too.
ProvisionOutcome teardown(IotClient& client, const std::filesystem::path& certs_dir,
                          const std::function<void(const ProvisionProgress&)>& progress = {});

}  // namespace fleetsim::aws

#pragma once
// The AWS options every control-plane command shares (as the AWS CLI names them), and the client
// they build: credentials and region from the usual chain, --endpoint-url for the local emulator.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/aws/credentials.hpp"
#include "sim/aws/iot_client.hpp"
#include "sim/aws/provision.hpp"
#include "sim/scenario/model.hpp"

namespace fleetsim::cli {

struct AwsCliOptions {
  std::string region;
  std::string profile;
  std::string endpoint_url;
  std::string ca_bundle;
  std::string output = "table";
};

void add_aws_options(CLI::App* app, AwsCliOptions& options);
void add_aws_options(CLI::Option_group* group, AwsCliOptions& options);

/// A client ready to call; throws InputError (exit 2) when region or credentials cannot be found.
struct AwsSession {
  std::unique_ptr<aws::CredentialProvider> credentials;
  std::unique_ptr<aws::IotClient> client;
};
AwsSession make_aws_session(const AwsCliOptions& options);

/// An AWS error ends the command with exit 3 and the error's full description.
[[noreturn]] void aws_failure(const aws::AwsError& e);
/// The JSON of a successful call, or exit 3.
nlohmann::json expect_ok(aws::AwsResult<nlohmann::json> r);

/// Prints rows as a table (the given columns, from each object's keys; nested with '.') or as JSON.
void print_rows(const nlohmann::json& rows, const std::vector<std::string>& columns, const std::string& output);

/// CreateSecurityProfile's input for the scenario's security_profile.
nlohmann::json profile_input(const scenario::SecurityProfile& p);
/// What `provision` creates for the scenario: every thing (all shards), topics, policy, profile.
/// `certs` "" means certs/<scenario>/.
aws::ProvisionPlan provision_plan_for(const scenario::Scenario& s, const std::string& certs);

}  // namespace fleetsim::cli

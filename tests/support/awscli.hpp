#pragma once
// The real AWS CLI (Debian's /usr/bin/aws) as a client of the local emulator: a clean environment with
// the emulator's keys, never the user's ~/.aws, JSON output.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

namespace fleetsim::test {

inline const std::string aws_cli_path = "/usr/bin/aws";  // Debian's, not a pyenv shim earlier on the PATH

/// fleetsim ARGS... with the emulator's keys and region in its environment, never the user's ~/.aws.
ProcessResult run_fleetsim_with_local_keys(const std::vector<std::string>& args,
                                           std::chrono::milliseconds deadline = std::chrono::seconds(60));

struct AwsCli {
  std::string endpoint_url;
  std::string secret;              ///< default: the emulator's secret key
  std::vector<std::string> extra;  ///< appended to every command (e.g. --ca-bundle FILE)
  TempDir home;                    ///< the CLI's caches

  /// `aws iot ARGS... --endpoint-url URL --region us-east-1 --output json`.
  ProcessResult run(const std::vector<std::string>& args) const;
  /// The same, required to succeed (a Catch2 REQUIRE); its JSON output ({} when it prints nothing).
  nlohmann::json ok(const std::vector<std::string>& args) const;
  /// Required to fail with this AWS error code in the CLI's message.
  void fails(const std::vector<std::string>& args, const std::string& code) const;
};

}  // namespace fleetsim::test

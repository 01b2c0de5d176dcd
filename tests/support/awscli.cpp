#include "tests/support/awscli.hpp"

#include <catch2/catch.hpp>

#include "sim/local/api_server.hpp"

namespace fleetsim::test {

ProcessResult run_fleetsim_with_local_keys(const std::vector<std::string>& args, std::chrono::milliseconds deadline) {
  std::vector<std::string> argv{"/usr/bin/env", std::string("AWS_ACCESS_KEY_ID=") + local::local_access_key_id,
                                std::string("AWS_SECRET_ACCESS_KEY=") + local::local_secret_access_key,
                                "AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null",
                                "AWS_SHARED_CREDENTIALS_FILE=/dev/null", FLEETSIM_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, deadline);
}

ProcessResult AwsCli::run(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=" + home.path(),
                                std::string("AWS_ACCESS_KEY_ID=") + local::local_access_key_id,
                                "AWS_SECRET_ACCESS_KEY=" + (secret.empty() ? std::string(local::local_secret_access_key) : secret),
                                "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
                                "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", aws_cli_path, "iot"};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const auto& a : {std::string("--endpoint-url"), endpoint_url, std::string("--region"), std::string("us-east-1"),
                        std::string("--output"), std::string("json")})
    argv.push_back(a);
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_process(argv, std::chrono::seconds(60));
}

nlohmann::json AwsCli::ok(const std::vector<std::string>& args) const {
  auto r = run(args);
  INFO("aws iot " << args.front() << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  if (r.out.find_first_not_of(" \n\r\t") == std::string::npos) return nlohmann::json::object();
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

void AwsCli::fails(const std::vector<std::string>& args, const std::string& code) const {
  auto r = run(args);
  INFO("aws iot " << args.front() << "\nstdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("(" + code + ")") != std::string::npos);
}

}  // namespace fleetsim::test

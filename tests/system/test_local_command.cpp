// `fleetsim local`: the emulator as a standalone process, driven as its banner says — fleetsim provision
// with --endpoint-url, mosquitto_pub with a provisioned thing's certificate, the AWS CLI — and restarted
// on the same state.
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <regex>

#include "tests/support/awscli.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::test;

namespace {

struct LocalEmulator {
  TempDir logs;
  std::unique_ptr<ChildProcess> process;
  std::string api_url, mqtt_port;

  explicit LocalEmulator(const std::string& state) {
    process = std::make_unique<ChildProcess>(
        std::vector<std::string>{FLEETSIM_BINARY, "local", "--mqtt-port", "0", "--api-port", "0", "--state", state,
                                 "--ca-dir", state + "/ca", "--broker-threads", "2"},
        logs.path());
    // The child's output files are named by a process-wide counter; this log directory holds only them.
    auto output = [&](const char* ext) {
      for (const auto& e : std::filesystem::directory_iterator(logs.path()))
        if (e.path().extension() == ext) return read_text(e.path().string());
      return std::string();
    };
    std::smatch api, mqtt;
    std::string banner;
    bool up = wait_until(
        [&] {
          banner = output(".out");
          static const std::regex api_re(R"(REST API\s+(http://127\.0\.0\.1:\d+))"), mqtt_re(R"(mqtts://127\.0\.0\.1:(\d+))");
          return std::regex_search(banner, api, api_re) && std::regex_search(banner, mqtt, mqtt_re);
        },
        std::chrono::seconds(20));
    INFO(banner << output(".err"));
    REQUIRE(up);
    api_url = api[1];
    mqtt_port = mqtt[1];
  }
  ProcessResult stop() {
    process->signal(SIGINT);
    return process->wait(std::chrono::seconds(20));
  }
};

}  // namespace

TEST_CASE("fleetsim local serves the API and the broker until SIGINT, and keeps its state", "[system][local]") {
  if (!std::filesystem::exists(aws_cli_path)) FAIL("the AWS CLI is not installed (scripts/bootstrap installs awscli)");
  TempDir dir;
  const std::string state = dir.path() + "/state", certs = dir.path() + "/certs";
  {
    LocalEmulator emulator(state);
    // Provision the scenario into it, as the banner suggests, with the local keys in the environment.
    auto provisioned = run_fleetsim_with_local_keys({"provision", source_path("tests/data/scenarios/embedded-small.yaml"),
                                                     "--endpoint-url", emulator.api_url, "--certs", certs});
    INFO(provisioned.out << provisioned.err);
    REQUIRE(provisioned.exit_code == 0);

    // A provisioned thing publishes on its own topic with mosquitto_pub over mutual TLS.
    const std::string thing = "es-sensor-01";
    auto pub = run_process({"/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", emulator.mqtt_port, "--cafile",
                            state + "/ca/ca.pem", "--cert", certs + "/" + thing + ".pem", "--key", certs + "/" + thing + ".key",
                            "-i", thing, "-q", "1", "-t", "dt/embedded-small/" + thing + "/telemetry", "-m", "hello"},
                           std::chrono::seconds(20));
    INFO(pub.err);
    CHECK(pub.exit_code == 0);
    // Another thing's certificate under this client id is refused (not authorized).
    auto wrong = run_process({"/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", emulator.mqtt_port, "--cafile",
                              state + "/ca/ca.pem", "--cert", certs + "/es-sensor-02.pem", "--key", certs + "/es-sensor-02.key",
                              "-i", thing, "-q", "1", "-t", "dt/embedded-small/" + thing + "/telemetry", "-m", "x"},
                             std::chrono::seconds(20));
    CHECK(wrong.exit_code != 0);

    AwsCli cli;
    cli.endpoint_url = emulator.api_url;
    CHECK(cli.ok({"list-things"})["things"].size() == 8);
    auto endpoint = cli.ok({"describe-endpoint", "--endpoint-type", "iot:Data-ATS"});
    CHECK(endpoint["endpointAddress"] == "127.0.0.1:" + emulator.mqtt_port);

    auto stopped = emulator.stop();
    CHECK(stopped.exit_code == 0);
    CHECK(stopped.out.find("stopping") != std::string::npos);
  }
  LocalEmulator again(state);
  AwsCli cli;
  cli.endpoint_url = again.api_url;
  CHECK(cli.ok({"list-things"})["things"].size() == 8);
  CHECK(cli.ok({"list-security-profiles"})["securityProfileIdentifiers"].size() == 1);
  CHECK(again.stop().exit_code == 0);
}

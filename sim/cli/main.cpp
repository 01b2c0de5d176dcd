// fleetsim: a fleet simulator and detection-quality harness for AWS IoT Device Defender Detect.
#include <CLI/CLI.hpp>

#include <iostream>

#include "sim/cli/commands.hpp"
#include "sim/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "fleetsim " FLEETSIM_VERSION " - simulate an MQTT fleet with injected anomalies and measure how well\n"
      "AWS IoT Device Defender Detect (or the local stand-in detector) catches them.\n\n"
      "Start with:  fleetsim validate scenarios/quickstart.yaml\n"
      "             fleetsim plan scenarios/quickstart.yaml\n"
      "Exit codes: 0 ok, 1 a run's expectations failed, 2 bad input or configuration, 3 runtime failure.",
      "fleetsim"};
  app.set_version_flag("--version", std::string("fleetsim ") + FLEETSIM_VERSION);
  app.require_subcommand(1);
  std::vector<fleetsim::cli::Command> commands{fleetsim::cli::add_validate(app), fleetsim::cli::add_plan(app),
                                                 fleetsim::cli::add_run(app),
                                                 fleetsim::cli::add_provision(app),
                                                 fleetsim::cli::add_teardown(app),
                                                 fleetsim::cli::add_profile(app),
                                                 fleetsim::cli::add_status(app),
                                                 fleetsim::cli::add_violations(app),
                                                 fleetsim::cli::add_mitigation(app),
                                                 fleetsim::cli::add_reconcile(app),
                                                 fleetsim::cli::add_local(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help, the version, or what was wrong with the arguments
    return code == 0 ? fleetsim::exit_ok : fleetsim::exit_bad_input;
  }
  for (auto& command : commands) {
    if (!command.app->parsed()) continue;
    try {
      return command.run();
    } catch (const fleetsim::InputError& e) {
      fleetsim::cli::print_diagnostics(e.diagnostics);
      return fleetsim::exit_bad_input;
    } catch (const std::exception& e) {
      std::cerr << "fleetsim: " << e.what() << '\n';
      return fleetsim::exit_runtime_failure;
    }
  }
  return fleetsim::exit_bad_input;
}

// fleetsim local [--mqtt-port P] [--api-port P] [--time-scale X] [--state DIR]: the emulator, standalone.
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <pthread.h>

#include "sim/cli/commands.hpp"
#include "sim/core/time.hpp"
#include "sim/core/units.hpp"
#include "sim/local/api_server.hpp"
#include "sim/local/emulator.hpp"

namespace fleetsim::cli {

namespace {

struct LocalCommandOptions {
  int mqtt_port = 8883;
  int api_port = 8443;
  std::string address = "127.0.0.1";
  double time_scale = 1;
  std::string state = ".fleetsim/local";
  std::string ca_dir = "certs/local";
  std::string window = "5m", training = "14d";
  std::uint64_t min_datapoints = 25'000;
  unsigned broker_threads = 0;
  bool api_tls = false;
};

Millis duration_option(const std::string& option, const std::string& text) {
  auto d = parse_duration(text);
  if (!d || d->count() <= 0) bad_argument("local", option, "'" + text + "' is not a duration such as 5m or 14d");
  return *d;
}

// Blocks until SIGINT or SIGTERM.
void wait_for_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
}

}  // namespace

Command add_local(CLI::App& app) {
  auto o = std::make_shared<LocalCommandOptions>();
  auto* sub = app.add_subcommand("local", "Run the local emulator of AWS IoT Core and Device Defender standalone");
  sub->footer(
      "A local stand-in, not AWS: an MQTT broker with AWS-like identities, policies and limits, the REST API\n"
      "(SigV4 with the local keys), per-thing metrics and a documented statistical detector (see the README).\n"
      "State survives a restart in --state. Stop with Ctrl-C.");
  sub->add_option("--mqtt-port", o->mqtt_port, "MQTT over mutual TLS")->check(CLI::Range(0, 65535))->capture_default_str();
  sub->add_option("--api-port", o->api_port, "The REST API (--endpoint-url)")->check(CLI::Range(0, 65535))->capture_default_str();
  sub->add_option("--address", o->address, "Where both listen (loopback unless on purpose)")->capture_default_str();
  sub->add_option("--time-scale", o->time_scale, "Scenario seconds per real second (the scenario's clock.time_scale)")
      ->check(CLI::Range(1.0, 100000.0))->capture_default_str();
  sub->add_option("--state", o->state, "Directory for the emulator's state")->capture_default_str();
  sub->add_option("--ca-dir", o->ca_dir, "The local CA (created on first use)")->capture_default_str();
  sub->add_option("--window", o->window, "Detector evaluation window, scenario time")->capture_default_str();
  sub->add_option("--training", o->training, "Detector training period, scenario time (AWS: 14d)")->capture_default_str();
  sub->add_option("--min-datapoints", o->min_datapoints, "Datapoints per behavior before a model is built (AWS: 25000)")
      ->capture_default_str();
  sub->add_option("--broker-threads", o->broker_threads, "Broker threads (default: half the cores)");
  sub->add_flag("--api-tls", o->api_tls, "Serve the API over HTTPS (certificate from the local CA)");
  return {sub, [o] {
            SystemClock wall;
            ScaledClock clock(wall.now(), o->time_scale);
            local::EmulatorOptions eo;
            eo.state_dir = o->state;
            eo.ca_dir = o->ca_dir;
            eo.address = o->address;
            eo.api_port = static_cast<std::uint16_t>(o->api_port);
            eo.mqtt_port = static_cast<std::uint16_t>(o->mqtt_port);
            eo.api_tls = o->api_tls;
            eo.clock = &clock;
            eo.durable = true;
            eo.window = duration_option("--window", o->window);
            eo.training = duration_option("--training", o->training);
            eo.min_datapoints = o->min_datapoints;
            // Half the cores by default: the fleet (or mosquitto_pub) needs the rest, and on 2 cores a second
            // broker thread costs ~1.5x the CPU per message in wake-ups (bench/run-broker-bench).
            eo.broker_threads = o->broker_threads ? o->broker_threads : std::max(1u, std::thread::hardware_concurrency() / 2);
            auto emulator = local::Emulator::create(eo);
            if (!emulator) bad_argument("local", "--state", emulator.error());
            if (auto st = (*emulator)->start(); !st) {
              std::cerr << "fleetsim local: " << st.error() << '\n';
              return exit_runtime_failure;
            }
            auto& e = **emulator;
            const std::string ca = e.ca_file().string(), api = e.api_url();
            std::cout << "fleetsim local: a local stand-in for AWS IoT Core and Device Defender (not AWS; Ctrl-C stops)\n"
                      << "  REST API  " << api << "   (SigV4, region us-east-1, the local keys below)\n"
                      << "  MQTT      " << e.mqtt_url() << "   (mutual TLS, CA " << ca << ")\n"
                      << "  state     " << o->state << ", time scale " << o->time_scale << "\n\n"
                      << "AWS CLI:\n"
                      << "  export AWS_ACCESS_KEY_ID=" << local::local_access_key_id
                      << " AWS_SECRET_ACCESS_KEY=" << local::local_secret_access_key << " AWS_DEFAULT_REGION=us-east-1\n"
                      << "  aws iot list-things --endpoint-url " << api << (o->api_tls ? " --ca-bundle " + ca : "") << "\n"
                      << "fleetsim:\n"
                      << "  fleetsim provision SCENARIO --endpoint-url " << api << " --certs certs/local/SCENARIO\n"
                      << "  fleetsim run SCENARIO --target " << e.mqtt_url() << " --ca " << ca << " --certs certs/local/SCENARIO\n"
                      << "  (a time-compressed scenario needs --time-scale equal to its clock.time_scale here; `fleetsim run`\n"
                      << "   without --target embeds the emulator on the scenario's own clock instead)\n"
                      << "MQTT clients (a provisioned thing's certificate; the client id is the thing name):\n"
                      << "  mosquitto_sub -h 127.0.0.1 -p " << e.mqtt_port() << " --cafile " << ca
                      << " --cert certs/local/SCENARIO/THING.pem --key certs/local/SCENARIO/THING.key -i THING -t 'cmd/#'\n"
                      << std::flush;
            wait_for_signal();
            std::cout << "fleetsim local: stopping\n";
            e.stop();
            return exit_ok;
          }};
}

}  // namespace fleetsim::cli

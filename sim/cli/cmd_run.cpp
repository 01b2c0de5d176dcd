// fleetsim run SCENARIO [--target T] [--shard I/N] [--workers N] [--out DIR] [--certs DIR] [--ca FILE]
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "sim/cli/aws_session.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/embedded.hpp"
#include "sim/fleet/engine.hpp"
#include "sim/scenario/expand.hpp"
#include "sim/scenario/loader.hpp"

namespace fleetsim::cli {

namespace {
struct RunCommandOptions {
  std::string file;
  std::string target;
  std::string shard = "0/1";
  unsigned workers = 0;
  std::string out;
  std::string certs;
  std::string ca;
  std::string duration;
  bool quiet = false;
  int metrics_port = -1;
  std::string metrics_address = "127.0.0.1";
  std::vector<std::string> source_addresses;
  AwsCliOptions aws;
  std::string tick = "1ms";
};

}  // namespace

Command add_run(CLI::App& app) {
  auto opts = std::make_shared<RunCommandOptions>();
  auto* sub = app.add_subcommand("run", "Run the scenario's fleet against its target and write the ground-truth ledger");
  sub->footer(
      "Each thing is a real MQTT connection whose client id is its thing name, with its own certificate\n"
      "(<certs>/<thing>.pem and .key) over mutual TLS for mqtts:// targets. Anomalies are injected as\n"
      "real traffic; each start and end is appended to the run directory's ledger as it happens.\n"
      "SIGINT or SIGTERM stops cleanly (open anomalies are closed in the ledger); a second one stops at once.\n"
      "Exit 0 when the run completed, 2 for bad input, 3 when no thing could connect.");
  sub->add_option("file", opts->file, "Scenario YAML file")->required();
  sub->add_option("--target", opts->target,
                  "Where to connect: local (the embedded emulator, the default), aws, mqtt://HOST:PORT or "
                  "mqtts://HOST:PORT (overrides the scenario)");
  sub->add_option("--shard", opts->shard, "This process's slice of the fleet, I/N (I from 0), or auto/N from "
                                          "JOB_COMPLETION_INDEX / AWS_BATCH_JOB_ARRAY_INDEX")
      ->capture_default_str();
  sub->add_option("--workers", opts->workers, "Worker threads (default: one per core)");
  sub->add_option("--out", opts->out, "Run directory (default: runs/<scenario>-<UTC time>)");
  sub->add_option("--certs", opts->certs, "Folder of per-thing certificates (default: certs/<scenario>/)");
  sub->add_option("--ca", opts->ca, "CA bundle that signed the broker's certificate (overrides target.ca_file)");
  sub->add_option("--duration", opts->duration, "Scenario time to run for (overrides clock.duration), e.g. 10m");
  sub->add_flag("--quiet", opts->quiet, "No progress or summary on the terminal");
  sub->add_option("--metrics-port", opts->metrics_port, "Serve Prometheus metrics on this port (0: any free port)")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--metrics-address", opts->metrics_address, "Address the metrics endpoint listens on")
      ->capture_default_str();
  sub->add_option("--source-address", opts->source_addresses,
                  "Local address to connect from; repeat it to spread things over several (each gives ~28k "
                  "ephemeral ports, e.g. 127.0.0.2 and 127.0.0.3 for 50k things on loopback)")
      ->allow_extra_args(false);
  sub->add_option("--tick", opts->tick,
                  "Scheduling granularity of each worker (real time): a coarser tick wakes less often and costs "
                  "less CPU per message, and sends up to one tick late (e.g. 5ms)")
      ->capture_default_str();
  auto* aws_group = sub->add_option_group("AWS", "For --target aws: where to find the account's data endpoint");
  add_aws_options(aws_group, opts->aws);
  return {sub, [opts] {
            auto [s, shard] = load_for_command("run", opts->file, opts->target, opts->shard);
            if (s.target.kind == scenario::Target::Kind::aws && s.target.host.empty()) {
              // The account's ATS data endpoint, as the AWS guide says to use; things connect to it on 8883.
              auto session = make_aws_session(opts->aws);
              auto r = expect_ok(session.client->call("DescribeEndpoint", {{"endpointType", "iot:Data-ATS"}}));
              // AWS answers a host name; the local emulator adds ":port" when its broker is not on 8883.
              auto endpoint = scenario::parse_target("mqtts://" + r["endpointAddress"].get<std::string>());
              if (!endpoint) bad_argument("run", "--target aws", "DescribeEndpoint answered " + r.dump());
              s.target.host = endpoint->host;
              s.target.port = endpoint->port;
              s.target.tls = true;
              std::cerr << "data endpoint: " << s.target.host << ":" << s.target.port << '\n';
            }
            if (!opts->ca.empty()) s.target.ca_file = opts->ca;
            fleet::RunOptions run;
            run.shard = shard;
            run.workers = opts->workers;
            run.out_dir = opts->out;
            run.certs_dir = opts->certs;
            run.quiet = opts->quiet;
            if (opts->metrics_port >= 0) run.metrics_port = static_cast<std::uint16_t>(opts->metrics_port);
            run.metrics_address = opts->metrics_address;
            run.source_addresses = opts->source_addresses;
            auto tick = parse_duration(opts->tick);
            if (!tick || tick->count() < 1 || tick->count() > 1000)
              bad_argument("run", "--tick", "'" + opts->tick + "' is not a tick from 1ms to 1s");
            run.tick = std::chrono::duration_cast<std::chrono::microseconds>(*tick);
            if (!opts->duration.empty()) {
              auto d = parse_duration(opts->duration);
              if (!d) bad_argument("run", "--duration", d.error());
              run.duration = *d;
            }
            std::ifstream in(opts->file, std::ios::binary);
            std::stringstream text;
            text << in.rdbuf();
            run.scenario_text = text.str();
            if (s.target.kind == scenario::Target::Kind::local) {
              if (shard.count > 1)
                bad_argument("run", "--shard", "the embedded local emulator runs the whole fleet in one process",
                             "run shards against a shared broker: fleetsim local, then --target mqtts://HOST:PORT");
              return run_embedded(std::move(s), std::move(run));
            }
            auto outcome = fleet::run_fleet(s, run);
            return outcome.exit_code;
          }};
}

}  // namespace fleetsim::cli

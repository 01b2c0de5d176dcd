#include "sim/cli/embedded.hpp"

#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "sim/aws/provision.hpp"
#include "sim/cli/aws_session.hpp"
#include "sim/core/error.hpp"
#include "sim/core/time.hpp"
#include "sim/local/api_server.hpp"
#include "sim/local/emulator.hpp"
#include "sim/local/metrics.hpp"
#include "sim/harness/run_report.hpp"

namespace fleetsim::cli {

namespace {

// A failure after the emulator started: thrown, so the emulator's threads stop as the stack unwinds
// (main prints "fleetsim: ..." and exits 3).
[[noreturn]] void runtime_failure(const std::string& message) { throw std::runtime_error("run: " + message); }

aws::IotClient local_client(const local::Emulator& emulator) {
  aws::IotClientOptions o;
  o.region = "us-east-1";
  o.endpoint_url = emulator.api_url();
  o.rate_limit = false;  // AWS's TPS quotas are not the emulator's
  return aws::IotClient(o, []() -> Expected<aws::Credentials> { return local::local_credentials(); });
}

// Every violation event of the run, suppressed alerts included, one AWS-shaped JSON object per line:
// what `fleetsim reconcile --violations FILE` reads.
std::size_t export_violations(aws::IotClient& client, EpochMillis from, EpochMillis to, const std::filesystem::path& file) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  nlohmann::json in = {{"startTime", double(from) / 1000.0}, {"endTime", double(to) / 1000.0},
                       {"listSuppressedAlerts", true}, {"maxResults", 250}};
  std::size_t n = 0;
  for (int page = 0; page < 100'000; ++page) {
    auto r = expect_ok(client.call("ListViolationEvents", in));
    for (const auto& e : r["violationEvents"]) {
      out << e.dump() << '\n';
      ++n;
    }
    if (!r.contains("nextToken")) break;
    in["nextToken"] = r["nextToken"];
  }
  if (!out.flush()) runtime_failure("cannot write " + file.string());
  return n;
}

// Every thing's datapoints over the run, one JSON object per line ({thing, metric, timestamp (epoch
// seconds, the window's end), value}): what reconcile reads to tell "not detected" from "not delivered".
std::size_t export_metrics(const local::MetricsRecorder& recorder, const std::vector<aws::ThingSpec>& things,
                           EpochMillis from, EpochMillis to, const std::filesystem::path& file) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  std::size_t n = 0;
  for (const auto& thing : things)
    for (std::size_t m = 0; m < local::metric_count; ++m) {
      const auto metric = local::metric_name(static_cast<local::Metric>(m));
      auto data = recorder.metric_values(thing.name, metric, from, to);
      for (auto it = data.rbegin(); it != data.rend(); ++it, ++n)  // oldest first
        out << nlohmann::json{{"thing", thing.name}, {"metric", metric}, {"timestamp", double(it->timestamp) / 1000.0},
                              {"value", it->value.to_json()}}
                   .dump()
            << '\n';
    }
  if (!out.flush()) runtime_failure("cannot write " + file.string());
  return n;
}

// The detector's settings from the scenario; what the broker refuses or closes goes to a log in the run
// directory (one line each, naming who).
local::EmulatorOptions emulator_options(const scenario::Scenario& s, const std::filesystem::path& run_dir,
                                        const ScaledClock& clock) {
  local::EmulatorOptions eo;
  eo.state_dir = run_dir / "emulator";
  eo.clock = &clock;
  eo.window = s.local_detector.window;
  eo.training = s.local_detector.training;
  eo.min_datapoints = s.local_detector.min_datapoints;
  eo.broker_threads = 1;  // the fleet needs the other core (bench/run-broker-bench)
  auto log_file = std::make_shared<std::ofstream>(run_dir / "emulator.log", std::ios::app);
  auto log_mutex = std::make_shared<std::mutex>();
  eo.log = [log_file, log_mutex, &clock](const std::string& line) {
    std::lock_guard lock(*log_mutex);
    *log_file << format_rfc3339(clock.now()) << ' ' << line << '\n' << std::flush;
  };
  return eo;
}

// The fleet connects to the emulator's broker over mutual TLS, verified against the local CA.
void aim_at(scenario::Target& t, const local::Emulator& emulator) {
  t.kind = scenario::Target::Kind::mqtt;
  t.host = "127.0.0.1";
  t.port = emulator.mqtt_port();
  t.tls = true;
  t.verify_peer = true;
  t.server_name = "127.0.0.1";
  t.ca_file = emulator.ca_file().string();
  t.cert_file.clear();  // each thing presents the certificate provisioning issued it
  t.key_file.clear();
}

}  // namespace

int run_embedded(scenario::Scenario s, fleet::RunOptions run) {
  SystemClock wall;
  const EpochMillis started = wall.now();
  if (run.out_dir.empty()) run.out_dir = fleet::default_run_dir(s.name, run.shard, started);
  std::error_code ec;
  std::filesystem::create_directories(run.out_dir, ec);
  if (ec) throw InputError({{Diagnostic::Severity::error, {"fleetsim run", 0, 0},
                             "cannot create the run directory " + run.out_dir.string() + ": " + ec.message(), ""}});
  ScaledClock clock(started, s.clock.time_scale);

  auto eo = emulator_options(s, run.out_dir, clock);
  auto emulator = local::Emulator::create(eo);
  if (!emulator) runtime_failure("cannot create the local emulator: " + emulator.error());
  if (auto st = (*emulator)->start(); !st) runtime_failure("cannot start the local emulator: " + st.error());
  if (!run.quiet)
    std::cerr << "local emulator: API " << (*emulator)->api_url() << ", MQTT " << (*emulator)->mqtt_url() << '\n';

  auto client = local_client(**emulator);
  auto plan = provision_plan_for(s, (run.out_dir / "certs").string());
  auto provisioned = aws::provision(client, plan, {});
  if (!provisioned.ok) runtime_failure("provisioning the local emulator failed: " + provisioned.error);
  if (!run.quiet)
    std::cerr << "provisioned " << plan.things.size() << " things"
              << (s.security_profile.present ? " and security profile " + s.security_profile.name : std::string()) << '\n';

  aim_at(s.target, **emulator);
  run.certs_dir = plan.certs_dir;
  run.clock = &clock;
  // Start the fleet on a window boundary, so the detector's first window is a whole one (when that is
  // a short wait in real time, as it is time-compressed).
  const EpochMillis w = s.local_detector.window.count();
  const EpochMillis boundary = (clock.now() / w + 1) * w;
  if (clock.real_until(boundary) < std::chrono::seconds(10)) std::this_thread::sleep_for(clock.real_until(boundary));
  const EpochMillis scenario_start = clock.now();
  if (auto d = run.duration ? run.duration : s.clock.duration) (*emulator)->traffic_ends(scenario_start + d->count());
  auto outcome = fleet::run_fleet(s, run);

  const EpochMillis end = clock.now();
  (*emulator)->traffic_ends(end);  // earlier than planned when a signal stopped the run
  (*emulator)->evaluate(end);
  const EpochMillis from = scenario_start - s.local_detector.window.count(), to = end + s.local_detector.window.count();
  auto events = export_violations(client, from, to, outcome.run_dir / "violations.jsonl");
  export_metrics((*emulator)->metrics(), plan.things, from, to, outcome.run_dir / "metrics.jsonl");
  (*emulator)->stop();
  if (outcome.exit_code != 0) return outcome.exit_code;

  // The detection-quality report, from the files just written (what `fleetsim reconcile RUN_DIR` reads).
  auto report = harness::reconcile_local_run(outcome.run_dir, {});
  if (!report) {
    std::cerr << "fleetsim run: the run finished but its report failed: " << report.error() << "\n";
    return exit_runtime_failure;
  }
  if (!run.quiet) std::cerr << events << " violation events from the local detector\n";
  std::cout << report->summary << std::flush;
  return report->exit_code;
}

}  // namespace fleetsim::cli

#include "sim/cli/embedded.hpp"

#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "sim/aws/provision.hpp"
#include "sim/cli/aws_session.hpp"
#include "sim/core/error.hpp"
#include "sim/core/time.hpp"
#include "sim/local/api_server.hpp"
#include "sim/local/emulator.hpp"

namespace fleetsim::cli {

namespace {

[[noreturn]] void runtime_failure(const std::string& message) {
  std::cerr << "fleetsim run: " << message << '\n';
  std::exit(exit_runtime_failure);
}

std::string utc_stamp(EpochMillis t) {
  std::string out;
  for (char c : format_rfc3339(t - t % 1000))
    if (c != '-' && c != ':') out += c;
  return out;
}

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

}  // namespace

int run_embedded(scenario::Scenario s, fleet::RunOptions run) {
  SystemClock wall;
  const EpochMillis started = wall.now();
  if (run.out_dir.empty()) run.out_dir = std::filesystem::path("runs") / (s.name + "-" + utc_stamp(started));
  std::error_code ec;
  std::filesystem::create_directories(run.out_dir, ec);
  if (ec) throw InputError({{Diagnostic::Severity::error, {"fleetsim run", 0, 0},
                             "cannot create the run directory " + run.out_dir.string() + ": " + ec.message(), ""}});
  ScaledClock clock(started, s.clock.time_scale);

  local::EmulatorOptions eo;
  eo.state_dir = run.out_dir / "emulator";
  eo.clock = &clock;
  eo.window = s.local_detector.window;
  eo.training = s.local_detector.training;
  eo.min_datapoints = s.local_detector.min_datapoints;
  eo.broker_threads = 1;
  // What the broker refused or dropped goes to a log in the run directory (one line each, with who).
  auto log_file = std::make_shared<std::ofstream>(run.out_dir / "emulator.log", std::ios::app);
  auto log_mutex = std::make_shared<std::mutex>();
  eo.log = [log_file, log_mutex, &clock](const std::string& line) {
    std::lock_guard lock(*log_mutex);
    *log_file << format_rfc3339(clock.now()) << ' ' << line << '\n' << std::flush;
  };
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

  s.target.kind = scenario::Target::Kind::mqtt;
  s.target.host = "127.0.0.1";
  s.target.port = (*emulator)->mqtt_port();
  s.target.tls = true;
  s.target.verify_peer = true;
  s.target.server_name = "127.0.0.1";
  s.target.ca_file = (*emulator)->ca_file().string();
  s.target.cert_file.clear();
  s.target.key_file.clear();
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
  auto n = export_violations(client, scenario_start - s.local_detector.window.count(), end + s.local_detector.window.count(),
                             outcome.run_dir / "violations.jsonl");
  (*emulator)->stop();
  if (!run.quiet)
    std::cerr << n << " violation events from the local detector in " << (outcome.run_dir / "violations.jsonl").string()
              << "\nreconcile: fleetsim reconcile " << outcome.run_dir.string() << " --violations "
              << (outcome.run_dir / "violations.jsonl").string() << '\n';
  return outcome.exit_code;
}

}  // namespace fleetsim::cli

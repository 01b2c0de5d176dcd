#include "sim/fleet/engine.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <optional>
#include <iostream>
#include <sstream>
#include <thread>

#include "sim/core/error.hpp"
#include "sim/fleet/prometheus.hpp"
#include "sim/fleet/worker.hpp"
#include "sim/ledger/ledger.hpp"

namespace fleetsim::fleet {

namespace {

constexpr std::size_t max_listed_never_connected = 10'000;

[[noreturn]] void bad_config(const std::string& message, const std::string& hint = {}) {
  throw InputError({{Diagnostic::Severity::error, {"fleetsim run", 0, 0}, message, hint}});
}

std::string utc_stamp(EpochMillis t) {
  auto s = format_rfc3339(t - t % 1000);  // 2026-12-04T16:05:20Z
  std::string out;
  for (char c : s)
    if (c != '-' && c != ':') out += c;
  return out;  // 20261204T160520Z
}

TransportSettings transport_for(const scenario::Target& t) {
  if (t.kind == scenario::Target::Kind::local)
    bad_config("the local emulator is not part of this build yet",
               "run against a broker: fleetsim run SCENARIO --target mqtts://HOST:8883 (or mqtt://HOST:1883)");
  if (t.kind == scenario::Target::Kind::aws && t.host.empty())
    bad_config("the AWS target needs its data endpoint until provisioning lands",
               "set target.url to mqtts://PREFIX-ats.iot.REGION.amazonaws.com:8883");
  TransportSettings s;
  s.tls = t.tls;
  s.server_name = t.server_name.empty() ? t.host : t.server_name;
  s.ca_file = t.ca_file;
  s.verify_peer = t.verify_peer;
  // AWS IoT's MQTT on port 443 needs ALPN x-amzn-mqtt-ca to tell it from HTTPS.
  bool aws_host = t.kind == scenario::Target::Kind::aws || t.host.ends_with(".amazonaws.com");
  if (aws_host && t.port == 443 && t.tls) s.alpn = {"x-amzn-mqtt-ca"};
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(t.host, std::to_string(t.port), ec);
  if (ec) bad_config("cannot resolve the target host '" + t.host + "': " + ec.message(), "check --target");
  for (const auto& r : results) s.endpoints.push_back(r.endpoint());
  return s;
}

void load_identities(const scenario::Scenario& s, const RunOptions& o, const scenario::Expansion& e,
                     FleetContext& ctx) {
  const auto& t = s.target;
  if (!t.tls) return;
  if (!t.cert_file.empty() || !t.key_file.empty()) {
    if (t.cert_file.empty() || t.key_file.empty())
      bad_config("target.cert_file and target.key_file go together", "set both, or neither for per-thing certificates");
    auto cert = pki::load_certificate(t.cert_file);
    if (!cert) bad_config(cert.error());
    auto key = pki::load_private_key(t.key_file);
    if (!key) bad_config(key.error());
    ctx.shared_identity = pki::CertifiedKey{*cert, *key};
    return;
  }
  std::filesystem::path dir = o.certs_dir.empty() ? std::filesystem::path("certs") / s.name : o.certs_dir;
  if (!std::filesystem::exists(dir)) return;  // a broker that does not ask for client certificates
  auto load = [&](const std::string& name, bool required) {
    auto cert = pki::load_certificate(dir / (name + ".pem"));
    auto key = pki::load_private_key(dir / (name + ".key"));
    if (cert && key) ctx.identities.emplace(name, pki::CertifiedKey{*cert, *key});
    else if (required)
      bad_config("no certificate for thing '" + name + "' in " + dir.string() + ": " + (cert ? key.error() : cert.error()),
                 "create them with fleetsim provision, or point --certs at a folder of <thing>.pem and <thing>.key");
  };
  for (const auto& thing : e.things) load(thing.name, true);
  load("fleetsim-controller", false);
}

// Every thing holds a socket: lift the soft descriptor limit to the hard one, and say so if it is short.
void raise_descriptor_limit(std::size_t things, bool quiet) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (!quiet && limit.rlim_cur < things + 64)
    std::cerr << "fleetsim: warning: the open-file limit is " << limit.rlim_cur << " for " << things
              << " things; raise it (ulimit -n) or some things will fail to connect\n";
}

}  // namespace

std::filesystem::path default_run_dir(const std::string& scenario, const scenario::Shard& shard, EpochMillis now) {
  std::filesystem::path dir = std::filesystem::path("runs") / (scenario + "-" + utc_stamp(now));
  if (shard.count > 1) dir += "-shard-" + std::to_string(shard.index) + "-of-" + std::to_string(shard.count);
  return dir;
}

nlohmann::json capacity_summary(const scenario::Scenario& s, std::uint64_t things, const Stats& st, double elapsed,
                                double scale) {
  double planned_rate = 0;  // real publishes per second at the baseline
  for (const auto& g : s.fleet) planned_rate += double(g.count) * g.baseline.publish.rate.per_second * scale;
  planned_rate *= double(things) / std::max<double>(1, double(s.thing_count()));
  double ramp = std::min(s.connection.ramp.per_second, s.connection.account_connects.per_second);
  double published = double(st.publishes_qos0 + st.publishes_qos1);
  return {
      {"things", things},
      {"elapsed_seconds", elapsed},
      {"planned", {{"connect_rate_per_s", ramp}, {"ramp_seconds", double(things) / ramp}, {"publish_rate_per_s", planned_rate}}},
      {"achieved",
       {{"connected", st.connects_ok}, {"publish_rate_per_s", elapsed > 0 ? published / elapsed : 0},
        {"published", published}, {"acked", st.acks}, {"received", st.messages_received}}},
      {"stats", st.to_json()},
  };
}

std::string format_capacity_summary(const nlohmann::json& j) {
  std::ostringstream out;
  auto ms = [](const nlohmann::json& h) {
    std::ostringstream o;
    o << "p50 " << h["p50"].get<double>() << " ms, p90 " << h["p90"].get<double>() << " ms, p99 "
      << h["p99"].get<double>() << " ms (" << h["count"].get<std::uint64_t>() << ")";
    return o.str();
  };
  const auto& st = j["stats"];
  out << "Capacity summary (" << j["things"] << " things, " << j["elapsed_seconds"].get<double>() << " s)\n";
  out << "  connects        planned " << j["planned"]["connect_rate_per_s"].get<double>() << "/s; connected "
      << j["achieved"]["connected"] << " times; connect time " << ms(st["latency_ms"]["connect"]) << "\n";
  out << "  publishes       planned " << j["planned"]["publish_rate_per_s"].get<double>() << "/s; achieved "
      << j["achieved"]["publish_rate_per_s"].get<double>() << "/s (" << j["achieved"]["published"] << " sent, "
      << j["achieved"]["acked"] << " acked)\n";
  out << "  QoS 1 ack       " << ms(st["latency_ms"]["qos1_ack"]) << "\n";
  out << "  lateness        " << ms(st["latency_ms"]["publish_lateness"]) << "; late " << st["messages"]["late"]
      << ", dropped " << st["messages"]["dropped_backpressure"] << " (backpressure) "
      << st["messages"]["dropped_disconnected"] << " (disconnected)\n";
  out << "  errors          tcp " << st["connections"]["failed_tcp"] << ", tls " << st["connections"]["failed_tls"]
      << ", refused " << st["connections"]["refused"] << ", timeouts " << st["connections"]["timeouts"]
      << ", throttled connects " << st["connections"]["throttled"] << "\n";
  out << "  disconnects     planned " << st["disconnects"]["planned"] << ", by broker " << st["disconnects"]["by_peer"]
      << " (+ " << st["disconnects"]["after_denied"] << " after denied requests, as planned), keep-alive "
      << st["disconnects"]["keep_alive"] << ", protocol " << st["disconnects"]["protocol"] << ", io "
      << st["disconnects"]["io"] << "\n";
  out << "  received        " << j["achieved"]["received"] << " messages; commands sent " << st["messages"]["commands_sent"]
      << "; reports " << st["messages"]["reports_sent"] << " (accepted " << st["messages"]["reports_accepted"]
      << ", rejected " << st["messages"]["reports_rejected"] << ")\n";
  out << "  anomalies       started " << st["anomalies"]["started"] << ", ended " << st["anomalies"]["ended"]
      << "; denied attempts " << st["messages"]["denied_attempts"] << ", SUBACK failures "
      << st["messages"]["suback_failures"] << "\n";
  if (j.contains("never_connected") && j["never_connected"]["count"].get<std::size_t>() > 0) {
    const auto& names = j["never_connected"]["things"];
    out << "  never connected " << j["never_connected"]["count"] << " things:";
    for (std::size_t i = 0; i < std::min<std::size_t>(names.size(), 5); ++i) out << ' ' << names[i].get<std::string>();
    out << (names.size() > 5 ? " ...\n" : "\n");
  }
  return out.str();
}

RunOutcome run_fleet(const scenario::Scenario& s, const RunOptions& o) {
  // Where and when.
  FleetContext ctx;
  ctx.scenario = &s;
  ctx.transport = transport_for(s.target);
  for (const auto& a : o.source_addresses) {
    boost::system::error_code aec;
    auto address = boost::asio::ip::make_address(a, aec);
    if (aec) bad_config("--source-address '" + a + "' is not an IP address");
    ctx.transport.source_addresses.push_back(address);
  }
  if (ctx.transport.tls) {
    auto tls = make_client_tls_context(ctx.transport);
    if (!tls) bad_config(tls.error(), "check target.ca_file");
    ctx.tls_context = *tls;
  }
  SystemClock wall;
  EpochMillis now = wall.now();
  EpochMillis start = o.clock ? o.clock->now() : s.clock.start.value_or(now);
  if (!o.clock && start < now && s.clock.time_scale != 1)
    bad_config("clock.start is in the past and time_scale is above 1", "use start: now for a time-compressed run");
  Millis horizon = o.duration ? *o.duration : scenario::plan_horizon(s, Millis(365LL * 86'400'000));
  auto expansion = scenario::expand(s, o.shard, horizon, start);
  if (expansion.things.empty()) bad_config("shard " + o.shard.describe() + " has no things", "use fewer shards");
  load_identities(s, o, expansion, ctx);
  raise_descriptor_limit(expansion.things.size(), o.quiet);
  ctx.controller_id = "fleetsim-controller-" + s.name + "-" + std::to_string(o.shard.index);
  ctx.tick = std::max(o.tick, std::chrono::microseconds(100));

  // The run directory: ledger, scenario copy, stats.
  std::filesystem::path dir = o.out_dir.empty() ? default_run_dir(s.name, o.shard, now) : o.out_dir;
  std::error_code fs_ec;
  std::filesystem::create_directories(dir, fs_ec);
  if (fs_ec) bad_config("cannot create the run directory " + dir.string() + ": " + fs_ec.message());
  std::ofstream(dir / "scenario.yaml", std::ios::binary) << o.scenario_text;
  ledger::Header header;
  header.run_id = s.name + "-" + utc_stamp(start);  // shards sharing an absolute start share it
  header.scenario = {s.name, s.file, s.sha256};
  header.seed = s.seed;
  header.shard = {o.shard.index, o.shard.count};
  header.time_scale = s.clock.time_scale;
  header.start_ms = start;
  header.target = scenario::describe(s.target);
  auto ledger_path = ledger::default_ledger_path(dir, header.shard);
  auto writer = ledger::LedgerWriter::open(ledger_path, header);
  if (!writer) bad_config(writer.error(), "choose another --out directory");
  ctx.ledger = writer->get();

  // Shards that share an absolute start wait for it.
  if (!o.clock && start > now) {
    if (!o.quiet) std::cerr << "waiting " << format_duration(Millis(start - now)) << " for the scenario start\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(start - now));
  }
  EpochMillis clock_origin = std::max(start, wall.now());  // joining a running schedule late (time_scale 1)
  std::optional<ScaledClock> own_clock;
  if (!o.clock) own_clock.emplace(clock_origin, s.clock.time_scale);
  const ScaledClock& clock = o.clock ? *o.clock : *own_clock;
  ctx.clock = &clock;
  ctx.start_ms = start;

  // Workers and their share of things, round-robin.
  unsigned n = o.workers ? o.workers : std::max(1u, std::thread::hardware_concurrency());
  n = std::min<unsigned>(n, static_cast<unsigned>(expansion.things.size()));
  std::vector<std::vector<scenario::ThingPlan>> plans(n);
  std::vector<std::vector<std::string>> neighbours(n);
  std::vector<std::vector<scenario::Occurrence>> occurrences(n);
  std::map<std::uint64_t, unsigned> worker_of;
  for (std::size_t i = 0; i < expansion.things.size(); ++i) {
    const auto& t = expansion.things[i];
    const auto& g = s.fleet[t.group];
    worker_of[t.global_index] = static_cast<unsigned>(i % n);
    plans[i % n].push_back(t);
    neighbours[i % n].push_back(g.name_of(t.index % g.count + 1));  // the next thing of its group
  }
  for (const auto& occ : expansion.occurrences) occurrences[worker_of[occ.thing]].push_back(occ);
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < n; ++i)
    workers.push_back(std::make_unique<Worker>(ctx, i, n, std::move(plans[i]), std::move(neighbours[i]),
                                               std::move(occurrences[i])));
  std::vector<std::thread> threads;
  auto real_start = std::chrono::steady_clock::now();
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  // The main thread: signals, the end of the scenario, heartbeats and progress.
  boost::asio::io_context main_ioc(1);
  boost::asio::signal_set signals(main_ioc, SIGINT, SIGTERM);
  boost::asio::steady_timer tick(main_ioc);
  bool stopping = false;
  ledger::RunEndReason reason = ledger::RunEndReason::completed;
  bool tty = isatty(STDERR_FILENO) && !o.quiet;
  auto stop_all = [&] {
    stopping = true;
    for (auto& w : workers) w->request_stop();
    tick.cancel();
  };
  std::function<void()> on_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (stopping) {
        std::cerr << "\nfleetsim: second signal, stopping at once (the ledger has everything up to now)\n";
        std::_Exit(exit_runtime_failure);
      }
      std::cerr << "\nfleetsim: " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                << ", stopping cleanly (send it again to stop at once)\n";
      reason = ledger::RunEndReason::stopped;
      stop_all();
      on_signal();
    });
  };
  on_signal();
  EpochMillis end = s.clock.duration || o.duration ? start + horizon.count() : INT64_MAX;
  auto figures = [&] {
    std::uint64_t connected = 0, published = 0, received = 0, errors = 0, active = 0;
    for (auto& w : workers) {
      connected += w->live().connected.load(std::memory_order_relaxed);
      published += w->live().published.load(std::memory_order_relaxed);
      received += w->live().received.load(std::memory_order_relaxed);
      errors += w->live().errors.load(std::memory_order_relaxed);
      active += w->live().active_anomalies.load(std::memory_order_relaxed);
    }
    return nlohmann::json{{"connected", connected}, {"published", published}, {"received", received},
                          {"errors", errors}, {"active_anomalies", active}};
  };
  std::uint64_t last_published = 0;
  auto last_tick = real_start;
  int ticks = 0;
  std::function<void()> on_tick = [&] {
    tick.expires_after(std::chrono::seconds(1));
    tick.async_wait([&](boost::system::error_code ec) {
      if (ec || stopping) return;
      auto f = figures();
      auto t = std::chrono::steady_clock::now();
      double rate = double(f["published"].get<std::uint64_t>() - last_published) /
                    std::max(1e-3, std::chrono::duration<double>(t - last_tick).count());
      last_published = f["published"].get<std::uint64_t>();
      last_tick = t;
      ++ticks;
      if (ticks % 10 == 0) (void)ctx.ledger->heartbeat(clock.now(), f);
      if (!o.quiet && (tty || ticks % 10 == 0)) {
        std::ostringstream line;
        line << "[" << format_duration(Millis(clock.now() - start - (clock.now() - start) % 1000)) << "] connected "
             << f["connected"] << "/" << expansion.things.size() << ", " << std::llround(rate) << " msg/s, anomalies "
             << f["active_anomalies"] << ", errors " << f["errors"];
        std::cerr << (tty ? "\r" + line.str() + "\033[K" : line.str() + "\n") << std::flush;
      }
      if (clock.now() >= end) {
        stop_all();
        return;
      }
      on_tick();
    });
  };
  on_tick();
  std::unique_ptr<MetricsServer> metrics;
  if (o.metrics_port) {
    boost::system::error_code aec;
    auto address = boost::asio::ip::make_address(o.metrics_address, aec);
    if (aec) bad_config("--metrics-address '" + o.metrics_address + "' is not an IP address");
    try {
      metrics = std::make_unique<MetricsServer>(main_ioc, boost::asio::ip::tcp::endpoint(address, *o.metrics_port), [&] {
        Stats merged;
        for (auto& w : workers) merged.merge(w->snapshot());
        auto f = figures();
        return prometheus_text(merged, {expansion.things.size(), f["connected"].get<std::uint64_t>(),
                                        f["active_anomalies"].get<std::uint64_t>()});
      });
    } catch (const std::exception& e) {
      stop_all();
      for (auto& t : threads) t.join();
      bad_config("cannot serve metrics on " + o.metrics_address + ":" + std::to_string(*o.metrics_port) + ": " + e.what(),
                 "pick another --metrics-port");
    }
    if (!o.quiet)
      std::cerr << "Prometheus metrics: http://" << o.metrics_address << ":" << metrics->port() << "/metrics\n";
  }
  // Threads end after stop; the main loop ends when the workers are done.
  std::thread joiner([&] {
    for (auto& t : threads) t.join();
    boost::asio::post(main_ioc, [&] {
      signals.cancel();
      tick.cancel();
      if (metrics) metrics->close();
    });
  });
  main_ioc.run();
  joiner.join();
  if (tty) std::cerr << "\n";

  RunOutcome out;
  out.run_dir = dir;
  for (auto& w : workers) out.stats.merge(w->final_stats());
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - real_start).count();
  out.summary = capacity_summary(s, expansion.things.size(), out.stats, elapsed, s.clock.time_scale);
  // Which things never connected: reconcile does not count them as observed (their anomalies were
  // never delivered). The list is capped; the count is exact.
  std::vector<std::string> never;
  for (auto& w : workers)
    for (auto& name : w->never_connected()) never.push_back(std::move(name));
  std::sort(never.begin(), never.end());
  const std::size_t never_count = never.size();
  if (never.size() > max_listed_never_connected) never.resize(max_listed_never_connected);
  out.summary["never_connected"] = {{"count", never_count}, {"things", never}};
  (void)ctx.ledger->run_end({clock.now(), reason});
  (void)ctx.ledger->close();
  std::ofstream(dir / "stats.json") << out.summary.dump(2) << "\n";
  if (!o.quiet) std::cerr << format_capacity_summary(out.summary) << "Run directory: " << dir.string() << "\n";
  out.exit_code = out.stats.connects_ok == 0 ? exit_runtime_failure : exit_ok;
  if (out.stats.connects_ok == 0 && !o.quiet)
    std::cerr << "fleetsim: no thing ever connected to " << scenario::describe(s.target)
              << "; check the target, the broker and the certificates\n";
  return out;
}

}  // namespace fleetsim::fleet

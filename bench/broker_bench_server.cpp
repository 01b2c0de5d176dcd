// broker_bench_server: the emulator's MQTT broker alone, for bench/run-broker-bench. Plain TCP on
// loopback (mosquitto in the same benchmark runs plain too), an authority that lets every client id do
// everything, and a counting observer that keeps per-client counters the way the metrics recorder does
// (a hash lookup by client id under a striped lock per message), so the figures include that work.
//
//   broker_bench_server --port 0 --threads 2     prints "listening PORT", runs until SIGINT/SIGTERM,
//                                                then prints the broker's stats as one JSON object
#include <signal.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <unordered_map>

#include "sim/local/broker.hpp"

namespace {

using namespace fleetsim::local;

struct AllowAll final : ConnectionPolicy {
  bool may_publish(std::string_view) const override { return true; }
  bool may_subscribe(std::string_view) const override { return true; }
  bool may_receive(std::string_view) const override { return true; }
};

struct OpenAuthority final : BrokerAuthority {
  std::shared_ptr<const ConnectionPolicy> policy = std::make_shared<AllowAll>();
  ConnectDecision authorize_connect(const ConnectionIdentity& who) const override {
    return {ConnectRefusal::none, policy, who.client_id, {}};
  }
};

/// Per client id: messages and bytes each way, connects, disconnects; striped locks like a recorder.
class CountingObserver final : public BrokerObserver {
 public:
  struct Counts {
    std::uint64_t sent = 0, sent_bytes = 0, received = 0, received_bytes = 0, connects = 0, disconnects = 0,
                  denied = 0, reports = 0;
  };
  void on_connect_attempt(const ConnectionIdentity& who, bool) override { with(who.client_id, [](Counts& c) { ++c.connects; }); }
  void on_disconnect(const ConnectionIdentity& who, DisconnectReason) override {
    with(who.client_id, [](Counts& c) { ++c.disconnects; });
  }
  void on_message_from_device(const ConnectionIdentity& who, std::string_view, std::size_t n) override {
    with(who.client_id, [n](Counts& c) {
      ++c.sent;
      c.sent_bytes += n;
    });
  }
  void on_message_to_device(const ConnectionIdentity& who, std::string_view, std::size_t n) override {
    with(who.client_id, [n](Counts& c) {
      ++c.received;
      c.received_bytes += n;
    });
  }
  void on_authorization_failure(const ConnectionIdentity& who, std::string_view, std::string_view) override {
    with(who.client_id, [](Counts& c) { ++c.denied; });
  }
  void on_device_report(std::string_view thing, const nlohmann::json&) override {
    with(std::string(thing), [](Counts& c) { ++c.reports; });
  }
  std::uint64_t total_sent() {
    std::uint64_t n = 0;
    for (auto& s : stripes_) {
      std::lock_guard lock(s.mutex);
      for (auto& [id, c] : s.counts) n += c.sent;
    }
    return n;
  }

 private:
  struct Stripe {
    std::mutex mutex;
    std::unordered_map<std::string, Counts> counts;
  };
  template <class F>
  void with(const std::string& id, F f) {
    auto& s = stripes_[std::hash<std::string>{}(id) % stripes_.size()];
    std::lock_guard lock(s.mutex);
    f(s.counts[id]);
  }
  std::array<Stripe, 64> stripes_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The emulator's MQTT broker alone, for benchmarks"};
  std::uint16_t port = 0;
  unsigned threads = 2;
  app.add_option("--port", port, "Port on 127.0.0.1 (0: a free one)");
  app.add_option("--threads", threads, "Broker threads");
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before the broker's threads exist, so they inherit the mask and sigwait gets them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  OpenAuthority authority;
  CountingObserver observer;
  BrokerOptions o;
  o.tls = false;
  o.port = port;
  o.threads = threads;
  o.authority = &authority;
  o.observer = &observer;
  o.connects_per_client_id_per_second = 0;  // a benchmark ramp, not an AWS account
  o.publishes_per_second = 1e9;
  o.log = [](std::string_view line) { std::cerr << line << '\n'; };
  auto broker = Broker::create(std::move(o));
  if (!broker) {
    std::cerr << "broker_bench_server: " << broker.error() << '\n';
    return 3;
  }
  auto listening = broker.value()->start();
  if (!listening) {
    std::cerr << "broker_bench_server: " << listening.error() << '\n';
    return 3;
  }
  std::cout << "listening " << *listening << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);

  auto s = broker.value()->stats();
  broker.value()->stop();
  nlohmann::json out = {{"connections_accepted", s.connections_accepted},
                        {"messages_in", s.messages_in},
                        {"messages_out", s.messages_out},
                        {"deliveries_dropped", s.deliveries_dropped},
                        {"publishes_throttled", s.publishes_throttled},
                        {"observer_sent", observer.total_sent()}};
  std::cout << out.dump() << std::endl;
  return 0;
}

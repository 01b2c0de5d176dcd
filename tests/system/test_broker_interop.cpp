// The emulator's broker against independent clients over mutual TLS: Eclipse Paho MQTT C++ and Debian's
// mosquitto_pub / mosquitto_sub, with certificates from a throwaway local CA (sim/core/pki).
#include <catch2/catch.hpp>
#include <mqtt/async_client.h>

#include "sim/local/broker.hpp"
#include "tests/support/observer.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/local/broker_test_support.hpp"

using namespace fleetsim;
using namespace fleetsim::test;
using local::Broker;
using local::BrokerOptions;

namespace {

template <class T>
T must(Expected<T> e) {
  if (!e) throw std::runtime_error(e.error());
  return std::move(e.value());
}

/// A TLS broker, its CA on disk, and certificates for the clients (dir/NAME.pem, dir/NAME.key).
struct Interop {
  TempDir dir;
  std::shared_ptr<pki::CertifiedKey> ca = std::make_shared<pki::CertifiedKey>(must(pki::create_ca("interop CA")));
  TestAuthority authority;
  RecordingObserver observer;
  std::unique_ptr<Broker> broker;
  std::string ca_file = dir.path() + "/ca.pem";

  Interop() {
    must(pki::write_certificate(ca_file, ca->certificate));
    for (const char* name : {"observer", "paho-pub", "mosq-pub", "mosq-sub"}) {
      auto c = issue(name, *ca);
      authority.allow(name, {"interop/#"});
      authority.certificates[name] = c.certificate.fingerprint_sha256();
    }
    auto stranger = must(pki::create_ca("not the local CA"));
    issue("intruder", stranger);
    BrokerOptions o;
    o.ca = ca;
    o.authority = &authority;
    o.observer = &observer;
    o.connects_per_client_id_per_second = 1000;  // the retry loops below reconnect quickly
    broker = must(Broker::create(std::move(o)));
    must(broker->start());
  }
  pki::CertifiedKey issue(const std::string& name, const pki::CertifiedKey& by) {
    auto c = must(pki::issue_client_certificate(by.certificate, by.key, name));
    must(pki::write_certificate(dir.path() + "/" + name + ".pem", c.certificate));
    must(pki::write_private_key(dir.path() + "/" + name + ".key", c.key));
    return c;
  }
  std::string host_port() const { return "127.0.0.1:" + std::to_string(broker->port()); }
  /// mosquitto_pub/_sub arguments for a client with the certificate of `cert_name`.
  std::vector<std::string> tls_args(const std::string& program, const std::string& client_id,
                                    const std::string& cert_name) const {
    return {program, "-h", "127.0.0.1", "-p", std::to_string(broker->port()), "-V", "mqttv311", "-i", client_id,
            "--cafile", ca_file, "--cert", dir.path() + "/" + cert_name + ".pem", "--key",
            dir.path() + "/" + cert_name + ".key"};
  }
  std::unique_ptr<::mqtt::async_client> paho(const std::string& client_id, const std::string& cert_name) {
    auto c = std::make_unique<::mqtt::async_client>("ssl://" + host_port(), client_id, ::mqtt::create_options(MQTTVERSION_3_1_1));
    auto ssl = ::mqtt::ssl_options_builder()
                   .trust_store(ca_file)
                   .key_store(dir.path() + "/" + cert_name + ".pem")
                   .private_key(dir.path() + "/" + cert_name + ".key")
                   .finalize();
    auto opts = ::mqtt::connect_options_builder().clean_session(true).connect_timeout(std::chrono::seconds(10)).ssl(ssl).finalize();
    c->connect(opts)->wait_for(std::chrono::seconds(10));
    return c;
  }
};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

TEST_CASE("interop: Paho publishes and receives at QoS 0 and 1 over mutual TLS", "[system][broker]") {
  Interop t;
  Observer watcher(t.host_port(), {"interop/#"}, t.ca_file, t.dir.path() + "/observer.pem", t.dir.path() + "/observer.key");
  auto pub = t.paho("paho-pub", "paho-pub");
  REQUIRE(pub->is_connected());
  // A QoS 1 publish completes only when the broker's PUBACK arrives.
  REQUIRE(pub->publish("interop/paho/q1", "one", 3, 1, false)->wait_for(std::chrono::seconds(10)));
  REQUIRE(pub->publish("interop/paho/q0", "zero", 4, 0, false)->wait_for(std::chrono::seconds(10)));
  REQUIRE(wait_until([&] { return watcher.count() >= 2; }, std::chrono::seconds(10)));
  auto seen = watcher.snapshot();
  CHECK(seen[0].topic == "interop/paho/q1");
  CHECK(seen[0].payload == "one");
  CHECK(seen[1].topic == "interop/paho/q0");
  CHECK(seen[1].payload == "zero");
  CHECK(t.observer.has("from paho-pub interop/paho/q1 3"));
  CHECK(t.observer.has("to observer interop/paho/q0 4"));
  pub->disconnect()->wait_for(std::chrono::seconds(5));
  CHECK(wait_until([&] { return t.observer.has("disconnect paho-pub CLIENT_INITIATED_DISCONNECT"); }, std::chrono::seconds(5)));
}

TEST_CASE("interop: mosquitto_pub and mosquitto_sub round trips at QoS 0 and 1", "[system][broker]") {
  Interop t;
  Observer watcher(t.host_port(), {"interop/#"}, t.ca_file, t.dir.path() + "/observer.pem", t.dir.path() + "/observer.key");
  for (const char* qos : {"0", "1"}) {
    std::string topic = std::string("interop/mosq/q") + qos;
    auto r = run_process(with(t.tls_args("/usr/bin/mosquitto_pub", "mosq-pub", "mosq-pub"),
                              {"-q", qos, "-t", topic, "-m", "hello " + std::string(qos)}),
                         std::chrono::seconds(20));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(wait_until([&] {
      for (const auto& o : watcher.snapshot())
        if (o.topic == topic && o.payload == "hello " + std::string(qos)) return true;
      return false;
    }, std::chrono::seconds(10)));
  }
  // mosquitto_sub prints the first message and exits; publish until its subscription is in place.
  ChildProcess sub(with(t.tls_args("/usr/bin/mosquitto_sub", "mosq-sub", "mosq-sub"),
                        {"-q", "1", "-t", "interop/to-mosq", "-C", "1", "-W", "20"}),
                   t.dir.path());
  auto pub = t.paho("paho-pub", "paho-pub");
  REQUIRE(pub->is_connected());
  for (int i = 0; i < 100 && sub.running(); ++i) {
    pub->publish("interop/to-mosq", "to mosquitto_sub", 16, 1, false)->wait_for(std::chrono::seconds(5));
    wait_until([&] { return !sub.running(); }, std::chrono::milliseconds(100));
  }
  auto r = sub.wait(std::chrono::seconds(10));
  CHECK(r.exit_code == 0);
  CHECK(r.out == "to mosquitto_sub\n");
  CHECK(t.observer.has("attempt mosq-sub accepted"));
}

TEST_CASE("interop: a wrong certificate is refused", "[system][broker]") {
  Interop t;
  // Signed by another CA: the TLS handshake fails.
  auto forged = run_process(with(t.tls_args("/usr/bin/mosquitto_pub", "mosq-pub", "intruder"),
                                 {"-t", "interop/x", "-m", "x"}),
                            std::chrono::seconds(20));
  CHECK(forged.exit_code != 0);
  CHECK_FALSE(t.observer.has("attempt mosq-pub accepted"));
  // A good certificate, but another thing's: CONNACK 5.
  auto borrowed = run_process(with(t.tls_args("/usr/bin/mosquitto_pub", "mosq-pub", "mosq-sub"),
                                   {"-t", "interop/x", "-m", "x"}),
                              std::chrono::seconds(20));
  CHECK(borrowed.exit_code != 0);
  CHECK_THAT(borrowed.err, Catch::Contains("not authori"));
  CHECK(t.observer.has("attempt mosq-pub refused"));
  // Paho with the forged certificate does not get connected either.
  bool connected = false;
  try {
    connected = t.paho("paho-pub", "intruder")->is_connected();
  } catch (const ::mqtt::exception&) {
  }
  CHECK_FALSE(connected);
  CHECK(t.broker->stats().handshake_failures >= 2);
}

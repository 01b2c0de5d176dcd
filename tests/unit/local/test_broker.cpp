// Test that header file is self-contained
#include "sim/local/broker.hpp"

#include <catch2/catch.hpp>

#include <thread>

#include "sim/local/device_report.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/local/broker_test_support.hpp"

using namespace fleetsim;
using namespace fleetsim::test;
using local::Broker;
using local::BrokerOptions;
using local::DisconnectReason;
using local::RefusalReason;
using mqtt::ConnectReturnCode;
using mqtt::PacketType;
using mqtt::QoS;
using mqtt::SubackCode;
using json = nlohmann::json;

namespace {

/// A broker on a free loopback port with its authority and observer; plain TCP unless `tls`.
struct Fixture {
  TestAuthority authority;
  RecordingObserver observer;
  std::shared_ptr<pki::CertifiedKey> ca;
  std::unique_ptr<Broker> broker;
  std::uint16_t port = 0;
  std::vector<std::string> log;
  std::mutex log_mutex;
  // The broker's threads log into `log` until they are joined: stop them before the members go.
  ~Fixture() {
    if (broker) broker->stop();
  }

  explicit Fixture(std::function<void(BrokerOptions&)> tune = {}, bool tls = false) {
    BrokerOptions o;
    o.tls = tls;
    if (tls) ca = std::make_shared<pki::CertifiedKey>(pki::create_ca("broker test CA").value());
    o.ca = ca;
    o.authority = &authority;
    o.observer = &observer;
    o.connects_per_client_id_per_second = 1000;  // tests reconnect quickly; the throttle test sets 1
    o.log = [this](std::string_view line) {
      std::lock_guard lock(log_mutex);
      log.emplace_back(line);
    };
    if (tune) tune(o);
    auto b = Broker::create(std::move(o));
    REQUIRE(b.has_value());
    broker = std::move(b.value());
    auto p = broker->start();
    REQUIRE(p.has_value());
    port = *p;
  }
  std::unique_ptr<RawClient> connected(const std::string& client_id, std::uint16_t keep_alive = 60) {
    auto c = std::make_unique<RawClient>(port);
    REQUIRE(c->connect(client_id, keep_alive) == ConnectReturnCode::accepted);
    return c;
  }
  bool wait_for(const std::string& event) {
    return wait_until([&] { return observer.has(event); }, 5s);
  }
};

std::size_t count_type(const std::vector<Received>& v, PacketType t) {
  return std::size_t(std::count_if(v.begin(), v.end(), [&](const Received& r) { return r.type == t; }));
}

}  // namespace

TEST_CASE("broker: QoS 1 publish is acknowledged and delivered to matching subscribers", "[broker]") {
  Fixture f;
  f.authority.allow("pub");
  f.authority.allow("sub");
  auto sub = f.connected("sub");
  auto pub = f.connected("pub");
  // Two overlapping filters: delivered once, at the highest granted QoS; QoS 2 is granted as 1.
  CHECK(sub->subscribe({"sensors/+/temp", "sensors/#"}, QoS::exactly_once) ==
        std::vector<SubackCode>{SubackCode::granted_qos1, SubackCode::granted_qos1});
  pub->publish("sensors/kitchen/temp", "21.5", QoS::at_least_once, 42);
  auto ack = pub->receive();
  REQUIRE(ack);
  CHECK(ack->type == PacketType::puback);
  CHECK(ack->packet_id == 42);
  auto got = sub->receive();
  REQUIRE(got);
  CHECK(got->type == PacketType::publish);
  CHECK(got->topic == "sensors/kitchen/temp");
  CHECK(got->payload == "21.5");
  CHECK(got->qos == QoS::at_least_once);
  CHECK(got->packet_id != 0);
  auto rest = sub->sync();
  REQUIRE(rest);
  CHECK(rest->empty());  // not twice
  // A QoS 0 publish is delivered at QoS 0 whatever the subscription grants; other topics are not.
  pub->publish("other/topic", "x");
  pub->publish("sensors", "y");  // `sensors/#` matches its parent level
  got = sub->receive();
  REQUIRE(got);
  CHECK(got->topic == "sensors");
  CHECK(got->qos == QoS::at_most_once);
  CHECK(f.observer.has("from pub sensors/kitchen/temp 4"));
  CHECK(f.observer.has("to sub sensors/kitchen/temp 4"));
  CHECK(f.observer.has("attempt sub accepted"));
  // UNSUBSCRIBE stops deliveries.
  sub->send(mqtt::Unsubscribe{9, {"sensors/+/temp", "sensors/#"}});
  auto unsuback = sub->receive();
  REQUIRE(unsuback);
  CHECK(unsuback->type == PacketType::unsuback);
  pub->publish("sensors/kitchen/temp", "22");
  REQUIRE(pub->sync());
  rest = sub->sync();
  REQUIRE(rest);
  CHECK(rest->empty());
  auto stats = f.broker->stats();
  CHECK(stats.connections == 2);
  CHECK(stats.messages_in == 4);
  CHECK(stats.messages_out == 2);
}

TEST_CASE("broker: a CONNECT with an unknown identity is refused with CONNACK 5", "[broker]") {
  Fixture f;
  f.authority.allow("known");
  RawClient c(f.port);
  CHECK(c.connect("stranger") == ConnectReturnCode::not_authorized);
  CHECK(c.closed_within(3s));
  CHECK(f.observer.has("attempt stranger refused"));
  CHECK_FALSE(f.observer.has("disconnect stranger AUTH_ERROR"));  // never accepted, so no disconnect
  CHECK(f.broker->stats().refused(RefusalReason::not_authorized) == 1);
  // Client ids AWS rejects before any policy: empty, too long, starting with '$'.
  for (std::string id : {std::string(), std::string(129, 'a'), std::string("$sys")}) {
    RawClient r(f.port);
    CHECK(r.connect(id) == ConnectReturnCode::identifier_rejected);
  }
  // Anything but CONNECT first is a protocol error.
  RawClient early(f.port);
  early.send(mqtt::Pingreq{});
  CHECK(early.closed_within(3s));
}

TEST_CASE("broker: a second connection with the same client id disconnects the first", "[broker]") {
  Fixture f;
  f.authority.allow("thing-1");
  auto first = f.connected("thing-1");
  auto second = f.connected("thing-1");
  CHECK(first->closed_within(3s));
  CHECK(f.wait_for("disconnect thing-1 DUPLICATE_CLIENTID"));
  REQUIRE(second->sync());  // the newer one stays
  CHECK(f.observer.count("attempt thing-1 accepted") == 2);
  CHECK(f.broker->stats().connections == 1);
}

TEST_CASE("broker: keep-alive is enforced at 1.5 times the client's value", "[broker]") {
  Fixture f([](BrokerOptions& o) { o.min_keep_alive = 1s; });
  f.authority.allow("sleepy");
  auto start = std::chrono::steady_clock::now();
  auto c = f.connected("sleepy", 1);
  REQUIRE(c->sync());
  CHECK(c->closed_within(5s));
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= 1400ms);
  CHECK(elapsed < 3s);
  CHECK(f.wait_for("disconnect sleepy MQTT_KEEP_ALIVE_TIMEOUT"));
}

TEST_CASE("broker: oversized payloads and bad topics end the connection (CLIENT_ERROR)", "[broker]") {
  Fixture f([](BrokerOptions& o) { o.max_payload = 1000; });
  f.authority.allow("dev", {"#", "$aws/rules/#"});
  auto ok = f.connected("dev");
  ok->publish("a/b", std::string(1000, 'x'), QoS::at_least_once);
  auto ack = ok->receive();
  REQUIRE(ack);
  CHECK(ack->type == PacketType::puback);
  ok->publish("a/1/2/3/4/5/6/7", "seven slashes", QoS::at_least_once);
  REQUIRE(ok->receive());
  ok->publish("$aws/rules/my_rule/a/1/2/3/4/5/6/7", "Basic Ingest prefix not counted", QoS::at_least_once);
  REQUIRE(ok->receive());
  ok->publish(std::string(256, 't'), "256 bytes", QoS::at_least_once);
  REQUIRE(ok->receive());

  auto expect_closed = [&](const std::function<void(RawClient&)>& act) {
    auto c = f.connected("dev");
    act(*c);
    CHECK(c->closed_within(3s));
    CHECK(f.wait_for("disconnect dev CLIENT_ERROR"));
    std::lock_guard lock(f.observer.mutex);
    f.observer.events.clear();
  };
  expect_closed([](RawClient& c) { c.publish("a/b", std::string(1001, 'x')); });
  expect_closed([](RawClient& c) { c.publish("a/b", std::string(200000, 'x')); });  // refused from its header
  expect_closed([](RawClient& c) { c.publish("a/1/2/3/4/5/6/7/8", "eight slashes"); });
  expect_closed([](RawClient& c) { c.publish(std::string(257, 't'), "257 bytes"); });
  expect_closed([](RawClient& c) { c.publish("a/+", "wildcard"); });
  expect_closed([](RawClient& c) { c.publish("a/\xff", "not UTF-8"); });
  expect_closed([](RawClient& c) { c.publish("a/b", "QoS 2", QoS::exactly_once); });
}

TEST_CASE("broker: publishes above the per-connection rate are discarded without PUBACK", "[broker]") {
  ManualClock clock(1'700'000'000'000);
  Fixture f([&](BrokerOptions& o) {
    o.clock = &clock;
    o.publishes_per_second = 5;
  });
  f.authority.allow("fast");
  auto c = f.connected("fast");
  for (std::uint16_t i = 1; i <= 7; ++i) c->publish("t", "x", QoS::at_least_once, i);
  auto seen = c->sync();
  REQUIRE(seen);
  REQUIRE(count_type(*seen, PacketType::puback) == 5);
  CHECK(seen->back().packet_id == 5);
  CHECK(f.broker->stats().publishes_throttled == 2);
  CHECK(f.broker->stats().messages_in == 5);
  // The next second of scenario time has room again; the connection stayed up.
  clock.advance(1000ms);
  c->publish("t", "x", QoS::at_least_once, 8);
  auto ack = c->receive();
  REQUIRE(ack);
  CHECK(ack->packet_id == 8);
}

TEST_CASE("broker: CONNECTs above the per-client-id rate are refused as THROTTLED", "[broker]") {
  ManualClock clock(1'700'000'000'000);
  Fixture f([&](BrokerOptions& o) {
    o.clock = &clock;
    o.connects_per_client_id_per_second = 1;
  });
  f.authority.allow("again");
  {
    auto c = f.connected("again");
    c->send(mqtt::Disconnect{});
    CHECK(c->closed_within(3s));
  }
  RawClient too_soon(f.port);
  CHECK(too_soon.connect("again") == ConnectReturnCode::server_unavailable);
  CHECK(f.broker->stats().refused(RefusalReason::throttled) == 1);
  CHECK(f.observer.has("attempt again refused"));
  CHECK(f.observer.has("disconnect again CLIENT_INITIATED_DISCONNECT"));
  clock.advance(1000ms);
  RawClient later(f.port);
  CHECK(later.connect("again") == ConnectReturnCode::accepted);
}

TEST_CASE("broker: the policy decides publish, subscribe and receive", "[broker]") {
  SECTION("a denied publish is an authorization failure and closes the connection") {
    Fixture f;
    f.authority.allow("dev", {"dev/#"});
    auto c = f.connected("dev");
    c->publish("other/data", "x", QoS::at_least_once);
    std::vector<Received> seen;
    CHECK(c->closed_within(3s, &seen));
    CHECK(count_type(seen, PacketType::puback) == 0);
    CHECK(f.wait_for("disconnect dev AUTH_ERROR"));
    CHECK(f.observer.has("denied dev iot:Publish other/data"));
    CHECK_FALSE(f.observer.has("from dev other/data 1"));
  }
  SECTION("without disconnect_on_denied_publish the connection stays and is acknowledged") {
    Fixture f([](BrokerOptions& o) { o.disconnect_on_denied_publish = false; });
    f.authority.allow("dev", {"dev/#"});
    auto c = f.connected("dev");
    c->publish("other/data", "x", QoS::at_least_once);
    auto ack = c->receive();
    REQUIRE(ack);
    CHECK(ack->type == PacketType::puback);
    CHECK(f.broker->stats().authorization_failures == 1);
  }
  SECTION("a denied subscribe gets 0x80 for that filter only") {
    Fixture f;
    f.authority.allow("dev", {"dev/#"});
    auto c = f.connected("dev");
    CHECK(c->subscribe({"dev/cmd", "other/#"}) == std::vector<SubackCode>{SubackCode::granted_qos1, SubackCode::failure});
    CHECK(f.observer.has("denied dev iot:Subscribe other/#"));
    REQUIRE(c->sync());
  }
  SECTION("a delivery the policy does not let the device receive is not sent") {
    Fixture f;
    f.authority.allow("pub");
    auto p = f.authority.allow("sub");
    p->receive = {"open/#"};
    auto sub = f.connected("sub");
    auto pub = f.connected("pub");
    REQUIRE(sub->subscribe({"#"}) == std::vector<SubackCode>{SubackCode::granted_qos1});
    pub->publish("secret/x", "1");
    pub->publish("open/x", "2");
    auto got = sub->receive();
    REQUIRE(got);
    CHECK(got->topic == "open/x");
    CHECK(f.wait_for("denied sub iot:Receive secret/x"));
    CHECK_FALSE(f.observer.has("to sub secret/x 1"));
  }
}

TEST_CASE("broker: device-side metric reports are checked and acknowledged", "[broker]") {
  ManualClock clock(1'700'000'000'000);
  Fixture f([&](BrokerOptions& o) { o.clock = &clock; });
  f.authority.allow("thing-1", {"thing-1/#"});
  auto c = f.connected("thing-1");
  // The report topic itself cannot be subscribed to; the acknowledgements can.
  CHECK(c->subscribe({"$aws/things/thing-1/defender/metrics/json", "$aws/things/thing-1/defender/metrics/+/+"}) ==
        std::vector<SubackCode>{SubackCode::failure, SubackCode::granted_qos1});
  const std::string topic = "$aws/things/thing-1/defender/metrics/json";
  c->publish(topic, R"({"hed":{"rid":17,"v":"1.0"},"met":{"ns":{"bi":1,"bo":2,"pi":3,"po":4}}})", QoS::at_least_once, 3);
  auto seen = c->sync();
  REQUIRE(seen);
  REQUIRE(seen->size() == 2);
  CHECK((*seen)[0].type == PacketType::puback);
  CHECK((*seen)[1].topic == topic + "/accepted");
  CHECK((*seen)[1].payload ==
        R"({"reportId":17,"status":"ACCEPTED","thingName":"thing-1","timestamp":1700000000000})");
  REQUIRE(f.observer.has("report thing-1"));
  {
    std::lock_guard lock(f.observer.mutex);
    CHECK(f.observer.reports.at(0) ==
          json::parse(R"({"header":{"report_id":17,"version":"1.0"},"metrics":{"network_stats":{"bytes_in":1,"bytes_out":2,"packets_in":3,"packets_out":4}}})"));
  }
  c->publish(topic, R"({"header":{"report_id":18,"version":"1.0"},"metrics":{"network_stats":{"bytes_in":-1}}})");
  auto rejected = c->receive();
  REQUIRE(rejected);
  CHECK(rejected->topic == topic + "/rejected");
  CHECK(json::parse(rejected->payload) ==
        json::parse(R"({"thingName":"thing-1","reportId":18,"status":"REJECTED","timestamp":1700000000000,
                        "statusDetails":{"ErrorCode":"InvalidPayload","ErrorMessage":"Malformed metrics report"}})"));
  // CBOR in, CBOR out.
  auto cbor = json::to_cbor(json::parse(R"({"hed":{"rid":19,"v":"1.0"},"met":{}})"));
  c->publish("$aws/things/thing-1/defender/metrics/cbor", std::string(cbor.begin(), cbor.end()));
  auto cbor_ack = c->receive();
  REQUIRE(cbor_ack);
  CHECK(cbor_ack->topic == "$aws/things/thing-1/defender/metrics/cbor/accepted");
  CHECK(json::from_cbor(cbor_ack->payload)["reportId"] == 19);
  // Another thing's report topic is the policy's business: denied here.
  c->publish("$aws/things/thing-2/defender/metrics/json", R"({"hed":{"rid":1,"v":"1.0"},"met":{}})");
  CHECK(c->closed_within(3s));
  CHECK(f.wait_for("denied thing-1 iot:Publish $aws/things/thing-2/defender/metrics/json"));
  auto stats = f.broker->stats();
  CHECK(stats.reports_accepted == 2);
  CHECK(stats.reports_rejected == 1);
}

TEST_CASE("broker: mutual TLS identifies the client by its certificate", "[broker]") {
  Fixture f({}, true);
  auto mine = pki::issue_client_certificate(f.ca->certificate, f.ca->key, "thing-1").value();
  auto other = pki::issue_client_certificate(f.ca->certificate, f.ca->key, "thing-2").value();
  f.authority.allow("thing-1");
  f.authority.certificates["thing-1"] = mine.certificate.fingerprint_sha256();
  {
    RawClient c(f.port, &mine, &f.ca->certificate);
    REQUIRE(c.handshake_error().empty());
    CHECK(c.connect("thing-1") == ConnectReturnCode::accepted);
    c.publish("a", "b", QoS::at_least_once);
    REQUIRE(c.receive());
  }
  {
    RawClient c(f.port, &other, &f.ca->certificate);  // a valid certificate, but not thing-1's
    REQUIRE(c.handshake_error().empty());
    CHECK(c.connect("thing-1") == ConnectReturnCode::not_authorized);
  }
  {
    RawClient c(f.port, nullptr, &f.ca->certificate);  // no client certificate at all
    bool refused = !c.handshake_error().empty() || c.connect("thing-1") != ConnectReturnCode::accepted;
    CHECK(refused);
    CHECK(wait_until([&] { return f.broker->stats().handshake_failures >= 1; }, 5s));
  }
  auto stranger_ca = pki::create_ca("someone else").value();
  auto forged = pki::issue_client_certificate(stranger_ca.certificate, stranger_ca.key, "thing-1").value();
  {
    RawClient c(f.port, &forged, &f.ca->certificate);
    bool refused = !c.handshake_error().empty() || c.connect("thing-1") != ConnectReturnCode::accepted;
    CHECK(refused);
  }
  CHECK(f.broker->url() == "mqtts://127.0.0.1:" + std::to_string(f.port));
}

TEST_CASE("broker: a connection that never sends CONNECT is closed after connect_timeout", "[broker]") {
  Fixture f([](BrokerOptions& o) { o.connect_timeout = 300ms; });
  RawClient silent(f.port);
  CHECK(silent.closed_within(3s));
}

TEST_CASE("broker: deliveries cross threads and stop() ends every connection", "[broker]") {
  Fixture f([](BrokerOptions& o) { o.threads = 3; });
  f.authority.allow("pub");
  std::vector<std::unique_ptr<RawClient>> subs;
  for (int i = 0; i < 6; ++i) {
    std::string id = "sub-" + std::to_string(i);
    f.authority.allow(id);
    subs.push_back(f.connected(id));
    REQUIRE(subs.back()->subscribe({"fleet/" + std::to_string(i) + "/cmd", "fleet/all"}).size() == 2);
  }
  auto pub = f.connected("pub");
  for (int i = 0; i < 6; ++i) pub->publish("fleet/" + std::to_string(i) + "/cmd", std::to_string(i), QoS::at_least_once);
  pub->publish("fleet/all", "everyone");
  REQUIRE(pub->sync());
  for (int i = 0; i < 6; ++i) {
    auto a = subs[i]->receive();
    auto b = subs[i]->receive();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->payload == std::to_string(i));
    CHECK(b->payload == "everyone");
  }
  f.broker->stop();
  for (auto& s : subs) CHECK(s->closed_within(3s));
  CHECK(f.observer.count("disconnect pub SERVER_INITIATED_DISCONNECT") == 1);
  CHECK(f.broker->stats().disconnected(DisconnectReason::server_initiated) == 7);
}

TEST_CASE("broker: a slow consumer loses QoS 0 beyond its queue cap and is closed for QoS 1", "[broker]") {
  Fixture f([](BrokerOptions& o) {
    o.max_queued_bytes_per_connection = 64 * 1024;
    o.publishes_per_second = 1e9;
  });
  f.authority.allow("pub");
  f.authority.allow("slow");
  auto slow = f.connected("slow");
  REQUIRE(slow->subscribe({"bulk/#"}, QoS::at_least_once).size() == 1);
  auto pub = f.connected("pub");
  // The slow client never reads: its socket buffers fill, then the broker's queue.
  const std::string payload(60000, 'p');
  for (int i = 0; i < 400 && f.broker->stats().deliveries_dropped == 0; ++i) {
    pub->publish("bulk/q0", payload);
    if (i % 20 == 19) REQUIRE(pub->sync());
  }
  CHECK(f.broker->stats().deliveries_dropped > 0);
  CHECK(f.observer.count("disconnect slow THROTTLED") == 0);
  pub->publish("bulk/q1", payload, QoS::at_least_once);
  CHECK(f.wait_for("disconnect slow THROTTLED"));
}

TEST_CASE("broker: sockets beyond max_connections are closed on accept", "[broker]") {
  Fixture f([](BrokerOptions& o) { o.max_connections = 2; });
  f.authority.allow("a");
  f.authority.allow("b");
  auto a = f.connected("a");
  auto b = f.connected("b");
  RawClient third(f.port);
  CHECK(third.closed_within(3s));
  CHECK(f.broker->stats().sockets_refused == 1);
  REQUIRE(a->sync());
  // A place frees up when a connection ends.
  a->send(mqtt::Disconnect{});
  CHECK(a->closed_within(3s));
  CHECK(wait_until([&] {
    RawClient again(f.port);
    return again.connect("a") == ConnectReturnCode::accepted;
  }, 5s));
}

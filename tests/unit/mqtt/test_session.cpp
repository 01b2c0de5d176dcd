// Test that the header file is self-contained.
#include "sim/mqtt/session.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/mqtt/hex_bytes.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/mqtt/codec.hpp"

using namespace fleetsim::mqtt;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------------------------
// Helpers: hex bytes, a recording handler, a fake clock made of SessionTime values advanced by hand.

namespace {

using fleetsim::test::bytes;
using fleetsim::test::hex;

std::string encoded(const Packet& p) {
  std::string out;
  const auto ec = encode(out, p);
  REQUIRE_FALSE(ec);
  return out;
}

/// Everything the session reported, in order, as one line per event so logs compare and print well.
struct Events final : SessionHandler {
  std::vector<std::string> log;
  struct Message {
    std::string topic, payload;
    QoS qos;
    std::uint16_t packet_id;
  };
  std::vector<Message> messages;
  std::vector<std::pair<std::uint16_t, std::chrono::microseconds>> published;
  std::vector<std::pair<std::uint16_t, std::vector<SubackCode>>> subscribed;
  int connected = 0;
  bool session_present = false;

  void on_connected(bool present) override {
    ++connected;
    session_present = present;
    log.push_back("connected " + std::to_string(present));
  }
  void on_message(const Publish& m) override {
    // Copied: the views are valid during the call only.
    messages.push_back({std::string(m.topic), std::string(m.payload), m.qos, m.packet_id});
    log.push_back("message " + std::string(m.topic) + " '" + std::string(m.payload) + "' qos" +
                  std::to_string(static_cast<int>(m.qos)) + " id" + std::to_string(m.packet_id));
  }
  void on_published(std::uint16_t id, std::chrono::microseconds latency) override {
    published.emplace_back(id, latency);
    log.push_back("published " + std::to_string(id) + " " + std::to_string(latency.count()) + "us");
  }
  void on_subscribed(std::uint16_t id, std::span<const SubackCode> codes) override {
    subscribed.emplace_back(id, std::vector<SubackCode>(codes.begin(), codes.end()));
    std::string line = "subscribed " + std::to_string(id);
    for (auto c : codes) line += " " + hex(std::string(1, static_cast<char>(c)));
    log.push_back(line);
  }
};

/// Feeds `wire` from an exactly-sized heap copy that dies right after the call, so the sanitizer build
/// catches a read past the input or a view kept into the caller's buffer.
std::error_code feed(ClientSession& s, std::string_view wire, SessionTime now, SessionHandler& h) {
  std::vector<std::uint8_t> copy(wire.begin(), wire.end());
  return s.receive(std::span<const std::uint8_t>(copy), now, h);
}

/// Takes what the session queued, as hex.
std::string take(ClientSession& s) {
  std::string out = std::move(s.pending_output());
  s.pending_output().clear();
  return hex(out);
}

/// The fake clock's origin; every test advances from it by hand.
const SessionTime t0 = SessionTime{} + 1000h;

SessionOptions options(std::string client_id = "t1") {
  SessionOptions o;
  o.client_id = std::move(client_id);
  o.keep_alive = 30s;
  o.connack_timeout = 5s;
  return o;
}

/// A session that sent CONNECT at `t0` and got CONNACK at t0 + 100 ms; its output is drained.
ClientSession connected_session(Events& ev, SessionOptions o = options()) {
  ClientSession s(std::move(o));
  s.start(t0);
  (void)take(s);
  REQUIRE_FALSE(feed(s, bytes("20 02 00 00"), t0 + 100ms, ev));
  REQUIRE(s.state() == ClientSession::State::connected);
  REQUIRE_FALSE(s.has_output());
  return s;
}

std::uint16_t publish_qos1(ClientSession& s, SessionTime now, std::string_view topic = "a/b",
                           std::string_view payload = "hi") {
  std::uint16_t id = 0;
  REQUIRE_FALSE(s.publish(topic, payload, QoS::at_least_once, now, &id));
  return id;
}

std::string puback(std::uint16_t id) { return encoded(Puback{id}); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Connecting

TEST_CASE("session: start() queues the exact CONNECT bytes") {
  SECTION("clean session, keep-alive 60 s") {
    SessionOptions o;
    o.client_id = "t1";
    ClientSession s(o);
    CHECK(s.state() == ClientSession::State::idle);
    CHECK_FALSE(s.has_output());
    s.start(t0);
    CHECK(s.state() == ClientSession::State::awaiting_connack);
    // 10 len | "MQTT" | level 4 | flags clean | keep-alive 60 | client id "t1"
    CHECK(take(s) == "10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 74 31");
  }
  SECTION("persistent session, keep-alive 300 s") {
    SessionOptions o;
    o.client_id = "thing-7";
    o.clean_session = false;
    o.keep_alive = 300s;
    ClientSession s(o);
    s.start(t0);
    CHECK(take(s) == "10 13 00 04 4d 51 54 54 04 00 01 2c 00 07 74 68 69 6e 67 2d 37");
  }
  SECTION("a keep-alive beyond the 16-bit field is clamped to 65535 s, not wrapped") {
    SessionOptions o;
    o.client_id = "t1";
    o.keep_alive = 70000s;
    ClientSession s(o);
    s.start(t0);
    CHECK(take(s) == "10 0e 00 04 4d 51 54 54 04 02 ff ff 00 02 74 31");
  }
}

TEST_CASE("session: CONNACK accepted makes it connected and calls on_connected") {
  Events ev;
  ClientSession s(options());
  s.start(t0);
  (void)take(s);
  SECTION("without a stored session") {
    REQUIRE_FALSE(feed(s, bytes("20 02 00 00"), t0 + 10ms, ev));
    CHECK(s.state() == ClientSession::State::connected);
    CHECK(ev.connected == 1);
    CHECK_FALSE(ev.session_present);
  }
  SECTION("with session present") {
    REQUIRE_FALSE(feed(s, bytes("20 02 01 00"), t0 + 10ms, ev));
    CHECK(ev.connected == 1);
    CHECK(ev.session_present);
  }
  CHECK_FALSE(s.has_output());  // nothing to answer
}

TEST_CASE("session: a refused CONNACK is connection_refused and never connects") {
  Events ev;
  ClientSession s(options());
  s.start(t0);
  (void)take(s);
  const auto ec = feed(s, bytes("20 02 00 05"), t0 + 10ms, ev);  // 5: not authorized
  CHECK(ec == session_error::connection_refused);
  CHECK(ev.connected == 0);
  CHECK(s.state() != ClientSession::State::connected);
  CHECK(s.publish("a/b", "x", QoS::at_most_once, t0 + 20ms) == session_error::not_connected);
}

TEST_CASE("session: no CONNACK before connack_timeout is connack_timeout") {
  Events ev;
  ClientSession s(options());  // connack_timeout 5 s
  CHECK(s.next_deadline() == SessionTime::max());  // idle: nothing to wait for
  s.start(t0);
  CHECK(s.next_deadline() == t0 + 5s);
  CHECK_FALSE(s.on_timer(t0 + 4999ms));
  CHECK(s.on_timer(t0 + 5s) == session_error::connack_timeout);
  CHECK(s.on_timer(t0 + 7s) == session_error::connack_timeout);

  SECTION("a CONNACK in time cancels the connect deadline") {
    ClientSession ok(options());
    ok.start(t0);
    REQUIRE_FALSE(feed(ok, bytes("20 02 00 00"), t0 + 4s, ev));
    CHECK(ok.next_deadline() == t0 + 30s);  // now the keep-alive, counted from CONNECT
    CHECK_FALSE(ok.on_timer(t0 + 6s));
  }
}

TEST_CASE("session: the first packet from the broker must be CONNACK") {
  Events ev;
  ClientSession s(options());
  s.start(t0);
  (void)take(s);
  const auto ec = feed(s, bytes("30 07 00 03 63 2f 31 67 6f"), t0 + 10ms, ev);
  CHECK(ec == session_error::protocol_violation);
  CHECK(ev.messages.empty());
  CHECK(ev.connected == 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Publishing

TEST_CASE("session: requests before CONNACK or after the end are not_connected") {
  Events ev;
  ClientSession s(options());
  std::uint16_t id = 99;
  const std::string_view filter = "c/1";
  CHECK(s.publish("a/b", "hi", QoS::at_least_once, t0, &id) == session_error::not_connected);
  CHECK(s.subscribe(std::span(&filter, 1), QoS::at_least_once, t0) == session_error::not_connected);
  s.start(t0);
  (void)take(s);
  CHECK(s.publish("a/b", "hi", QoS::at_most_once, t0) == session_error::not_connected);
  CHECK(s.publish("a/b", "hi", QoS::at_least_once, t0, &id) == session_error::not_connected);
  CHECK(s.subscribe(std::span(&filter, 1), QoS::at_least_once, t0) == session_error::not_connected);
  CHECK_FALSE(s.has_output());
  CHECK(s.unacknowledged() == 0);
  CHECK(id == 99);  // untouched on failure

  REQUIRE_FALSE(feed(s, bytes("20 02 00 00"), t0 + 1ms, ev));
  s.disconnect();
  (void)take(s);
  CHECK(s.publish("a/b", "hi", QoS::at_most_once, t0 + 2ms) == session_error::not_connected);
  CHECK_FALSE(s.has_output());
}

TEST_CASE("session: a QoS 0 publish queues the exact PUBLISH bytes and takes no packet id") {
  Events ev;
  auto s = connected_session(ev);
  std::uint16_t id = 99;
  REQUIRE_FALSE(s.publish("a/b", "hi", QoS::at_most_once, t0 + 1s, &id));
  CHECK(take(s) == "30 07 00 03 61 2f 62 68 69");
  CHECK(id == 0);
  CHECK(s.inflight() == 0);
  CHECK(s.unacknowledged() == 0);
}

TEST_CASE("session: QoS 1 publishes take increasing packet ids") {
  Events ev;
  auto s = connected_session(ev);
  CHECK(publish_qos1(s, t0 + 1s) == 1);
  CHECK(take(s) == "32 09 00 03 61 2f 62 00 01 68 69");
  CHECK(publish_qos1(s, t0 + 1s) == 2);
  CHECK(publish_qos1(s, t0 + 1s) == 3);
  CHECK(take(s) == "32 09 00 03 61 2f 62 00 02 68 69 32 09 00 03 61 2f 62 00 03 68 69");
  CHECK(s.inflight() == 3);
}

TEST_CASE("session: PUBACK reports the latency measured on the fake clock") {
  Events ev;
  auto s = connected_session(ev);
  REQUIRE(publish_qos1(s, t0 + 10ms) == 1);
  REQUIRE(publish_qos1(s, t0 + 20ms) == 2);
  (void)take(s);
  REQUIRE_FALSE(feed(s, puback(2), t0 + 260ms + 7us, ev));
  REQUIRE(ev.published.size() == 1);
  CHECK(ev.published[0].first == 2);
  CHECK(ev.published[0].second == 240007us);
  CHECK(s.unacknowledged() == 1);

  SECTION("a duplicate PUBACK is harmless") {
    REQUIRE_FALSE(feed(s, puback(2), t0 + 300ms, ev));
    CHECK(ev.published.size() == 1);
    CHECK(s.unacknowledged() == 1);  // id 1 is still waiting
    CHECK_FALSE(s.has_output());
  }
  SECTION("a PUBACK for an id never sent is harmless") {
    REQUIRE_FALSE(feed(s, puback(77), t0 + 300ms, ev));
    CHECK(ev.published.size() == 1);
    CHECK(s.unacknowledged() == 1);
  }
  SECTION("the other ack completes it") {
    REQUIRE_FALSE(feed(s, puback(1), t0 + 1s, ev));
    REQUIRE(ev.published.size() == 2);
    CHECK(ev.published[1] == std::pair<std::uint16_t, std::chrono::microseconds>(1, 990ms));
    CHECK(s.unacknowledged() == 0);
  }
}

TEST_CASE("session: a full in-flight window refuses QoS 1 until an ack frees a slot") {
  Events ev;
  auto o = options();
  o.max_inflight = 3;
  auto s = connected_session(ev, o);
  for (std::uint16_t want = 1; want <= 3; ++want) CHECK(publish_qos1(s, t0 + 1s) == want);
  (void)take(s);

  std::uint16_t id = 99;
  CHECK(s.publish("a/b", "hi", QoS::at_least_once, t0 + 1s, &id) == session_error::inflight_full);
  CHECK_FALSE(s.has_output());  // nothing queued for the refused one
  CHECK(id == 99);
  CHECK(s.inflight() == 3);
  // QoS 0 needs no window.
  CHECK_FALSE(s.publish("a/b", "hi", QoS::at_most_once, t0 + 1s));
  CHECK(take(s) == "30 07 00 03 61 2f 62 68 69");

  REQUIRE_FALSE(feed(s, puback(2), t0 + 2s, ev));
  CHECK(s.inflight() == 2);
  CHECK(publish_qos1(s, t0 + 2s) == 4);
  CHECK(s.publish("a/b", "hi", QoS::at_least_once, t0 + 2s) == session_error::inflight_full);
}

TEST_CASE("session: packet ids wrap from 65535 to 1, never 0, and skip ids still in flight") {
  Events ev;
  auto o = options();
  o.max_inflight = 10;
  auto s = connected_session(ev, o);
  // Ids 1 and 2 stay unacknowledged; every later one is acknowledged at once.
  REQUIRE(publish_qos1(s, t0 + 1s) == 1);
  REQUIRE(publish_qos1(s, t0 + 1s) == 2);
  std::size_t out_of_order = 0;
  for (std::uint32_t want = 3; want <= 65535; ++want) {
    std::uint16_t id = 0;
    if (s.publish("a/b", "", QoS::at_least_once, t0 + 1s, &id) || id != want) ++out_of_order;
    s.pending_output().clear();
    if (feed(s, puback(id), t0 + 1s, ev)) ++out_of_order;
  }
  CHECK(out_of_order == 0);
  CHECK(ev.published.size() == 65533);
  REQUIRE(s.unacknowledged() == 2);

  // After 65535 comes 1, but 1 and 2 are in flight.
  CHECK(publish_qos1(s, t0 + 2s) == 3);
  CHECK(take(s) == "32 09 00 03 61 2f 62 00 03 68 69");
  REQUIRE_FALSE(feed(s, puback(1), t0 + 3s, ev));
  CHECK(publish_qos1(s, t0 + 3s) == 4);  // still increasing; 1 is reused only on the next wrap
  CHECK(s.unacknowledged() == 3);
}

// ---------------------------------------------------------------------------------------------------------------
// Keep-alive

TEST_CASE("session: keep-alive pings after keep_alive without traffic and times out without PINGRESP") {
  Events ev;
  auto s = connected_session(ev);  // keep_alive 30 s; CONNECT at t0 is the last thing sent
  CHECK(s.next_deadline() == t0 + 30s);
  CHECK_FALSE(s.on_timer(t0 + 29999ms));
  CHECK_FALSE(s.has_output());

  REQUIRE_FALSE(s.on_timer(t0 + 30s));
  CHECK(take(s) == "c0 00");
  CHECK(s.next_deadline() == t0 + 60s);  // the PINGRESP deadline
  // One ping at a time: waking up again before the deadline sends nothing more.
  CHECK_FALSE(s.on_timer(t0 + 45s));
  CHECK_FALSE(s.has_output());

  SECTION("PINGRESP clears the outstanding ping") {
    REQUIRE_FALSE(feed(s, bytes("d0 00"), t0 + 31s, ev));
    CHECK(ev.log.size() == 1);  // only "connected": PINGRESP is not an event
    CHECK(s.next_deadline() == t0 + 60s);  // next ping, a keep-alive after the last one
    CHECK_FALSE(s.on_timer(t0 + 60s));  // not ping_timeout: the answer came
    CHECK(take(s) == "c0 00");
    CHECK(s.next_deadline() == t0 + 90s);
    CHECK_FALSE(s.on_timer(t0 + 89999ms));
    CHECK(s.on_timer(t0 + 90s) == session_error::ping_timeout);
  }
  SECTION("no PINGRESP within another keep_alive is ping_timeout") {
    CHECK_FALSE(s.on_timer(t0 + 59999ms));
    CHECK(s.on_timer(t0 + 60s) == session_error::ping_timeout);
  }
  SECTION("traffic does not excuse a missing PINGRESP") {
    REQUIRE_FALSE(s.publish("a/b", "hi", QoS::at_most_once, t0 + 50s));
    CHECK(s.next_deadline() == t0 + 60s);  // still the PINGRESP deadline, not a keep-alive after the publish
    CHECK(s.on_timer(t0 + 60s) == session_error::ping_timeout);
  }
}

TEST_CASE("session: sending traffic postpones the ping") {
  Events ev;
  auto s = connected_session(ev);
  REQUIRE_FALSE(s.publish("a/b", "hi", QoS::at_most_once, t0 + 20s));
  (void)take(s);
  CHECK(s.next_deadline() == t0 + 50s);
  CHECK_FALSE(s.on_timer(t0 + 30s));
  CHECK_FALSE(s.has_output());  // no ping: the publish counts as traffic
  const std::string_view filter = "c/1";
  REQUIRE_FALSE(s.subscribe(std::span(&filter, 1), QoS::at_least_once, t0 + 40s));
  (void)take(s);
  CHECK(s.next_deadline() == t0 + 70s);
  CHECK_FALSE(s.on_timer(t0 + 69999ms));
  CHECK_FALSE(s.has_output());
  REQUIRE_FALSE(s.on_timer(t0 + 70s));
  CHECK(take(s) == "c0 00");
}

TEST_CASE("session: keep_alive 0 disables pings") {
  Events ev;
  auto o = options();
  o.keep_alive = 0s;
  auto s = connected_session(ev, o);
  CHECK(s.next_deadline() == SessionTime::max());
  CHECK_FALSE(s.on_timer(t0 + 24h));
  CHECK_FALSE(s.has_output());
}

// ---------------------------------------------------------------------------------------------------------------
// Receiving

TEST_CASE("session: an incoming QoS 1 PUBLISH is acknowledged and delivered") {
  Events ev;
  auto s = connected_session(ev);
  // PUBLISH QoS 1, topic "c/1", packet id 7, payload "go"
  REQUIRE_FALSE(feed(s, bytes("32 09 00 03 63 2f 31 00 07 67 6f"), t0 + 1s, ev));
  CHECK(take(s) == "40 02 00 07");
  REQUIRE(ev.messages.size() == 1);
  CHECK(ev.messages[0].topic == "c/1");
  CHECK(ev.messages[0].payload == "go");
  CHECK(ev.messages[0].qos == QoS::at_least_once);
  CHECK(ev.messages[0].packet_id == 7);
}

TEST_CASE("session: an incoming QoS 0 PUBLISH is delivered without an answer") {
  Events ev;
  auto s = connected_session(ev);
  REQUIRE_FALSE(feed(s, bytes("30 0a 00 03 63 2f 32 68 65 6c 6c 6f"), t0 + 1s, ev));
  CHECK_FALSE(s.has_output());
  REQUIRE(ev.messages.size() == 1);
  CHECK(ev.messages[0].topic == "c/2");
  CHECK(ev.messages[0].payload == "hello");
  CHECK(ev.messages[0].qos == QoS::at_most_once);
}

TEST_CASE("session: an incoming QoS 2 PUBLISH gets PUBREC, and PUBREL gets PUBCOMP") {
  Events ev;
  auto s = connected_session(ev);
  REQUIRE_FALSE(feed(s, bytes("34 09 00 03 63 2f 31 00 09 67 6f"), t0 + 1s, ev));
  CHECK(take(s) == "50 02 00 09");
  CHECK(ev.messages.size() == 1);
  REQUIRE_FALSE(feed(s, bytes("62 02 00 09"), t0 + 2s, ev));
  CHECK(take(s) == "70 02 00 09");
}

TEST_CASE("session: SUBSCRIBE bytes, and SUBACK failure codes reach on_subscribed") {
  Events ev;
  auto s = connected_session(ev);
  const std::vector<std::string_view> filters{"c/1", "x/#"};
  std::uint16_t id = 0;
  REQUIRE_FALSE(s.subscribe(filters, QoS::at_least_once, t0 + 1s, &id));
  CHECK(id == 1);
  CHECK(take(s) == "82 0e 00 01 00 03 63 2f 31 01 00 03 78 2f 23 01");
  REQUIRE_FALSE(feed(s, bytes("90 04 00 01 01 80"), t0 + 2s, ev));
  REQUIRE(ev.subscribed.size() == 1);
  CHECK(ev.subscribed[0].first == 1);
  CHECK(ev.subscribed[0].second == std::vector<SubackCode>{SubackCode::granted_qos1, SubackCode::failure});
  CHECK_FALSE(s.has_output());
}

TEST_CASE("session: several packets in one receive() are all handled, in order") {
  Events ev;
  auto s = connected_session(ev);
  for (int i = 0; i < 3; ++i) (void)publish_qos1(s, t0 + 1s);
  REQUIRE_FALSE(feed(s, puback(3) + puback(1) + puback(2), t0 + 2s, ev));
  CHECK(ev.log == std::vector<std::string>{"connected 0", "published 3 1000000us", "published 1 1000000us",
                                           "published 2 1000000us"});
  CHECK(s.unacknowledged() == 0);
}

namespace {

// A connected session with QoS 1 ids 1 and 2 in flight (sent at t0 + 1 s) and SUBSCRIBE id 3.
ClientSession session_for_stream(Events& ev) {
  auto s = connected_session(ev);
  (void)publish_qos1(s, t0 + 1s);
  (void)publish_qos1(s, t0 + 1s);
  const std::string_view filter = "c/1";
  REQUIRE_FALSE(s.subscribe(std::span(&filter, 1), QoS::at_least_once, t0 + 1s));
  (void)take(s);
  return s;
}

// PUBACK 1, PUBLISH QoS 1, SUBACK 3, PUBLISH QoS 0, PUBACK 2, PINGRESP.
const std::string stream_bytes = bytes(
    "40 02 00 01"
    "32 09 00 03 63 2f 31 00 07 67 6f"
    "90 03 00 03 80"
    "30 0a 00 03 63 2f 32 68 65 6c 6c 6f"
    "40 02 00 02"
    "d0 00");
const std::vector<std::string> stream_log{"connected 0",          "published 1 2000000us", "message c/1 'go' qos1 id7",
                                          "subscribed 3 80",      "message c/2 'hello' qos0 id0",
                                          "published 2 2000000us"};

}  // namespace

TEST_CASE("session: packets split across receive() calls at every byte boundary") {
  SECTION("all in one call (the reference)") {
    Events ev;
    auto s = session_for_stream(ev);
    REQUIRE_FALSE(feed(s, stream_bytes, t0 + 3s, ev));
    CHECK(ev.log == stream_log);
    CHECK(take(s) == "40 02 00 07");
    CHECK(s.unacknowledged() == 0);
  }
  SECTION("one byte at a time") {
    Events ev;
    auto s = session_for_stream(ev);
    for (char c : stream_bytes) REQUIRE_FALSE(feed(s, std::string_view(&c, 1), t0 + 3s, ev));
    CHECK(ev.log == stream_log);
    CHECK(take(s) == "40 02 00 07");
  }
  SECTION("in three pieces, cut at every pair of boundaries") {
    std::size_t failures = 0;
    const std::string_view all = stream_bytes;
    for (std::size_t i = 0; i <= all.size(); ++i) {
      for (std::size_t j = i; j <= all.size(); ++j) {
        Events ev;
        auto s = session_for_stream(ev);
        bool ok = !feed(s, all.substr(0, i), t0 + 3s, ev) && !feed(s, all.substr(i, j - i), t0 + 3s, ev) &&
                  !feed(s, all.substr(j), t0 + 3s, ev);
        if (!ok || ev.log != stream_log || take(s) != "40 02 00 07" || s.unacknowledged() != 0) {
          ++failures;
          UNSCOPED_INFO("cut at " << i << " and " << j);
        }
      }
    }
    CHECK(failures == 0);
  }
  SECTION("CONNACK and a PUBLISH arriving together, cut anywhere") {
    const std::string wire = bytes("20 02 01 00 32 09 00 03 63 2f 31 00 07 67 6f");
    for (std::size_t i = 0; i <= wire.size(); ++i) {
      INFO("cut at " << i);
      Events ev;
      ClientSession s(options());
      s.start(t0);
      (void)take(s);
      REQUIRE_FALSE(feed(s, std::string_view(wire).substr(0, i), t0 + 1s, ev));
      REQUIRE_FALSE(feed(s, std::string_view(wire).substr(i), t0 + 1s, ev));
      CHECK(ev.log == std::vector<std::string>{"connected 1", "message c/1 'go' qos1 id7"});
      CHECK(take(s) == "40 02 00 07");
    }
  }
}

TEST_CASE("session: a broker sending client-to-broker packets is a protocol violation") {
  const std::vector<std::pair<const char*, Packet>> cases{
      {"CONNECT", Connect{"x"}},
      {"SUBSCRIBE", Subscribe{1, {{"a/b", QoS::at_least_once}}}},
      {"UNSUBSCRIBE", Unsubscribe{1, {"a/b"}}},
      {"PINGREQ", Pingreq{}},
      {"DISCONNECT", Disconnect{}},
      {"a second CONNACK", Connack{}},
  };
  for (const auto& [name, packet] : cases) {
    INFO(name);
    Events ev;
    auto s = connected_session(ev);
    CHECK(feed(s, encoded(packet), t0 + 1s, ev) == session_error::protocol_violation);
    CHECK(ev.log.size() == 1);
    CHECK_FALSE(s.has_output());
  }
  SECTION("CONNECT instead of CONNACK") {
    Events ev;
    ClientSession s(options());
    s.start(t0);
    CHECK(feed(s, encoded(Connect{"x"}), t0 + 1s, ev) == session_error::protocol_violation);
    CHECK(ev.connected == 0);
  }
}

TEST_CASE("session: malformed bytes are a protocol violation") {
  const std::vector<std::pair<const char*, const char*>> cases{
      {"reserved type 0", "00 00"},
      {"reserved type 15", "f0 00"},
      {"PUBACK with flag bits set", "41 02 00 01"},
      {"PUBACK with a trailing byte", "40 03 00 01 00"},
      {"PUBACK for packet id 0", "40 02 00 00"},
      {"remaining length over four bytes", "30 ff ff ff ff 01"},
      {"PUBLISH at QoS 3", "36 07 00 03 61 2f 62 00 01"},
      {"PUBLISH with a wildcard topic", "30 05 00 03 61 2f 23"},
      {"SUBACK with return code 3", "90 03 00 01 03"},
      {"PINGRESP with a body", "d0 01 00"},
  };
  for (const auto& [name, hex_bytes] : cases) {
    INFO(name);
    Events ev;
    auto s = connected_session(ev);
    REQUIRE_FALSE(s.publish("a/b", "hi", QoS::at_least_once, t0 + 1s));
    (void)take(s);
    // A good PUBACK first: it is handled, then the bad packet ends the connection.
    CHECK(feed(s, puback(1) + bytes(hex_bytes), t0 + 2s, ev) == session_error::protocol_violation);
    CHECK(ev.published.size() == 1);
    CHECK(ev.messages.empty());
    CHECK(ev.subscribed.empty());
  }
  SECTION("a bad CONNACK return code is malformed, not a refusal") {
    Events ev;
    ClientSession s(options());
    s.start(t0);
    CHECK(feed(s, bytes("20 02 00 06"), t0 + 1s, ev) == session_error::protocol_violation);
    CHECK(ev.connected == 0);
  }
  SECTION("a packet over max_packet fails from its header, before the body arrives") {
    Events ev;
    auto o = options();
    o.max_packet = 64;
    auto s = connected_session(ev, o);
    CHECK(feed(s, bytes("30 c8 01"), t0 + 1s, ev) == session_error::protocol_violation);  // 203 bytes
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Ending

TEST_CASE("session: a handler that disconnects stops the rest of the bytes being handled") {
  struct Quitter final : SessionHandler {
    ClientSession* session = nullptr;
    int messages = 0;
    void on_message(const Publish&) override {
      ++messages;
      session->disconnect();
    }
  };
  Events ev;
  auto s = connected_session(ev);
  Quitter q;
  q.session = &s;
  // Two PUBLISHes, then bytes that are not a packet: none of it matters once the session is closed.
  const auto ec = feed(s, bytes("30 07 00 03 63 2f 31 67 6f 30 07 00 03 63 2f 31 67 6f f0 00"), t0 + 1s, q);
  CHECK_FALSE(ec);
  CHECK(q.messages == 1);
  CHECK(s.state() == ClientSession::State::closed);
  CHECK(take(s) == "e0 00");
}

TEST_CASE("session: disconnect() queues DISCONNECT and closes") {
  Events ev;
  auto s = connected_session(ev);
  s.disconnect();
  CHECK(take(s) == "e0 00");
  CHECK(s.state() == ClientSession::State::closed);
  CHECK(s.next_deadline() == SessionTime::max());
  CHECK_FALSE(s.on_timer(t0 + 24h));  // no pings and no timeouts after the end
  CHECK_FALSE(s.has_output());

  SECTION("before CONNACK there is nothing to say") {
    ClientSession early(options());
    early.start(t0);
    (void)take(early);
    early.disconnect();
    CHECK_FALSE(early.has_output());
    CHECK(early.state() == ClientSession::State::closed);
    CHECK_FALSE(early.on_timer(t0 + 1h));  // no connack_timeout once closed
  }
}

TEST_CASE("session: unacknowledged() counts QoS 1 publishes in flight until acked or restarted") {
  Events ev;
  auto s = connected_session(ev);
  CHECK(s.unacknowledged() == 0);
  REQUIRE_FALSE(s.publish("a/b", "x", QoS::at_most_once, t0 + 1s));
  CHECK(s.unacknowledged() == 0);
  for (int i = 0; i < 5; ++i) (void)publish_qos1(s, t0 + 1s);
  CHECK(s.unacknowledged() == 5);
  REQUIRE_FALSE(feed(s, puback(4), t0 + 2s, ev));
  CHECK(s.unacknowledged() == 4);
  // Still counted after the end: the owner adds them to lost_unacked.
  s.disconnect();
  CHECK(s.unacknowledged() == 4);
  // A new connection starts from an empty window.
  s.start(t0 + 10s);
  CHECK(s.unacknowledged() == 0);
  CHECK(take(s) == "10 0e 00 04 4d 51 54 54 04 02 00 1e 00 02 74 31");  // only the new CONNECT is queued
}

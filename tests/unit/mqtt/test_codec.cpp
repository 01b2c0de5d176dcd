// Test that the header file is self-contained.
#include "sim/mqtt/codec.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/mqtt/hex_bytes.hpp"

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/rng.hpp"
#include "sim/mqtt/topic.hpp"

using namespace fleetsim;
using namespace fleetsim::mqtt;
using namespace std::string_view_literals;

// ---------------------------------------------------------------------------------------------------------------
// Helpers

namespace {

using fleetsim::test::bytes;
using fleetsim::test::hex;

/// A packet with its remaining length computed: `frame(0x30, "00 03 61 2f 62")`.
std::string frame(std::uint8_t first, std::string_view body_hex) {
  const std::string body = bytes(body_hex);
  std::string out(1, static_cast<char>(first));
  REQUIRE(append_remaining_length(out, static_cast<std::uint32_t>(body.size())));
  return out + body;
}

std::string encoded(const Packet& p) {
  std::string out;
  const auto ec = encode(out, p);
  REQUIRE_FALSE(ec);
  return out;
}

/// Decodes from an exactly-sized heap copy, so the sanitizer build catches any read past the input.
/// The copy lives as long as the Decoded, keeping the packet's views valid.
struct Decoded {
  std::vector<std::uint8_t> input;
  DecodeResult result;
};
Decoded decode_copy(std::string_view wire, std::size_t limit = max_packet_size) {
  Decoded d;
  d.input.assign(wire.begin(), wire.end());
  d.result = decode(std::span<const std::uint8_t>(d.input), limit);
  return d;
}

std::error_code decode_failure(std::string_view wire, std::size_t limit = max_packet_size) {
  auto d = decode_copy(wire, limit);
  if (d.result.status != DecodeStatus::error) return {};
  return d.result.error;
}

}  // namespace

namespace fleetsim::mqtt {
std::ostream& operator<<(std::ostream& os, DecodeStatus s) {
  return os << (s == DecodeStatus::need_more ? "need_more" : s == DecodeStatus::packet ? "packet" : "error");
}
}  // namespace fleetsim::mqtt

namespace Catch {
template <>
struct StringMaker<Packet> {
  static std::string convert(const Packet& p) {
    std::string wire;
    auto ec = encode(wire, p);
    return std::string(to_string(packet_type(p))) + (ec ? " (not encodable: " + ec.message() + ")" : " [" + hex(wire) + "]");
  }
};
}  // namespace Catch

// ---------------------------------------------------------------------------------------------------------------
// Byte vectors for every packet type, both directions

namespace {

struct Vector {
  const char* name;
  Packet packet;
  const char* wire;
};

const std::vector<Vector>& vectors() {
  static const std::vector<Vector> all = {
      {"CONNECT client id a, clean session, keep-alive 60", Connect{.client_id = "a", .keep_alive = 60},
       "10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 61"},
      {"CONNECT with will (QoS 1, retained), user name and password",
       Connect{.client_id = "a",
               .keep_alive = 10,
               .will = Will{.topic = "w", .message = "bye", .qos = QoS::at_least_once, .retain = true},
               .username = "u",
               .password = "p"},
       "10 1b 00 04 4d 51 54 54 04 ee 00 0a 00 01 61 00 01 77 00 03 62 79 65 00 01 75 00 01 70"},
      {"CONNECT persistent session, empty user name, keep-alive 258",
       Connect{.client_id = "dev", .keep_alive = 0x0102, .clean_session = false, .username = ""},
       "10 11 00 04 4d 51 54 54 04 80 01 02 00 03 64 65 76 00 00"},
      {"CONNECT empty client id, QoS 2 will with empty message",
       Connect{.client_id = "", .will = Will{.topic = "t", .message = "", .qos = QoS::exactly_once}},
       "10 11 00 04 4d 51 54 54 04 16 00 00 00 00 00 01 74 00 00"},
      {"CONNECT MQTT 3.1 (MQIsdp, level 3)", Connect{.client_id = "a", .keep_alive = 60, .protocol_level = 3},
       "10 0f 00 06 4d 51 49 73 64 70 03 02 00 3c 00 01 61"},
      {"CONNECT binary password", Connect{.client_id = "a", .username = "u", .password = "\xff\x00"sv},
       "10 14 00 04 4d 51 54 54 04 c2 00 00 00 01 61 00 01 75 00 02 ff 00"},
      {"CONNACK accepted", Connack{}, "20 02 00 00"},
      {"CONNACK session present", Connack{.session_present = true}, "20 02 01 00"},
      {"CONNACK identifier rejected", Connack{.return_code = ConnectReturnCode::identifier_rejected}, "20 02 00 02"},
      {"CONNACK not authorized", Connack{.return_code = ConnectReturnCode::not_authorized}, "20 02 00 05"},
      {"PUBLISH QoS 0", Publish{.topic = "a/b", .payload = "hi"}, "30 07 00 03 61 2f 62 68 69"},
      {"PUBLISH QoS 0 retained, empty payload", Publish{.topic = "a/b", .retain = true}, "31 05 00 03 61 2f 62"},
      {"PUBLISH QoS 1 DUP retained",
       Publish{.topic = "a/b", .payload = "hi", .qos = QoS::at_least_once, .retain = true, .dup = true, .packet_id = 10},
       "3b 09 00 03 61 2f 62 00 0a 68 69"},
      {"PUBLISH QoS 2 id 65535", Publish{.topic = "a/b", .payload = "hi", .qos = QoS::exactly_once, .packet_id = 0xffff},
       "34 09 00 03 61 2f 62 ff ff 68 69"},
      {"PUBLISH UTF-8 topic", Publish{.topic = "\xc3\xa9"}, "30 04 00 02 c3 a9"},
      {"PUBLISH binary payload", Publish{.topic = "t", .payload = "\x00\xff\x80"sv}, "30 06 00 01 74 00 ff 80"},
      {"PUBLISH $SYS topic", Publish{.topic = "$SYS/x", .payload = ""}, "30 08 00 06 24 53 59 53 2f 78"},
      {"PUBACK", Puback{.packet_id = 1}, "40 02 00 01"},
      {"PUBREC", Pubrec{.packet_id = 0x1234}, "50 02 12 34"},
      {"PUBREL", Pubrel{.packet_id = 10}, "62 02 00 0a"},
      {"PUBCOMP", Pubcomp{.packet_id = 0xffff}, "70 02 ff ff"},
      {"SUBSCRIBE (spec example: a/b QoS 1, c/d QoS 2)",
       Subscribe{.packet_id = 10, .subscriptions = {{"a/b", QoS::at_least_once}, {"c/d", QoS::exactly_once}}},
       "82 0e 00 0a 00 03 61 2f 62 01 00 03 63 2f 64 02"},
      {"SUBSCRIBE with wildcard", Subscribe{.packet_id = 1, .subscriptions = {{"sport/#", QoS::at_most_once}}},
       "82 0c 00 01 00 07 73 70 6f 72 74 2f 23 00"},
      {"SUBACK (granted 0, granted 2, failure)",
       Suback{.packet_id = 10, .return_codes = {SubackCode::granted_qos0, SubackCode::granted_qos2, SubackCode::failure}},
       "90 05 00 0a 00 02 80"},
      {"SUBACK granted 1", Suback{.packet_id = 1, .return_codes = {SubackCode::granted_qos1}}, "90 03 00 01 01"},
      {"UNSUBSCRIBE (spec example: a/b, c/d)", Unsubscribe{.packet_id = 10, .filters = {"a/b", "c/d"}},
       "a2 0c 00 0a 00 03 61 2f 62 00 03 63 2f 64"},
      {"UNSUBSCRIBE wildcard", Unsubscribe{.packet_id = 2, .filters = {"+/#"}}, "a2 07 00 02 00 03 2b 2f 23"},
      {"UNSUBACK", Unsuback{.packet_id = 10}, "b0 02 00 0a"},
      {"PINGREQ", Pingreq{}, "c0 00"},
      {"PINGRESP", Pingresp{}, "d0 00"},
      {"DISCONNECT", Disconnect{}, "e0 00"},
  };
  return all;
}

}  // namespace

TEST_CASE("mqtt: every packet type encodes to the specification's bytes", "[mqtt][codec][vectors]") {
  for (const auto& v : vectors()) {
    INFO(v.name);
    CHECK(hex(encoded(v.packet)) == hex(bytes(v.wire)));
  }
}

TEST_CASE("mqtt: every packet type decodes from the specification's bytes", "[mqtt][codec][vectors]") {
  for (const auto& v : vectors()) {
    INFO(v.name);
    const std::string wire = bytes(v.wire);
    auto d = decode_copy(wire);
    REQUIRE(d.result.status == DecodeStatus::packet);
    CHECK(d.result.consumed == wire.size());
    CHECK(d.result.packet == v.packet);
    CHECK(packet_type(d.result.packet) == static_cast<PacketType>(static_cast<std::uint8_t>(wire[0]) >> 4));
  }
}

TEST_CASE("mqtt: the byte vectors cover every packet type", "[mqtt][codec][vectors]") {
  std::vector<bool> seen(15, false);
  for (const auto& v : vectors()) seen[static_cast<std::size_t>(packet_type(v.packet))] = true;
  for (int t = 1; t <= 14; ++t) {
    INFO(to_string(static_cast<PacketType>(t)));
    CHECK(seen[static_cast<std::size_t>(t)]);
  }
}

TEST_CASE("mqtt: decoded strings are views into the input, not copies", "[mqtt][codec][lifetime]") {
  const std::string wire = bytes("3b 09 00 03 61 2f 62 00 0a 68 69");
  auto r = decode(wire);
  REQUIRE(r.status == DecodeStatus::packet);
  const auto& p = std::get<Publish>(r.packet);
  CHECK(p.topic.data() == wire.data() + 4);
  CHECK(p.payload.data() == wire.data() + 9);
  CHECK(p.payload.size() == 2);
}

TEST_CASE("mqtt: packet_type and to_string name every packet", "[mqtt][codec]") {
  CHECK(to_string(PacketType::connect) == "CONNECT");
  CHECK(to_string(PacketType::publish) == "PUBLISH");
  CHECK(to_string(PacketType::disconnect) == "DISCONNECT");
  CHECK(to_string(static_cast<PacketType>(0)) == "RESERVED");
  CHECK(to_string(static_cast<PacketType>(15)) == "RESERVED");
  CHECK(packet_type(Packet{Suback{}}) == PacketType::suback);
  CHECK(packet_type(Packet{Pingresp{}}) == PacketType::pingresp);
}

// ---------------------------------------------------------------------------------------------------------------
// Remaining length (spec 2.2.3, table 2.4)

TEST_CASE("mqtt: remaining length encodes as in table 2.4", "[mqtt][codec][remaining_length]") {
  struct Row {
    std::uint32_t value;
    const char* wire;
  };
  const Row rows[] = {
      {0, "00"},           {127, "7f"},          {128, "80 01"},          {16'383, "ff 7f"},
      {16'384, "80 80 01"}, {2'097'151, "ff ff 7f"}, {2'097'152, "80 80 80 01"}, {268'435'455, "ff ff ff 7f"},
  };
  for (const auto& row : rows) {
    INFO(row.value);
    std::string out = "x";
    REQUIRE(append_remaining_length(out, row.value));
    CHECK(hex(out) == hex("x" + bytes(row.wire)));

    // Decoding a header alone: the body still missing is exactly the value (0 completes a PINGREQ).
    auto d = decode_copy(bytes("c0") + bytes(row.wire));
    if (row.value == 0) {
      CHECK(d.result.status == DecodeStatus::packet);
    } else {
      auto p = decode_copy(bytes("30") + bytes(row.wire));
      REQUIRE(p.result.status == DecodeStatus::need_more);
      CHECK(p.result.needed == row.value);
    }
  }
  std::string out = "x";
  CHECK_FALSE(append_remaining_length(out, 268'435'456));
  CHECK_FALSE(append_remaining_length(out, 0xffffffff));
  CHECK(out == "x");
}

TEST_CASE("mqtt: PUBLISH packets at the remaining-length boundaries round-trip", "[mqtt][codec][remaining_length]") {
  struct Row {
    std::uint32_t remaining;
    const char* length_bytes;
  };
  const Row rows[] = {{3, "03"},           {127, "7f"},          {128, "80 01"},     {16'383, "ff 7f"},
                      {16'384, "80 80 01"}, {2'097'151, "ff ff 7f"}, {2'097'152, "80 80 80 01"}};
  for (const auto& row : rows) {
    INFO(row.remaining);
    // Topic "t" takes 3 bytes of the body; the payload the rest.
    const std::string payload(row.remaining - 3, 'p');
    std::string wire;
    REQUIRE_FALSE(encode_publish(wire, "t", payload));
    const std::string header = bytes("30") + bytes(row.length_bytes);
    CHECK(hex(wire.substr(0, header.size())) == hex(header));
    CHECK(wire.size() == header.size() + row.remaining);
    auto r = decode(wire);
    REQUIRE(r.status == DecodeStatus::packet);
    CHECK(r.consumed == wire.size());
    CHECK(std::get<Publish>(r.packet).payload == payload);
  }
}

TEST_CASE("mqtt: non-minimal remaining lengths are accepted, five length bytes are not", "[mqtt][codec][remaining_length]") {
  auto two = decode_copy(bytes("c0 80 00"));
  REQUIRE(two.result.status == DecodeStatus::packet);
  CHECK(two.result.consumed == 3);
  auto four = decode_copy(bytes("c0 80 80 80 00"));
  REQUIRE(four.result.status == DecodeStatus::packet);
  CHECK(four.result.consumed == 5);
  auto publish = decode_copy(bytes("30 83 00 00 01 74"));
  REQUIRE(publish.result.status == DecodeStatus::packet);
  CHECK(std::get<Publish>(publish.result.packet).topic == "t");

  // The error comes with the continuation bit of the fourth length byte; no fifth byte is waited for.
  CHECK(decode_failure(bytes("c0 80 80 80 80")) == decode_error::malformed_remaining_length);
  CHECK(decode_failure(bytes("30 ff ff ff ff")) == decode_error::malformed_remaining_length);
  CHECK(decode_failure(bytes("30 80 80 80 80 01")) == decode_error::malformed_remaining_length);
  CHECK(decode_copy(bytes("30 ff ff ff")).result.status == DecodeStatus::need_more);
}

// ---------------------------------------------------------------------------------------------------------------
// Streams and partial input

namespace {

/// A receive loop as a transport would write it: append, decode until need-more, drop what was consumed.
/// Keeps each packet re-encoded, because the views die when the buffer is compacted.
struct Receiver {
  std::string buffer;
  std::vector<std::string> packets;
  std::size_t last_needed = 0;

  void feed(std::string_view chunk) {
    buffer += chunk;
    std::size_t pos = 0;
    for (;;) {
      auto r = decode(std::string_view(buffer).substr(pos));
      if (r.status == DecodeStatus::need_more) {
        last_needed = r.needed;
        REQUIRE(r.needed >= 1);
        break;
      }
      REQUIRE(r.status == DecodeStatus::packet);
      packets.push_back(encoded(r.packet));
      pos += r.consumed;
    }
    buffer.erase(0, pos);
  }
};

std::string all_vectors_stream(std::vector<std::string>& each) {
  std::string stream;
  for (const auto& v : vectors()) {
    each.push_back(bytes(v.wire));
    stream += each.back();
  }
  return stream;
}

}  // namespace

TEST_CASE("mqtt: a stream of several packets decodes packet by packet", "[mqtt][codec][stream]") {
  std::vector<std::string> expected;
  const std::string stream = all_vectors_stream(expected);
  std::size_t pos = 0;
  std::size_t index = 0;
  while (pos < stream.size()) {
    auto r = decode(std::string_view(stream).substr(pos));
    REQUIRE(r.status == DecodeStatus::packet);
    REQUIRE(index < expected.size());
    CHECK(r.consumed == expected[index].size());
    CHECK(r.packet == vectors()[index].packet);
    pos += r.consumed;
    ++index;
  }
  CHECK(index == expected.size());
  CHECK(decode(std::string_view(stream).substr(pos)).needed == 2);
}

TEST_CASE("mqtt: a stream split at every point decodes to the same packets", "[mqtt][codec][stream]") {
  std::vector<std::string> expected;
  const std::string stream = all_vectors_stream(expected);
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    INFO("split at " << split);
    Receiver rx;
    rx.feed(std::string_view(stream).substr(0, split));
    rx.feed(std::string_view(stream).substr(split));
    REQUIRE(rx.packets == expected);
    CHECK(rx.buffer.empty());
  }
}

TEST_CASE("mqtt: a stream fed one byte at a time decodes to the same packets", "[mqtt][codec][stream]") {
  std::vector<std::string> expected;
  const std::string stream = all_vectors_stream(expected);
  Receiver rx;
  for (char c : stream) rx.feed(std::string_view(&c, 1));
  CHECK(rx.packets == expected);
  CHECK(rx.buffer.empty());
}

TEST_CASE("mqtt: need-more reports how many bytes are missing", "[mqtt][codec][stream]") {
  for (const auto& v : vectors()) {
    INFO(v.name);
    const std::string wire = bytes(v.wire);
    // The fixed header of these vectors is two bytes (one length byte).
    for (std::size_t have = 0; have < wire.size(); ++have) {
      INFO("have " << have);
      auto d = decode_copy(wire.substr(0, have));
      REQUIRE(d.result.status == DecodeStatus::need_more);
      CHECK(d.result.needed >= 1);
      CHECK(d.result.needed <= wire.size() - have);
      if (have >= 2) CHECK(d.result.needed == wire.size() - have);
    }
  }
  CHECK(decode(""sv).needed == 2);
  CHECK(decode(bytes("30")).needed == 1);
  CHECK(decode(bytes("30 80")).needed == 1);
  CHECK(decode(bytes("30 80 01")).needed == 128);
}

TEST_CASE("mqtt: encoders append to the caller's buffer", "[mqtt][codec][encode]") {
  std::string out = "prefix";
  REQUIRE_FALSE(encode(out, Pingreq{}));
  REQUIRE_FALSE(encode_publish(out, "a/b", "hi"));
  REQUIRE_FALSE(encode(out, Packet{Puback{.packet_id = 1}}));
  CHECK(hex(out) == hex("prefix" + bytes("c0 00 30 07 00 03 61 2f 62 68 69 40 02 00 01")));
}

TEST_CASE("mqtt: encode_publish matches encode(Publish)", "[mqtt][codec][encode]") {
  std::string a;
  std::string b;
  REQUIRE_FALSE(encode_publish(a, "x/y", "payload", QoS::exactly_once, 7, true, true));
  REQUIRE_FALSE(encode(b, Publish{.topic = "x/y", .payload = "payload", .qos = QoS::exactly_once, .retain = true,
                                  .dup = true, .packet_id = 7}));
  CHECK(a == b);
  // At QoS 0 the packet id is not on the wire, whatever the caller passed.
  std::string c;
  REQUIRE_FALSE(encode_publish(c, "a/b", "hi", QoS::at_most_once, 99));
  CHECK(hex(c) == "30 07 00 03 61 2f 62 68 69");
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips of random valid packets of every type

namespace {

std::string random_level(Rng& rng) {
  static const char* pieces[] = {"a", "b", "sport", "tennis", "player1", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                 "x y", "-", "_", "$", "0", "thing-000017"};
  std::string s;
  const auto n = rng.below(3);
  for (std::uint64_t i = 0; i < n; ++i) s += pieces[rng.below(std::size(pieces))];
  return s;
}

std::string random_topic(Rng& rng) {
  std::string s;
  const auto levels = 1 + rng.below(5);
  for (std::uint64_t i = 0; i < levels; ++i) {
    if (i > 0) s += '/';
    s += random_level(rng);
  }
  return s.empty() ? "t" : s;
}

std::string random_filter(Rng& rng) {
  std::string s;
  const auto levels = 1 + rng.below(5);
  for (std::uint64_t i = 0; i < levels; ++i) {
    if (i > 0) s += '/';
    const auto pick = rng.below(10);
    if (pick == 0) {
      s += '+';
    } else if (pick == 1 && i + 1 == levels) {
      s += '#';
    } else {
      s += random_level(rng);
    }
  }
  return s.empty() ? "#" : s;
}

std::string random_binary(Rng& rng, std::size_t max) {
  std::string s(rng.below(max + 1), '\0');
  for (auto& c : s) c = static_cast<char>(rng.below(256));
  return s;
}

QoS random_qos(Rng& rng) { return static_cast<QoS>(rng.below(3)); }
std::uint16_t random_id(Rng& rng) { return static_cast<std::uint16_t>(1 + rng.below(65535)); }

/// A random valid packet of `type`. Its strings live in `storage`, which must not reallocate.
Packet random_packet(Rng& rng, PacketType type, std::vector<std::string>& storage) {
  auto keep = [&storage](std::string s) -> std::string_view { return storage.emplace_back(std::move(s)); };
  switch (type) {
    case PacketType::connect: {
      Connect c;
      c.client_id = keep(rng.below(4) == 0 ? "" : "thing-" + std::to_string(rng.below(100000)));
      c.keep_alive = static_cast<std::uint16_t>(rng.below(65536));
      c.clean_session = rng.below(2) == 0;
      c.protocol_level = rng.below(5) == 0 ? 3 : 4;
      if (rng.below(2) == 0)
        c.will = Will{.topic = keep(random_topic(rng)), .message = keep(random_binary(rng, 40)),
                      .qos = random_qos(rng), .retain = rng.below(2) == 0};
      if (rng.below(2) == 0) {
        c.username = keep(random_level(rng));
        if (rng.below(2) == 0) c.password = keep(random_binary(rng, 20));
      }
      return c;
    }
    case PacketType::connack:
      return Connack{.session_present = rng.below(2) == 0, .return_code = static_cast<ConnectReturnCode>(rng.below(6))};
    case PacketType::publish: {
      Publish p;
      p.topic = keep(random_topic(rng));
      p.payload = keep(random_binary(rng, rng.below(10) == 0 ? 20000 : 300));
      p.qos = random_qos(rng);
      p.retain = rng.below(2) == 0;
      if (p.qos != QoS::at_most_once) {
        p.packet_id = random_id(rng);
        p.dup = rng.below(2) == 0;
      }
      return p;
    }
    case PacketType::puback: return Puback{random_id(rng)};
    case PacketType::pubrec: return Pubrec{random_id(rng)};
    case PacketType::pubrel: return Pubrel{random_id(rng)};
    case PacketType::pubcomp: return Pubcomp{random_id(rng)};
    case PacketType::subscribe: {
      Subscribe s{.packet_id = random_id(rng)};
      const auto n = 1 + rng.below(5);
      for (std::uint64_t i = 0; i < n; ++i) s.subscriptions.push_back({keep(random_filter(rng)), random_qos(rng)});
      return s;
    }
    case PacketType::suback: {
      Suback s{.packet_id = random_id(rng)};
      const SubackCode codes[] = {SubackCode::granted_qos0, SubackCode::granted_qos1, SubackCode::granted_qos2,
                                  SubackCode::failure};
      const auto n = 1 + rng.below(5);
      for (std::uint64_t i = 0; i < n; ++i) s.return_codes.push_back(codes[rng.below(4)]);
      return s;
    }
    case PacketType::unsubscribe: {
      Unsubscribe u{.packet_id = random_id(rng)};
      const auto n = 1 + rng.below(5);
      for (std::uint64_t i = 0; i < n; ++i) u.filters.push_back(keep(random_filter(rng)));
      return u;
    }
    case PacketType::unsuback: return Unsuback{random_id(rng)};
    case PacketType::pingreq: return Pingreq{};
    case PacketType::pingresp: return Pingresp{};
    case PacketType::disconnect: return Disconnect{};
  }
  return Disconnect{};
}

}  // namespace

TEST_CASE("mqtt: random valid packets of every type round-trip", "[mqtt][codec][roundtrip]") {
  Rng rng(20240611);
  for (int type = 1; type <= 14; ++type) {
    INFO(to_string(static_cast<PacketType>(type)));
    for (int i = 0; i < 300; ++i) {
      std::vector<std::string> storage;
      storage.reserve(64);
      const Packet p = random_packet(rng, static_cast<PacketType>(type), storage);
      const std::string wire = encoded(p);
      auto d = decode_copy(wire);
      REQUIRE(d.result.status == DecodeStatus::packet);
      CHECK(d.result.consumed == wire.size());
      REQUIRE(d.result.packet == p);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Decode errors

TEST_CASE("mqtt: decode refuses reserved packet types from the first byte", "[mqtt][codec][errors]") {
  for (int flags = 0; flags < 16; ++flags) {
    CHECK(decode_failure(std::string(1, static_cast<char>(0x00 | flags))) == decode_error::reserved_packet_type);
    CHECK(decode_failure(std::string(1, static_cast<char>(0xf0 | flags))) == decode_error::reserved_packet_type);
  }
  CHECK(decode_failure(bytes("00 00")) == decode_error::reserved_packet_type);
  CHECK(decode_failure(bytes("f0 00")) == decode_error::reserved_packet_type);
}

TEST_CASE("mqtt: decode checks fixed-header flags of every type from the first byte", "[mqtt][codec][errors]") {
  for (unsigned type = 1; type <= 14; ++type) {
    for (unsigned flags = 0; flags < 16; ++flags) {
      INFO(to_string(static_cast<PacketType>(type)) << " flags " << flags);
      std::error_code expected;
      if (type == 3) {
        const unsigned qos = (flags >> 1) & 3;
        if (qos == 3)
          expected = decode_error::invalid_qos;
        else if ((flags & 8) != 0 && qos == 0)
          expected = decode_error::invalid_header_flags;  // DUP on QoS 0
      } else if (type == 6 || type == 8 || type == 10) {
        if (flags != 2) expected = decode_error::invalid_header_flags;
      } else if (flags != 0) {
        expected = decode_error::invalid_header_flags;
      }
      auto d = decode_copy(std::string(1, static_cast<char>(type << 4 | flags)));
      if (expected) {
        CHECK(d.result.status == DecodeStatus::error);
        CHECK(d.result.error == expected);
      } else {
        CHECK(d.result.status == DecodeStatus::need_more);
      }
    }
  }
  // And the same on complete packets.
  CHECK(decode_failure(bytes("60 02 00 01")) == decode_error::invalid_header_flags);  // PUBREL needs 0010
  CHECK(decode_failure(bytes("80 06 00 01 00 01 61 00")) == decode_error::invalid_header_flags);
  CHECK(decode_failure(bytes("a0 05 00 01 00 01 61")) == decode_error::invalid_header_flags);
  CHECK(decode_failure(bytes("41 02 00 01")) == decode_error::invalid_header_flags);
  CHECK(decode_failure(bytes("c1 00")) == decode_error::invalid_header_flags);
  CHECK(decode_failure(bytes("e8 00")) == decode_error::invalid_header_flags);
  CHECK(decode_failure(bytes("38 07 00 03 61 2f 62 68 69")) == decode_error::invalid_header_flags);
  CHECK(decode_failure(bytes("36 09 00 03 61 2f 62 00 01 68 69")) == decode_error::invalid_qos);
}

TEST_CASE("mqtt: decode refuses a packet over the limit before its body arrives", "[mqtt][codec][errors][limit]") {
  // A 256 MB PUBLISH announced in five bytes fails at once, not after buffering it.
  CHECK(decode_failure(bytes("30 ff ff ff 7f"), 128 * 1024) == decode_error::packet_too_large);
  CHECK(decode_failure(bytes("30 ff 7f"), 16'000) == decode_error::packet_too_large);
  // Even a partly read remaining length is enough when its lower bound is already over.
  CHECK(decode_failure(bytes("30 ff"), 100) == decode_error::packet_too_large);
  CHECK(decode_copy(bytes("30 ff"), 1000).result.status == DecodeStatus::need_more);
  // The limit counts the whole packet, fixed header included; exactly at the limit is fine.
  const std::string publish = bytes("30 07 00 03 61 2f 62 68 69");
  CHECK(decode_copy(publish, 9).result.status == DecodeStatus::packet);
  CHECK(decode_failure(publish, 8) == decode_error::packet_too_large);
  CHECK(decode_failure(publish.substr(0, 2), 8) == decode_error::packet_too_large);
  CHECK(decode_copy(bytes("c0 00"), 2).result.status == DecodeStatus::packet);
  CHECK(decode_failure(bytes("c0 00"), 1) == decode_error::packet_too_large);
  // Without a limit, the largest length is merely waited for.
  auto d = decode_copy(bytes("30 ff ff ff 7f"));
  REQUIRE(d.result.status == DecodeStatus::need_more);
  CHECK(d.result.needed == 268'435'455);
}

TEST_CASE("mqtt: decode refuses fields that run past the end of the packet", "[mqtt][codec][errors]") {
  // String lengths pointing past the end.
  CHECK(decode_failure(bytes("30 03 00 05 61")) == decode_error::truncated);
  CHECK(decode_failure(bytes("30 01 00")) == decode_error::truncated);
  CHECK(decode_failure(bytes("30 00")) == decode_error::truncated);
  CHECK(decode_failure(frame(0x10, "00 04 4d 51")) == decode_error::truncated);
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04")) == decode_error::truncated);           // no flags
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 02 00")) == decode_error::truncated);     // half a keep-alive
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 02 00 3c")) == decode_error::truncated);  // no client id
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 02 00 3c 00 05 61")) == decode_error::truncated);
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 06 00 3c 00 01 61 00 01 77")) == decode_error::truncated);
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 82 00 3c 00 01 61")) == decode_error::truncated);
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 c2 00 3c 00 01 61 00 01 75 00 09")) ==
        decode_error::truncated);
  CHECK(decode_failure(bytes("32 05 00 03 61 2f 62")) == decode_error::truncated);  // QoS 1 without packet id
  CHECK(decode_failure(bytes("32 06 00 03 61 2f 62 00")) == decode_error::truncated);
  CHECK(decode_failure(bytes("82 06 00 01 00 02 61 62")) == decode_error::truncated);  // filter without options
  CHECK(decode_failure(bytes("82 05 00 01 00 02 61")) == decode_error::truncated);
  CHECK(decode_failure(bytes("82 01 00")) == decode_error::truncated);
  CHECK(decode_failure(bytes("a2 05 00 01 00 03 61")) == decode_error::truncated);
  CHECK(decode_failure(bytes("90 01 00")) == decode_error::truncated);
  // Fixed-size packets that announce too short a body fail on their header alone.
  CHECK(decode_failure(bytes("20 01")) == decode_error::truncated);
  CHECK(decode_failure(bytes("40 01")) == decode_error::truncated);
  CHECK(decode_failure(bytes("50 00")) == decode_error::truncated);
  CHECK(decode_failure(bytes("62 01")) == decode_error::truncated);
  CHECK(decode_failure(bytes("70 00")) == decode_error::truncated);
  CHECK(decode_failure(bytes("b0 01")) == decode_error::truncated);
}

TEST_CASE("mqtt: decode refuses bytes after the last field of a packet", "[mqtt][codec][errors]") {
  CHECK(decode_failure(bytes("c0 01")) == decode_error::trailing_bytes);  // from the header alone
  CHECK(decode_failure(bytes("d0 01 00")) == decode_error::trailing_bytes);
  CHECK(decode_failure(bytes("e0 7f")) == decode_error::trailing_bytes);
  CHECK(decode_failure(bytes("20 03 00 00 00")) == decode_error::trailing_bytes);
  CHECK(decode_failure(bytes("40 03 00 01 00")) == decode_error::trailing_bytes);
  CHECK(decode_failure(bytes("b0 04")) == decode_error::trailing_bytes);
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 02 00 3c 00 01 61 ff")) == decode_error::trailing_bytes);
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 82 00 3c 00 01 61 00 01 75 00")) ==
        decode_error::trailing_bytes);
}

TEST_CASE("mqtt: decode refuses ill-formed UTF-8 in string fields", "[mqtt][codec][errors][utf8]") {
  CHECK(decode_failure(bytes("30 03 00 01 ff")) == decode_error::invalid_utf8);
  CHECK(decode_failure(bytes("30 03 00 01 00")) == decode_error::invalid_utf8);        // U+0000
  CHECK(decode_failure(bytes("30 04 00 02 c0 af")) == decode_error::invalid_utf8);     // overlong '/'
  CHECK(decode_failure(bytes("30 05 00 03 ed a0 80")) == decode_error::invalid_utf8);  // a surrogate
  CHECK(decode_failure(bytes("30 03 00 01 c3")) == decode_error::invalid_utf8);        // cut sequence
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 02 00 3c 00 01 ff")) == decode_error::invalid_utf8);
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 02 00 3c 00 02 61 00")) == decode_error::invalid_utf8);
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 06 00 3c 00 01 61 00 01 fe 00 00")) ==
        decode_error::invalid_utf8);  // will topic
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 82 00 3c 00 01 61 00 01 80")) ==
        decode_error::invalid_utf8);  // user name
  CHECK(decode_failure(bytes("82 06 00 01 00 01 ff 00")) == decode_error::invalid_utf8);
  CHECK(decode_failure(bytes("a2 05 00 01 00 01 ff")) == decode_error::invalid_utf8);
  // Payloads, will messages and passwords are binary: anything goes.
  CHECK(decode_copy(bytes("30 05 00 01 74 ff 00")).result.status == DecodeStatus::packet);
  CHECK(decode_copy(frame(0x10, "00 04 4d 51 54 54 04 06 00 3c 00 01 61 00 01 77 00 02 ff 00")).result.status ==
        DecodeStatus::packet);
  CHECK(decode_copy(frame(0x10, "00 04 4d 51 54 54 04 c2 00 3c 00 01 61 00 01 75 00 02 ff 00")).result.status ==
        DecodeStatus::packet);
}

TEST_CASE("mqtt: decode refuses invalid topic names and filters", "[mqtt][codec][errors][topic]") {
  CHECK(decode_failure(bytes("30 05 00 03 61 2f 2b")) == decode_error::invalid_topic_name);  // a/+
  CHECK(decode_failure(bytes("30 03 00 01 23")) == decode_error::invalid_topic_name);        // #
  CHECK(decode_failure(bytes("30 05 00 03 61 23 62")) == decode_error::invalid_topic_name);  // a#b
  CHECK(decode_failure(bytes("30 02 00 00")) == decode_error::invalid_topic_name);           // empty
  CHECK(decode_failure(bytes("32 04 00 00 00 01")) == decode_error::invalid_topic_name);
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 06 00 3c 00 01 61 00 03 61 2f 23 00 00")) ==
        decode_error::invalid_topic_name);  // will topic a/#
  CHECK(decode_failure(frame(0x10, "00 04 4d 51 54 54 04 06 00 3c 00 01 61 00 00 00 00")) ==
        decode_error::invalid_topic_name);  // empty will topic
  CHECK(decode_failure(bytes("82 07 00 01 00 02 61 23 00")) == decode_error::invalid_topic_filter);  // a#
  CHECK(decode_failure(bytes("82 05 00 01 00 00 00")) == decode_error::invalid_topic_filter);        // empty
  CHECK(decode_failure(bytes("82 0a 00 01 00 05 61 2f 23 2f 62 00")) == decode_error::invalid_topic_filter);
  CHECK(decode_failure(bytes("a2 06 00 01 00 02 2b 2b")) == decode_error::invalid_topic_filter);  // ++
  CHECK(decode_failure(bytes("a2 04 00 01 00 00")) == decode_error::invalid_topic_filter);
}

TEST_CASE("mqtt: decode refuses empty subscription lists", "[mqtt][codec][errors]") {
  CHECK(decode_failure(bytes("82 02 00 01")) == decode_error::empty_subscription_list);
  CHECK(decode_failure(bytes("90 02 00 01")) == decode_error::empty_subscription_list);
  CHECK(decode_failure(bytes("a2 02 00 01")) == decode_error::empty_subscription_list);
}

TEST_CASE("mqtt: decode refuses packet id 0 where one is required", "[mqtt][codec][errors]") {
  CHECK(decode_failure(bytes("32 07 00 03 61 2f 62 00 00")) == decode_error::zero_packet_id);
  CHECK(decode_failure(bytes("34 07 00 03 61 2f 62 00 00")) == decode_error::zero_packet_id);
  CHECK(decode_failure(bytes("40 02 00 00")) == decode_error::zero_packet_id);
  CHECK(decode_failure(bytes("50 02 00 00")) == decode_error::zero_packet_id);
  CHECK(decode_failure(bytes("62 02 00 00")) == decode_error::zero_packet_id);
  CHECK(decode_failure(bytes("70 02 00 00")) == decode_error::zero_packet_id);
  CHECK(decode_failure(bytes("82 06 00 00 00 01 61 00")) == decode_error::zero_packet_id);
  CHECK(decode_failure(bytes("90 03 00 00 00")) == decode_error::zero_packet_id);
  CHECK(decode_failure(bytes("a2 05 00 00 00 01 61")) == decode_error::zero_packet_id);
  CHECK(decode_failure(bytes("b0 02 00 00")) == decode_error::zero_packet_id);
  // QoS 0 has no packet id: these two bytes are payload.
  CHECK(decode_copy(bytes("30 07 00 03 61 2f 62 00 00")).result.status == DecodeStatus::packet);
}

TEST_CASE("mqtt: decode checks the CONNECT protocol name, level and flags", "[mqtt][codec][errors][connect]") {
  const auto connect = [](std::string_view name_and_level, std::string_view flags_and_rest) {
    return frame(0x10, std::string(name_and_level) + " " + std::string(flags_and_rest));
  };
  const std::string_view v4 = "00 04 4d 51 54 54 04";
  // Name.
  CHECK(decode_failure(connect("00 04 4d 51 54 58 04", "02 00 3c 00 01 61")) == decode_error::invalid_protocol_name);
  CHECK(decode_failure(connect("00 04 6d 71 74 74 04", "02 00 3c 00 01 61")) == decode_error::invalid_protocol_name);
  CHECK(decode_failure(connect("00 05 4d 51 54 54 20 04", "02 00 3c 00 01 61")) ==
        decode_error::invalid_protocol_name);
  CHECK(decode_failure(connect("00 00 04", "02 00 3c 00 01 61")) == decode_error::invalid_protocol_name);
  CHECK(decode_failure(connect("00 06 4d 51 49 73 64 78 03", "02 00 3c 00 01 61")) ==
        decode_error::invalid_protocol_name);
  // Level.
  CHECK(decode_failure(connect("00 04 4d 51 54 54 03", "02 00 3c 00 01 61")) ==
        decode_error::unsupported_protocol_level);
  CHECK(decode_failure(connect("00 04 4d 51 54 54 05", "02 00 3c 00 01 61")) ==
        decode_error::unsupported_protocol_level);
  CHECK(decode_failure(connect("00 06 4d 51 49 73 64 70 04", "02 00 3c 00 01 61")) ==
        decode_error::unsupported_protocol_level);
  // Flags.
  CHECK(decode_failure(connect(v4, "03 00 3c 00 01 61")) == decode_error::reserved_flag_set);
  CHECK(decode_failure(connect(v4, "01 00 3c 00 01 61")) == decode_error::reserved_flag_set);
  CHECK(decode_failure(connect(v4, "0a 00 3c 00 01 61")) == decode_error::invalid_will_flags);  // will QoS 1, no will
  CHECK(decode_failure(connect(v4, "12 00 3c 00 01 61")) == decode_error::invalid_will_flags);  // will QoS 2, no will
  CHECK(decode_failure(connect(v4, "22 00 3c 00 01 61")) == decode_error::invalid_will_flags);  // will retain, no will
  CHECK(decode_failure(connect(v4, "1e 00 3c 00 01 61 00 01 77 00 00")) == decode_error::invalid_qos);  // will QoS 3
  CHECK(decode_failure(connect(v4, "42 00 3c 00 01 61 00 01 70")) == decode_error::password_without_username);
  // A level 5 CONNECT (an MQTT 5 client) is told apart, so a broker can answer CONNACK 0x01.
  std::string wire;
  REQUIRE_FALSE(encode(wire, Connect{.client_id = "a", .protocol_level = 5}));
  CHECK(decode_failure(wire) == decode_error::unsupported_protocol_level);
}

TEST_CASE("mqtt: decode refuses reserved bits and unknown return codes", "[mqtt][codec][errors]") {
  CHECK(decode_failure(bytes("20 02 02 00")) == decode_error::reserved_flag_set);
  CHECK(decode_failure(bytes("20 02 80 00")) == decode_error::reserved_flag_set);
  CHECK(decode_failure(bytes("20 02 00 06")) == decode_error::invalid_return_code);
  CHECK(decode_failure(bytes("20 02 00 ff")) == decode_error::invalid_return_code);
  CHECK(decode_failure(bytes("90 03 00 01 03")) == decode_error::invalid_return_code);
  CHECK(decode_failure(bytes("90 04 00 01 00 81")) == decode_error::invalid_return_code);
  CHECK(decode_failure(bytes("82 06 00 01 00 01 61 04")) == decode_error::reserved_flag_set);
  CHECK(decode_failure(bytes("82 06 00 01 00 01 61 80")) == decode_error::reserved_flag_set);
  CHECK(decode_failure(bytes("82 06 00 01 00 01 61 03")) == decode_error::invalid_qos);
}

TEST_CASE("mqtt: decode errors have their own category and messages", "[mqtt][codec][errors]") {
  std::error_code ec = decode_error::truncated;
  CHECK(ec.category() == decode_error_category());
  CHECK(std::string(ec.category().name()) == "mqtt.decode");
  CHECK(ec != std::error_code(static_cast<int>(decode_error::truncated), std::generic_category()));
  for (int v = 1; v <= static_cast<int>(decode_error::invalid_return_code); ++v) {
    const auto message = make_error_code(static_cast<decode_error>(v)).message();
    INFO(v);
    CHECK(message.find("unknown") == std::string::npos);
  }
  CHECK(decode_error_category().message(999) == "unknown MQTT decode error");

  std::error_code enc = encode_error::string_too_long;
  CHECK(std::string(enc.category().name()) == "mqtt.encode");
  CHECK(enc != std::error_code(decode_error::malformed_remaining_length));
  for (int v = 1; v <= static_cast<int>(encode_error::empty_subscription_list); ++v) {
    INFO(v);
    CHECK(make_error_code(static_cast<encode_error>(v)).message().find("unknown") == std::string::npos);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Encode errors

TEST_CASE("mqtt: encoders refuse what cannot be put on the wire and leave the buffer alone", "[mqtt][codec][encode]") {
  const std::string long_string(65'536, 'x');
  const std::string max_string(65'535, 'x');
  std::string out = "kept";
  const auto fails_with = [&out](std::error_code ec, encode_error expected) {
    CHECK(ec == expected);
    CHECK(out == "kept");
  };

  fails_with(encode_publish(out, long_string, "p"), encode_error::string_too_long);
  fails_with(encode_publish(out, "t", "p", static_cast<QoS>(3), 1), encode_error::invalid_qos);
  fails_with(encode_publish(out, "t", "p", QoS::at_least_once, 0), encode_error::missing_packet_id);
  fails_with(encode_publish(out, "t", "p", QoS::exactly_once, 0), encode_error::missing_packet_id);
  fails_with(encode_publish(out, "t", "p", QoS::at_most_once, 0, false, true), encode_error::inconsistent_flags);

  fails_with(encode(out, Connect{.client_id = long_string}), encode_error::string_too_long);
  fails_with(encode(out, Connect{.username = long_string}), encode_error::string_too_long);
  fails_with(encode(out, Connect{.username = "u", .password = long_string}), encode_error::string_too_long);
  fails_with(encode(out, Connect{.will = Will{.topic = long_string}}), encode_error::string_too_long);
  fails_with(encode(out, Connect{.will = Will{.topic = "t", .message = long_string}}), encode_error::string_too_long);
  fails_with(encode(out, Connect{.will = Will{.topic = "t", .qos = static_cast<QoS>(3)}}), encode_error::invalid_qos);
  fails_with(encode(out, Connect{.password = "p"}), encode_error::inconsistent_flags);

  fails_with(encode(out, Puback{}), encode_error::missing_packet_id);
  fails_with(encode(out, Pubrec{}), encode_error::missing_packet_id);
  fails_with(encode(out, Pubrel{}), encode_error::missing_packet_id);
  fails_with(encode(out, Pubcomp{}), encode_error::missing_packet_id);
  fails_with(encode(out, Unsuback{}), encode_error::missing_packet_id);
  fails_with(encode(out, Subscribe{.packet_id = 0, .subscriptions = {{"a", QoS::at_most_once}}}),
             encode_error::missing_packet_id);
  fails_with(encode(out, Subscribe{.packet_id = 1}), encode_error::empty_subscription_list);
  fails_with(encode(out, Subscribe{.packet_id = 1, .subscriptions = {{long_string, QoS::at_most_once}}}),
             encode_error::string_too_long);
  fails_with(encode(out, Subscribe{.packet_id = 1, .subscriptions = {{"a", static_cast<QoS>(3)}}}),
             encode_error::invalid_qos);
  fails_with(encode(out, Suback{.packet_id = 1}), encode_error::empty_subscription_list);
  fails_with(encode(out, Suback{.packet_id = 0, .return_codes = {SubackCode::failure}}),
             encode_error::missing_packet_id);
  fails_with(encode(out, Unsubscribe{.packet_id = 1}), encode_error::empty_subscription_list);
  fails_with(encode(out, Unsubscribe{.packet_id = 0, .filters = {"a"}}), encode_error::missing_packet_id);
  fails_with(encode(out, Unsubscribe{.packet_id = 1, .filters = {long_string}}), encode_error::string_too_long);
  fails_with(encode(out, Packet{Puback{}}), encode_error::missing_packet_id);

  // 65,535 bytes is still a valid string.
  std::string wire;
  REQUIRE_FALSE(encode_publish(wire, max_string, "p"));
  auto r = decode(wire);
  REQUIRE(r.status == DecodeStatus::packet);
  CHECK(std::get<Publish>(r.packet).topic.size() == 65'535);
}

TEST_CASE("mqtt: encode_publish refuses a body over 268,435,455 bytes", "[mqtt][codec][encode][large]") {
  // Topic "t" takes 3 bytes, so this payload makes the remaining length one byte too many.
  const std::string payload(std::size_t{max_remaining_length} - 3 + 1, 'p');
  std::string out = "kept";
  CHECK(encode_publish(out, "t", payload) == encode_error::packet_too_large);
  CHECK(out == "kept");
}

// ---------------------------------------------------------------------------------------------------------------
// Robustness: random and mutated input never crashes, over-reads or misbehaves

namespace {

/// Mutates a valid packet the ways a broken or hostile peer would.
std::string mutate(Rng& rng, std::string s) {
  const auto rounds = 1 + rng.below(3);
  for (std::uint64_t round = 0; round < rounds; ++round) {
    switch (rng.below(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[rng.below(s.size())] ^= static_cast<char>(1u << rng.below(8));
        break;
      case 1:  // overwrite a byte
        if (!s.empty()) s[rng.below(s.size())] = static_cast<char>(rng.below(256));
        break;
      case 2:  // truncate
        s.resize(rng.below(s.size() + 1));
        break;
      case 3:  // append garbage
        s += random_binary(rng, 16);
        break;
      case 4:  // insert a byte
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(rng.below(s.size() + 1)), static_cast<char>(rng.below(256)));
        break;
      case 5:  // delete a byte
        if (!s.empty()) s.erase(s.begin() + static_cast<std::ptrdiff_t>(rng.below(s.size())));
        break;
      case 6:  // lie about a length: the remaining length or a string length
        if (s.size() > 1) s[1 + rng.below(std::min<std::size_t>(s.size() - 1, 6))] = static_cast<char>(rng.below(256));
        break;
      default:  // change the first byte: type and flags
        if (!s.empty()) s[0] = static_cast<char>(rng.below(256));
        break;
    }
  }
  return s;
}

}  // namespace

TEST_CASE("mqtt: 100k random and mutated inputs give need-more, a packet or an error", "[mqtt][codec][robustness]") {
  Rng rng(0x5eed'c0de);
  std::size_t counts[3] = {0, 0, 0};
  std::vector<std::string> storage;
  storage.reserve(64);

  for (int i = 0; i < 100'000; ++i) {
    std::string input;
    const auto kind = rng.below(10);
    if (kind < 2) {
      input = random_binary(rng, 48);  // pure noise
    } else if (kind < 4) {
      input = mutate(rng, bytes(vectors()[rng.below(vectors().size())].wire));
    } else {
      storage.clear();
      const auto type = static_cast<PacketType>(1 + rng.below(14));
      input = encoded(random_packet(rng, type, storage));
      if (input.size() > 400) input.resize(400 + rng.below(64));  // keep the run fast
      if (kind < 9) input = mutate(rng, std::move(input));
      if (rng.below(4) == 0) input += bytes("c0 00");  // a following packet must not change anything
    }
    const std::size_t limit = rng.below(4) == 0 ? 2 + rng.below(200) : max_packet_size;

    auto d = decode_copy(input, limit);
    const auto& r = d.result;
    ++counts[static_cast<int>(r.status)];
    switch (r.status) {
      case DecodeStatus::need_more:
        if (r.needed < 1) FAIL("need_more without a byte count for " << hex(input));
        break;
      case DecodeStatus::error:
        if (r.error.category() != decode_error_category() || r.error.value() < 1 ||
            r.error.value() > static_cast<int>(decode_error::invalid_return_code))
          FAIL("unexpected error " << r.error << " for " << hex(input));
        break;
      case DecodeStatus::packet: {
        if (r.consumed < 2 || r.consumed > input.size() || r.consumed > limit)
          FAIL("consumed " << r.consumed << " of " << hex(input));
        // Whatever was accepted must encode again, and to the same bytes unless the length was non-minimal.
        std::string again;
        if (auto ec = encode(again, r.packet); ec) FAIL("accepted but not encodable: " << ec << " " << hex(input));
        const std::string_view original = std::string_view(input).substr(0, r.consumed);
        if (again.size() == r.consumed ? again != original : again.size() > r.consumed)
          FAIL("re-encoding differs: " << hex(original) << " vs " << hex(again));
        auto twice = decode(again);
        if (twice.status != DecodeStatus::packet || !(twice.packet == r.packet) || twice.consumed != again.size())
          FAIL("re-encoded packet decodes differently: " << hex(again));
        // Every strict prefix of an accepted packet is merely incomplete.
        if (i % 16 == 0) {
          for (std::size_t n = 0; n < r.consumed; ++n) {
            auto prefix = decode_copy(std::string_view(input).substr(0, n), limit);
            if (prefix.result.status != DecodeStatus::need_more)
              FAIL("prefix of " << n << " bytes of an accepted packet is not need_more: " << hex(input));
          }
        }
        break;
      }
    }
    // Bytes after the decided point never change the verdict.
    if (r.status != DecodeStatus::need_more) {
      auto longer = decode_copy(input + "\x30\xff", limit);
      const bool same = longer.result.status == r.status && longer.result.error == r.error &&
                        longer.result.consumed == r.consumed;
      if (!same) FAIL("appending bytes changed the result for " << hex(input));
    }
  }
  INFO("need_more " << counts[0] << ", packet " << counts[1] << ", error " << counts[2]);
  // The corpus must exercise all three outcomes substantially, or the test proves little.
  CHECK(counts[0] > 1000);
  CHECK(counts[1] > 1000);
  CHECK(counts[2] > 1000);
}

// ---------------------------------------------------------------------------------------------------------------
// Topics (spec 4.7)

TEST_CASE("mqtt: valid_topic_filter follows the wildcard rules", "[mqtt][topic]") {
  for (auto f : {"sport/tennis/player1/#", "sport/#", "#", "+", "+/tennis/#", "sport/+/player1", "/+", "+/+", "/",
                 "$SYS/#", "a//b", "\xc3\xa9/+", "sport/tennis/+", "+/#", " "}) {
    INFO(f);
    CHECK(valid_topic_filter(f));
  }
  for (auto f : {"", "sport/tennis#", "sport/tennis/#/ranking", "sport+", "++", "a/+b", "##", "#/", "#/a", "a/b#",
                 "\xff", "\xc0\xaf"}) {
    INFO(f);
    CHECK_FALSE(valid_topic_filter(f));
  }
  CHECK_FALSE(valid_topic_filter("a\0b"sv));
  CHECK(valid_topic_filter(std::string(65'535, 'a')));
  CHECK_FALSE(valid_topic_filter(std::string(65'536, 'a')));
}

TEST_CASE("mqtt: valid_topic_name refuses wildcards and empty names", "[mqtt][topic]") {
  for (auto t : {"a", "/", "sport/tennis", "$SYS/broker/uptime", " ", "a//b", "/finance", "\xf0\x9f\x98\x80"}) {
    INFO(t);
    CHECK(valid_topic_name(t));
  }
  for (auto t : {"", "+", "#", "a/#", "a+b", "sport/+/x", "\xc0\xaf", "\xed\xa0\x80"}) {
    INFO(t);
    CHECK_FALSE(valid_topic_name(t));
  }
  CHECK_FALSE(valid_topic_name("a\0b"sv));
  CHECK(valid_topic_name(std::string(65'535, 'a')));
  CHECK_FALSE(valid_topic_name(std::string(65'536, 'a')));
}

TEST_CASE("mqtt: topic_matches follows the specification's examples", "[mqtt][topic]") {
  struct Case {
    const char* filter;
    const char* topic;
    bool matches;
  };
  const Case cases[] = {
      // 4.7.1.2 multi-level wildcard.
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"sport/tennis/player1/#", "sport/tennis/player2", false},
      {"sport/tennis/player1/#", "sport/tennis", false},
      {"sport/#", "sport", true},
      {"sport/#", "sport/", true},
      {"sport/#", "sports", false},
      {"#", "sport", true},
      {"#", "/", true},
      {"#", "a/b/c", true},
      // 4.7.1.3 single-level wildcard.
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis/player2", true},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/+", "sport", false},
      {"sport/+", "sport/", true},
      {"+/+", "/finance", true},
      {"/+", "/finance", true},
      {"+", "/finance", false},
      {"+", "finance", true},
      {"+/tennis/#", "sport/tennis/player1", true},
      {"+/tennis/#", "sport/tennis", true},
      {"a/+/c", "a//c", true},
      {"+/+/+", "a/b", false},
      {"+/+", "a/b/c", false},
      // 4.7.3 a leading `/` makes a distinct level.
      {"/finance", "/finance", true},
      {"/finance", "finance", false},
      {"finance", "/finance", false},
      // Exact, case-sensitive.
      {"a/b", "a/b", true},
      {"a/b", "a/b/c", false},
      {"a/b", "a", false},
      {"a/b", "A/b", false},
      {"a/b", "a/b/", false},
      // 4.7.2 topics starting with `$`.
      {"#", "$SYS/monitor/Clients", false},
      {"#", "$SYS", false},
      {"+/monitor/Clients", "$SYS/monitor/Clients", false},
      {"+", "$", false},
      {"$SYS/#", "$SYS/monitor/Clients", true},
      {"$SYS/#", "$SYS", true},
      {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
      {"$SYS", "$SYS", true},
      {"+/$SYS", "a/$SYS", true},  // only the first level is special
      {"$aws/things/+/shadow/#", "$aws/things/thing-1/shadow/update", true},
  };
  for (const auto& c : cases) {
    INFO(c.filter << " vs " << c.topic);
    CHECK(topic_matches(c.filter, c.topic) == c.matches);
  }
}

namespace {

std::vector<std::string_view> split_levels(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto slash = s.find('/');
    out.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    s.remove_prefix(slash + 1);
  }
}

/// An independent, obviously-correct (and slow) matcher to compare against.
bool reference_match(std::string_view filter, std::string_view topic) {
  if (topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#'))) return false;
  const auto f = split_levels(filter);
  const auto t = split_levels(topic);
  std::function<bool(std::size_t, std::size_t)> match = [&](std::size_t i, std::size_t j) {
    if (i == f.size()) return j == t.size();
    if (f[i] == "#") return true;
    if (j == t.size()) return false;
    return (f[i] == "+" || f[i] == t[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

}  // namespace

TEST_CASE("mqtt: topic_matches agrees with a reference matcher on random topics", "[mqtt][topic]") {
  Rng rng(42);
  const char* levels[] = {"a", "b", "", "$x", "ab"};
  const auto random_name = [&] {
    std::string s;
    const auto n = 1 + rng.below(4);
    for (std::uint64_t i = 0; i < n; ++i) s += (i ? "/" : "") + std::string(levels[rng.below(std::size(levels))]);
    return s;
  };
  int matched = 0;
  for (int i = 0; i < 20'000; ++i) {
    const std::string topic = random_name();
    std::string filter;
    const auto n = 1 + rng.below(4);
    for (std::uint64_t k = 0; k < n; ++k) {
      if (k) filter += '/';
      const auto pick = rng.below(6);
      filter += pick == 0 ? "+" : pick == 1 && k + 1 == n ? "#" : levels[rng.below(std::size(levels))];
    }
    if (!valid_topic_name(topic) || !valid_topic_filter(filter)) continue;
    const bool expected = reference_match(filter, topic);
    matched += expected ? 1 : 0;
    if (topic_matches(filter, topic) != expected) FAIL(filter << " vs " << topic << ": expected " << expected);
  }
  CHECK(matched > 500);
}

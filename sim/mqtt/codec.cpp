#include "sim/mqtt/codec.hpp"

#include <cassert>
#include <cstring>

#include "sim/core/text.hpp"
#include "sim/mqtt/topic.hpp"

namespace fleetsim::mqtt {

//--------------------------------------------------------------------------------------------------
// Error categories

const std::error_category& decode_error_category() {
  struct category final : std::error_category {
    const char* name() const noexcept override { return "mqtt.decode"; }
    std::string message(int ev) const override {
      switch (static_cast<decode_error>(ev)) {
        case decode_error::malformed_remaining_length: return "malformed remaining length (more than four bytes)";
        case decode_error::packet_too_large: return "packet larger than the accepted maximum";
        case decode_error::reserved_packet_type: return "reserved packet type (0 or 15)";
        case decode_error::invalid_header_flags: return "invalid fixed-header flags for the packet type";
        case decode_error::invalid_qos: return "invalid QoS (3)";
        case decode_error::truncated: return "a field runs past the end of the packet";
        case decode_error::trailing_bytes: return "unexpected bytes after the last field of the packet";
        case decode_error::invalid_utf8: return "string is not well-formed UTF-8 or contains U+0000";
        case decode_error::invalid_topic_name: return "topic name is empty or contains a wildcard";
        case decode_error::invalid_topic_filter: return "topic filter is empty or misplaces a wildcard";
        case decode_error::empty_subscription_list: return "SUBSCRIBE, SUBACK or UNSUBSCRIBE without entries";
        case decode_error::zero_packet_id: return "packet identifier 0 where a non-zero one is required";
        case decode_error::invalid_protocol_name: return "CONNECT protocol name is not \"MQTT\" (or \"MQIsdp\")";
        case decode_error::unsupported_protocol_level: return "unsupported protocol level (MQTT 3.1.1 is level 4)";
        case decode_error::reserved_flag_set: return "a reserved flag bit is set";
        case decode_error::invalid_will_flags: return "will QoS or will retain set without the will flag";
        case decode_error::password_without_username: return "CONNECT has a password but no user name";
        case decode_error::invalid_return_code: return "invalid CONNACK or SUBACK return code";
      }
      return "unknown MQTT decode error";
    }
  };
  static const category instance;
  return instance;
}

const std::error_category& encode_error_category() {
  struct category final : std::error_category {
    const char* name() const noexcept override { return "mqtt.encode"; }
    std::string message(int ev) const override {
      switch (static_cast<encode_error>(ev)) {
        case encode_error::string_too_long: return "string longer than 65535 bytes";
        case encode_error::packet_too_large: return "packet larger than MQTT's 268435455-byte remaining length";
        case encode_error::invalid_qos: return "QoS must be 0, 1 or 2";
        case encode_error::missing_packet_id: return "packet identifier 0 where a non-zero one is required";
        case encode_error::inconsistent_flags: return "inconsistent flags (DUP at QoS 0, or password without user name)";
        case encode_error::empty_subscription_list: return "SUBSCRIBE, SUBACK or UNSUBSCRIBE without entries";
      }
      return "unknown MQTT encode error";
    }
  };
  static const category instance;
  return instance;
}

std::string_view to_string(PacketType t) {
  switch (t) {
    case PacketType::connect: return "CONNECT";
    case PacketType::connack: return "CONNACK";
    case PacketType::publish: return "PUBLISH";
    case PacketType::puback: return "PUBACK";
    case PacketType::pubrec: return "PUBREC";
    case PacketType::pubrel: return "PUBREL";
    case PacketType::pubcomp: return "PUBCOMP";
    case PacketType::subscribe: return "SUBSCRIBE";
    case PacketType::suback: return "SUBACK";
    case PacketType::unsubscribe: return "UNSUBSCRIBE";
    case PacketType::unsuback: return "UNSUBACK";
    case PacketType::pingreq: return "PINGREQ";
    case PacketType::pingresp: return "PINGRESP";
    case PacketType::disconnect: return "DISCONNECT";
  }
  return "RESERVED";
}

namespace {

static_assert(std::variant_size_v<Packet> == 14);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(PacketType::disconnect) - 1, Packet>,
                             Disconnect>);

constexpr std::size_t max_string_length = 65'535;
constexpr std::string_view protocol_name_v4 = "MQTT";
constexpr std::string_view protocol_name_v3 = "MQIsdp";

constexpr std::uint8_t type_bits(PacketType t) { return static_cast<std::uint8_t>(static_cast<unsigned>(t) << 4); }

//--------------------------------------------------------------------------------------------------
// Encoding helpers

std::size_t remaining_length_size(std::uint32_t v) { return v < 128 ? 1 : v < 16'384 ? 2 : v < 2'097'152 ? 3 : 4; }

/// Writes into space already reserved in the output, so each field is a plain store or memcpy.
class Writer {
 public:
  explicit Writer(char* p) : p_(p) {}
  void u8(std::uint8_t v) { *p_++ = static_cast<char>(v); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v & 0xFF));
  }
  void raw(std::string_view s) {
    // memcpy from a null pointer is undefined even for zero bytes, and empty views may hold one.
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void str(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    raw(s);
  }
  void remaining_length(std::uint32_t v) {
    do {
      auto b = static_cast<std::uint8_t>(v & 0x7F);
      v >>= 7;
      if (v != 0) b |= 0x80;
      u8(b);
    } while (v != 0);
  }
  const char* pos() const { return p_; }

 private:
  char* p_;
};

/// Grows `out` by exactly one packet of `remaining` body bytes and writes its fixed header.
/// The caller has checked `remaining` <= max_remaining_length.
Writer begin_packet(std::string& out, std::uint8_t first_byte, std::size_t remaining) {
  const auto rl = static_cast<std::uint32_t>(remaining);
  const std::size_t old = out.size();
  out.resize(old + 1 + remaining_length_size(rl) + remaining);
  Writer w(out.data() + old);
  w.u8(first_byte);
  w.remaining_length(rl);
  return w;
}

/// Debug check that the size computed up front matched what was written.
void end_packet([[maybe_unused]] const std::string& out, [[maybe_unused]] const Writer& w) {
  assert(w.pos() == out.data() + out.size());
}

bool valid_qos(QoS q) { return static_cast<std::uint8_t>(q) <= 2; }

std::error_code encode_packet_id_only(std::string& out, PacketType type, std::uint8_t flags, std::uint16_t id) {
  if (id == 0) return encode_error::missing_packet_id;
  Writer w = begin_packet(out, type_bits(type) | flags, 2);
  w.u16(id);
  end_packet(out, w);
  return {};
}

std::error_code encode_empty(std::string& out, PacketType type) {
  Writer w = begin_packet(out, type_bits(type), 0);
  end_packet(out, w);
  return {};
}

}  // namespace

bool append_remaining_length(std::string& out, std::uint32_t value) {
  if (value > max_remaining_length) return false;
  const std::size_t old = out.size();
  out.resize(old + remaining_length_size(value));
  Writer w(out.data() + old);
  w.remaining_length(value);
  end_packet(out, w);
  return true;
}

//--------------------------------------------------------------------------------------------------
// Encoders

std::error_code encode_publish(std::string& out, std::string_view topic, std::string_view payload, QoS qos,
                               std::uint16_t packet_id, bool retain, bool dup) {
  if (!valid_qos(qos)) return encode_error::invalid_qos;
  if (topic.size() > max_string_length) return encode_error::string_too_long;
  const bool has_id = qos != QoS::at_most_once;
  if (has_id && packet_id == 0) return encode_error::missing_packet_id;
  if (dup && !has_id) return encode_error::inconsistent_flags;
  // Compare before adding so a payload near SIZE_MAX cannot wrap the sum.
  const std::size_t head = 2 + topic.size() + (has_id ? 2 : 0);
  if (payload.size() > max_remaining_length - head) return encode_error::packet_too_large;

  const auto flags = static_cast<std::uint8_t>((dup ? 0x08 : 0) | (static_cast<unsigned>(qos) << 1) | (retain ? 1 : 0));
  Writer w = begin_packet(out, type_bits(PacketType::publish) | flags, head + payload.size());
  w.str(topic);
  if (has_id) w.u16(packet_id);
  w.raw(payload);
  end_packet(out, w);
  return {};
}

std::error_code encode(std::string& out, const Connect& p) {
  const std::string_view name = p.protocol_level == 3 ? protocol_name_v3 : protocol_name_v4;
  if (p.client_id.size() > max_string_length) return encode_error::string_too_long;
  if (p.will && (p.will->topic.size() > max_string_length || p.will->message.size() > max_string_length))
    return encode_error::string_too_long;
  if (p.username && p.username->size() > max_string_length) return encode_error::string_too_long;
  if (p.password && p.password->size() > max_string_length) return encode_error::string_too_long;
  if (p.will && !valid_qos(p.will->qos)) return encode_error::invalid_qos;
  if (p.password && !p.username) return encode_error::inconsistent_flags;

  // Every field is at most 65,537 bytes, so the sum cannot reach max_remaining_length.
  std::size_t remaining = 2 + name.size() + 1 + 1 + 2 + 2 + p.client_id.size();
  std::uint8_t flags = p.clean_session ? 0x02 : 0x00;
  if (p.will) {
    remaining += 2 + p.will->topic.size() + 2 + p.will->message.size();
    flags |= static_cast<std::uint8_t>(0x04 | (static_cast<unsigned>(p.will->qos) << 3) | (p.will->retain ? 0x20 : 0));
  }
  if (p.username) {
    remaining += 2 + p.username->size();
    flags |= 0x80;
  }
  if (p.password) {
    remaining += 2 + p.password->size();
    flags |= 0x40;
  }

  Writer w = begin_packet(out, type_bits(PacketType::connect), remaining);
  w.str(name);
  w.u8(p.protocol_level);
  w.u8(flags);
  w.u16(p.keep_alive);
  w.str(p.client_id);
  if (p.will) {
    w.str(p.will->topic);
    w.str(p.will->message);
  }
  if (p.username) w.str(*p.username);
  if (p.password) w.str(*p.password);
  end_packet(out, w);
  return {};
}

std::error_code encode(std::string& out, const Connack& p) {
  Writer w = begin_packet(out, type_bits(PacketType::connack), 2);
  w.u8(p.session_present ? 1 : 0);
  w.u8(static_cast<std::uint8_t>(p.return_code));
  end_packet(out, w);
  return {};
}

std::error_code encode(std::string& out, const Publish& p) {
  return encode_publish(out, p.topic, p.payload, p.qos, p.packet_id, p.retain, p.dup);
}

std::error_code encode(std::string& out, const Puback& p) {
  return encode_packet_id_only(out, PacketType::puback, 0, p.packet_id);
}
std::error_code encode(std::string& out, const Pubrec& p) {
  return encode_packet_id_only(out, PacketType::pubrec, 0, p.packet_id);
}
std::error_code encode(std::string& out, const Pubrel& p) {
  return encode_packet_id_only(out, PacketType::pubrel, 0x02, p.packet_id);
}
std::error_code encode(std::string& out, const Pubcomp& p) {
  return encode_packet_id_only(out, PacketType::pubcomp, 0, p.packet_id);
}
std::error_code encode(std::string& out, const Unsuback& p) {
  return encode_packet_id_only(out, PacketType::unsuback, 0, p.packet_id);
}

std::error_code encode(std::string& out, const Subscribe& p) {
  if (p.packet_id == 0) return encode_error::missing_packet_id;
  if (p.subscriptions.empty()) return encode_error::empty_subscription_list;
  std::size_t remaining = 2;
  for (const auto& s : p.subscriptions) {
    if (s.filter.size() > max_string_length) return encode_error::string_too_long;
    if (!valid_qos(s.max_qos)) return encode_error::invalid_qos;
    remaining += 2 + s.filter.size() + 1;
    if (remaining > max_remaining_length) return encode_error::packet_too_large;
  }
  Writer w = begin_packet(out, type_bits(PacketType::subscribe) | 0x02, remaining);
  w.u16(p.packet_id);
  for (const auto& s : p.subscriptions) {
    w.str(s.filter);
    w.u8(static_cast<std::uint8_t>(s.max_qos));
  }
  end_packet(out, w);
  return {};
}

std::error_code encode(std::string& out, const Suback& p) {
  if (p.packet_id == 0) return encode_error::missing_packet_id;
  if (p.return_codes.empty()) return encode_error::empty_subscription_list;
  if (p.return_codes.size() > max_remaining_length - 2) return encode_error::packet_too_large;
  Writer w = begin_packet(out, type_bits(PacketType::suback), 2 + p.return_codes.size());
  w.u16(p.packet_id);
  for (auto c : p.return_codes) w.u8(static_cast<std::uint8_t>(c));
  end_packet(out, w);
  return {};
}

std::error_code encode(std::string& out, const Unsubscribe& p) {
  if (p.packet_id == 0) return encode_error::missing_packet_id;
  if (p.filters.empty()) return encode_error::empty_subscription_list;
  std::size_t remaining = 2;
  for (auto f : p.filters) {
    if (f.size() > max_string_length) return encode_error::string_too_long;
    remaining += 2 + f.size();
    if (remaining > max_remaining_length) return encode_error::packet_too_large;
  }
  Writer w = begin_packet(out, type_bits(PacketType::unsubscribe) | 0x02, remaining);
  w.u16(p.packet_id);
  for (auto f : p.filters) w.str(f);
  end_packet(out, w);
  return {};
}

std::error_code encode(std::string& out, const Pingreq&) { return encode_empty(out, PacketType::pingreq); }
std::error_code encode(std::string& out, const Pingresp&) { return encode_empty(out, PacketType::pingresp); }
std::error_code encode(std::string& out, const Disconnect&) { return encode_empty(out, PacketType::disconnect); }

std::error_code encode(std::string& out, const Packet& p) {
  return std::visit([&out](const auto& packet) { return encode(out, packet); }, p);
}

//--------------------------------------------------------------------------------------------------
// Decoding helpers

namespace {

constexpr decode_error ok{};  // "no error": decode_error's enumerators start at 1

/// Reads fields from one packet's body; every read is bounds-checked against the body's end.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> body) : p_(body.data()), end_(body.data() + body.size()) {}

  bool done() const { return p_ == end_; }

  decode_error u8(std::uint8_t& v) {
    if (end_ - p_ < 1) return decode_error::truncated;
    v = *p_++;
    return ok;
  }
  decode_error u16(std::uint16_t& v) {
    if (end_ - p_ < 2) return decode_error::truncated;
    v = static_cast<std::uint16_t>((p_[0] << 8) | p_[1]);
    p_ += 2;
    return ok;
  }
  /// A two-byte length followed by that many bytes (MQTT's "binary data" and the base of strings).
  decode_error binary(std::string_view& v) {
    std::uint16_t n = 0;
    if (auto e = u16(n); e != ok) return e;
    if (end_ - p_ < n) return decode_error::truncated;
    v = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return ok;
  }
  /// A UTF-8 encoded string (spec 1.5.3): well-formed, and without U+0000.
  decode_error utf8(std::string_view& v) {
    if (auto e = binary(v); e != ok) return e;
    return first_invalid_utf8(v) ? decode_error::invalid_utf8 : ok;
  }
  decode_error packet_id(std::uint16_t& v) {
    if (auto e = u16(v); e != ok) return e;
    return v == 0 ? decode_error::zero_packet_id : ok;
  }
  /// Everything left in the body (a PUBLISH payload).
  std::string_view rest() {
    std::string_view v(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(end_ - p_));
    p_ = end_;
    return v;
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

/// Flags are checked from the first byte alone, so garbage is refused before more bytes arrive.
decode_error check_header_flags(PacketType type, unsigned flags) {
  switch (type) {
    case PacketType::publish: {
      const unsigned qos = (flags >> 1) & 0x03;
      if (qos == 3) return decode_error::invalid_qos;
      // [MQTT-3.3.1-2]: DUP must be 0 on QoS 0 messages.
      if ((flags & 0x08) != 0 && qos == 0) return decode_error::invalid_header_flags;
      return ok;
    }
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe: return flags == 0x02 ? ok : decode_error::invalid_header_flags;
    default: return flags == 0 ? ok : decode_error::invalid_header_flags;
  }
}

/// Packets whose body has a fixed size are refused on their header when it is wrong, without
/// waiting for (and buffering) a body that cannot be right.
decode_error check_fixed_size(PacketType type, std::uint32_t remaining) {
  std::uint32_t expected = 0;
  switch (type) {
    case PacketType::connack:
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp:
    case PacketType::unsuback: expected = 2; break;
    case PacketType::pingreq:
    case PacketType::pingresp:
    case PacketType::disconnect: expected = 0; break;
    default: return ok;
  }
  if (remaining < expected) return decode_error::truncated;
  if (remaining > expected) return decode_error::trailing_bytes;
  return ok;
}

/// A topic name's rules beyond UTF-8, which Reader::utf8 has already checked (so the hot path scans once).
bool valid_decoded_topic_name(std::string_view topic) {
  return !topic.empty() && topic.find_first_of("+#") == std::string_view::npos;
}

decode_error parse_connect(Reader& r, Connect& p) {
  std::string_view name;
  if (auto e = r.binary(name); e != ok) return e;
  if (name != protocol_name_v4 && name != protocol_name_v3) return decode_error::invalid_protocol_name;
  if (auto e = r.u8(p.protocol_level); e != ok) return e;
  // A broker answers this one with CONNACK 0x01, so it is told apart from a bad name.
  if (p.protocol_level != (name == protocol_name_v4 ? 4 : 3)) return decode_error::unsupported_protocol_level;

  std::uint8_t flags = 0;
  if (auto e = r.u8(flags); e != ok) return e;
  if ((flags & 0x01) != 0) return decode_error::reserved_flag_set;
  p.clean_session = (flags & 0x02) != 0;
  const bool has_will = (flags & 0x04) != 0;
  const unsigned will_qos = (flags >> 3) & 0x03;
  const bool will_retain = (flags & 0x20) != 0;
  const bool has_password = (flags & 0x40) != 0;
  const bool has_username = (flags & 0x80) != 0;
  if (!has_will && (will_qos != 0 || will_retain)) return decode_error::invalid_will_flags;
  if (has_will && will_qos == 3) return decode_error::invalid_qos;
  if (has_password && !has_username) return decode_error::password_without_username;

  if (auto e = r.u16(p.keep_alive); e != ok) return e;
  // An empty or over-long client id is legal on the wire; accepting it is the broker's decision (CONNACK 0x02).
  if (auto e = r.utf8(p.client_id); e != ok) return e;
  if (has_will) {
    Will& will = p.will.emplace();
    will.qos = static_cast<QoS>(will_qos);
    will.retain = will_retain;
    if (auto e = r.utf8(will.topic); e != ok) return e;
    if (!valid_decoded_topic_name(will.topic)) return decode_error::invalid_topic_name;
    if (auto e = r.binary(will.message); e != ok) return e;
  }
  if (has_username) {
    if (auto e = r.utf8(p.username.emplace()); e != ok) return e;
  }
  if (has_password) {
    if (auto e = r.binary(p.password.emplace()); e != ok) return e;
  }
  return ok;
}

decode_error parse_connack(Reader& r, Connack& p) {
  std::uint8_t flags = 0;
  std::uint8_t code = 0;
  if (auto e = r.u8(flags); e != ok) return e;
  if ((flags & 0xFE) != 0) return decode_error::reserved_flag_set;
  if (auto e = r.u8(code); e != ok) return e;
  if (code > static_cast<std::uint8_t>(ConnectReturnCode::not_authorized)) return decode_error::invalid_return_code;
  p.session_present = (flags & 0x01) != 0;
  p.return_code = static_cast<ConnectReturnCode>(code);
  return ok;
}

decode_error parse_publish(Reader& r, unsigned flags, Publish& p) {
  p.dup = (flags & 0x08) != 0;
  p.qos = static_cast<QoS>((flags >> 1) & 0x03);
  p.retain = (flags & 0x01) != 0;
  if (auto e = r.utf8(p.topic); e != ok) return e;
  if (!valid_decoded_topic_name(p.topic)) return decode_error::invalid_topic_name;
  if (p.qos != QoS::at_most_once) {
    if (auto e = r.packet_id(p.packet_id); e != ok) return e;
  }
  p.payload = r.rest();
  return ok;
}

decode_error parse_subscribe(Reader& r, Subscribe& p) {
  if (auto e = r.packet_id(p.packet_id); e != ok) return e;
  if (r.done()) return decode_error::empty_subscription_list;
  while (!r.done()) {
    Subscription s;
    std::uint8_t options = 0;
    if (auto e = r.utf8(s.filter); e != ok) return e;
    if (!valid_topic_filter(s.filter)) return decode_error::invalid_topic_filter;
    if (auto e = r.u8(options); e != ok) return e;
    if ((options & 0xFC) != 0) return decode_error::reserved_flag_set;
    if (options == 3) return decode_error::invalid_qos;
    s.max_qos = static_cast<QoS>(options);
    p.subscriptions.push_back(s);
  }
  return ok;
}

decode_error parse_suback(Reader& r, Suback& p) {
  if (auto e = r.packet_id(p.packet_id); e != ok) return e;
  if (r.done()) return decode_error::empty_subscription_list;
  const std::string_view codes = r.rest();
  p.return_codes.reserve(codes.size());
  for (char c : codes) {
    const auto code = static_cast<std::uint8_t>(c);
    if (code > 2 && code != 0x80) return decode_error::invalid_return_code;
    p.return_codes.push_back(static_cast<SubackCode>(code));
  }
  return ok;
}

decode_error parse_unsubscribe(Reader& r, Unsubscribe& p) {
  if (auto e = r.packet_id(p.packet_id); e != ok) return e;
  if (r.done()) return decode_error::empty_subscription_list;
  while (!r.done()) {
    std::string_view filter;
    if (auto e = r.utf8(filter); e != ok) return e;
    if (!valid_topic_filter(filter)) return decode_error::invalid_topic_filter;
    p.filters.push_back(filter);
  }
  return ok;
}

template <class Ack>
decode_error parse_ack(Reader& r, Ack& p) {
  return r.packet_id(p.packet_id);
}

decode_error parse_body(PacketType type, unsigned flags, Reader& r, Packet& packet) {
  switch (type) {
    case PacketType::connect: return parse_connect(r, packet.emplace<Connect>());
    case PacketType::connack: return parse_connack(r, packet.emplace<Connack>());
    case PacketType::publish: return parse_publish(r, flags, packet.emplace<Publish>());
    case PacketType::puback: return parse_ack(r, packet.emplace<Puback>());
    case PacketType::pubrec: return parse_ack(r, packet.emplace<Pubrec>());
    case PacketType::pubrel: return parse_ack(r, packet.emplace<Pubrel>());
    case PacketType::pubcomp: return parse_ack(r, packet.emplace<Pubcomp>());
    case PacketType::subscribe: return parse_subscribe(r, packet.emplace<Subscribe>());
    case PacketType::suback: return parse_suback(r, packet.emplace<Suback>());
    case PacketType::unsubscribe: return parse_unsubscribe(r, packet.emplace<Unsubscribe>());
    case PacketType::unsuback: return parse_ack(r, packet.emplace<Unsuback>());
    case PacketType::pingreq: packet.emplace<Pingreq>(); return ok;
    case PacketType::pingresp: packet.emplace<Pingresp>(); return ok;
    case PacketType::disconnect: packet.emplace<Disconnect>(); return ok;
  }
  return decode_error::reserved_packet_type;  // unreachable: the type was checked on the first byte
}

DecodeResult need_more(std::size_t n) {
  DecodeResult r;
  r.status = DecodeStatus::need_more;
  r.needed = n;
  return r;
}

DecodeResult failed(decode_error e) {
  DecodeResult r;
  r.status = DecodeStatus::error;
  r.error = e;
  return r;
}

}  // namespace

//--------------------------------------------------------------------------------------------------
// decode

DecodeResult decode(std::span<const std::uint8_t> bytes, std::size_t limit) {
  // The smallest packet is two bytes: the type byte and a one-byte remaining length.
  if (bytes.empty()) return need_more(2);

  const unsigned type_value = bytes[0] >> 4;
  const unsigned flags = bytes[0] & 0x0F;
  if (type_value == 0 || type_value == 15) return failed(decode_error::reserved_packet_type);
  const auto type = static_cast<PacketType>(type_value);
  if (auto e = check_header_flags(type, flags); e != ok) return failed(e);

  // Remaining length: 7 bits per byte, least significant first, at most four bytes (spec 2.2.3).
  std::uint32_t remaining = 0;
  std::size_t header = 1;  // bytes of fixed header read so far
  for (;;) {
    if (header == bytes.size()) return need_more(1);
    const std::uint8_t b = bytes[header];
    remaining |= static_cast<std::uint32_t>(b & 0x7F) << (7 * (header - 1));
    ++header;
    if ((b & 0x80) == 0) break;
    // A continuation bit on the fourth byte is malformed already; no fifth byte is waited for.
    if (header == 5) return failed(decode_error::malformed_remaining_length);
    // More length bytes follow; they may be zero (non-minimal encodings), so the value so far plus one
    // more header byte is a lower bound, and a packet already over the limit is refused right here.
    if (std::size_t{remaining} + header + 1 > limit) return failed(decode_error::packet_too_large);
  }

  // Refuse an oversized packet now, from its header, rather than buffer a body we will not accept.
  const std::size_t total = header + remaining;
  if (total > limit) return failed(decode_error::packet_too_large);
  if (auto e = check_fixed_size(type, remaining); e != ok) return failed(e);
  if (bytes.size() < total) return need_more(total - bytes.size());

  DecodeResult result;
  Reader reader(bytes.subspan(header, remaining));
  if (auto e = parse_body(type, flags, reader, result.packet); e != ok) return failed(e);
  if (!reader.done()) return failed(decode_error::trailing_bytes);
  result.status = DecodeStatus::packet;
  result.consumed = total;
  return result;
}

DecodeResult decode(std::string_view bytes, std::size_t limit) {
  return decode(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                limit);
}

}  // namespace fleetsim::mqtt

#pragma once
// Sans-IO MQTT 3.1.1 codec: every control packet, both directions, bytes in and bytes out.
//
// The same code serves the simulated things (encode CONNECT/PUBLISH, decode CONNACK/PUBACK...) and
// the local broker (the other way round), so every packet type is encoded and decoded.
//
// Lifetime: decoded packets do not own their strings. Every std::string_view in a packet returned by
// decode() points into the input buffer and stays valid only while that buffer is alive and unchanged.
// Copy what must outlive it (retained messages, stored sessions, QoS 1 and 2 state) before the
// receive buffer is compacted or refilled. Packets built for encode() likewise only borrow their
// strings for the duration of the call.
//
// Thread-safety: all functions are free functions without shared state; safe from any thread.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

namespace fleetsim::mqtt {

//--------------------------------------------------------------------------------------------------
// Errors

/// Why a byte sequence is not a well-formed MQTT 3.1.1 packet. Every one of these obliges the
/// receiver to close the network connection (spec 4.8), except that a broker answers
/// `unsupported_protocol_level` with CONNACK 0x01 first (spec 3.1.2.2).
enum class decode_error {
  malformed_remaining_length = 1,  ///< the remaining length runs over four bytes (> 268,435,455)
  packet_too_large,            ///< the packet would be larger than the caller's limit (known from the header)
  reserved_packet_type,        ///< packet type 0 or 15
  invalid_header_flags,        ///< fixed-header flag bits wrong for the type (or DUP set on a QoS 0 PUBLISH)
  invalid_qos,                 ///< QoS 3 in a PUBLISH header, a will, or a SUBSCRIBE request
  truncated,                   ///< a field or a length-prefixed string runs past the end of the packet
  trailing_bytes,              ///< bytes left inside the packet after its last field
  invalid_utf8,                ///< a UTF-8 string field is ill-formed or contains U+0000
  invalid_topic_name,          ///< a PUBLISH or will topic is empty or contains `+` or `#`
  invalid_topic_filter,        ///< a SUBSCRIBE/UNSUBSCRIBE filter is empty or misplaces `+` or `#`
  empty_subscription_list,     ///< a SUBSCRIBE, SUBACK or UNSUBSCRIBE without a single entry
  zero_packet_id,              ///< packet identifier 0 where a non-zero one is required
  invalid_protocol_name,       ///< CONNECT protocol name is neither "MQTT" nor "MQIsdp"
  unsupported_protocol_level,  ///< "MQTT" with a level other than 4, or "MQIsdp" other than 3
  reserved_flag_set,           ///< a reserved bit in the CONNECT flags, CONNACK flags or a subscription's options
  invalid_will_flags,          ///< will QoS or will retain set without the will flag
  password_without_username,   ///< CONNECT password flag set without the user name flag
  invalid_return_code,         ///< a CONNACK return code above 5, or a SUBACK code not 0, 1, 2 or 0x80
};
/// The category of decode_error ("mqtt.decode").
const std::error_category& decode_error_category();
inline std::error_code make_error_code(decode_error e) { return {static_cast<int>(e), decode_error_category()}; }

/// Why a packet could not be encoded. The output buffer is left unchanged when any of these is returned.
/// The encoder checks what would corrupt the byte stream; it does not check UTF-8 or wildcards
/// (see valid_topic_name and valid_topic_filter in topic.hpp).
enum class encode_error {
  string_too_long = 1,      ///< a string or binary field is longer than 65,535 bytes
  packet_too_large,         ///< the remaining length would exceed 268,435,455 bytes
  invalid_qos,              ///< a QoS value other than 0, 1 or 2
  missing_packet_id,        ///< packet identifier 0 where a non-zero one is required
  inconsistent_flags,       ///< DUP on a QoS 0 PUBLISH, or a password without a user name
  empty_subscription_list,  ///< a SUBSCRIBE, SUBACK or UNSUBSCRIBE without a single entry
};
/// The category of encode_error ("mqtt.encode").
const std::error_category& encode_error_category();
inline std::error_code make_error_code(encode_error e) { return {static_cast<int>(e), encode_error_category()}; }

//--------------------------------------------------------------------------------------------------
// Packets

/// Control packet types, with their values in the fixed header's upper nibble.
enum class PacketType : std::uint8_t {
  connect = 1,
  connack,
  publish,
  puback,
  pubrec,
  pubrel,
  pubcomp,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  pingreq,
  pingresp,
  disconnect,
};
/// "CONNECT", "PUBLISH", ...; "RESERVED" for values outside 1..14.
std::string_view to_string(PacketType t);

/// Quality of service of a PUBLISH, a will, or a subscription.
enum class QoS : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

/// CONNACK return codes (spec table 3.1).
enum class ConnectReturnCode : std::uint8_t {
  accepted = 0,
  unacceptable_protocol_version = 1,
  identifier_rejected = 2,
  server_unavailable = 3,
  bad_username_or_password = 4,
  not_authorized = 5,
};

/// SUBACK return codes: the QoS granted per filter, or failure.
enum class SubackCode : std::uint8_t { granted_qos0 = 0x00, granted_qos1 = 0x01, granted_qos2 = 0x02, failure = 0x80 };

/// The message the broker publishes for a client that disappears without DISCONNECT.
struct Will {
  std::string_view topic{};    ///< a topic name (no wildcards)
  std::string_view message{};  ///< binary, may be empty
  QoS qos = QoS::at_most_once;
  bool retain = false;
  friend bool operator==(const Will&, const Will&) = default;
};

/// CONNECT (spec 3.1): the first packet of a connection, client to broker.
struct Connect {
  std::string_view client_id{};  ///< UTF-8; empty asks the broker to assign one (clean session only)
  std::uint16_t keep_alive = 0;  ///< seconds; 0 disables keep-alive
  bool clean_session = true;
  std::optional<Will> will{};
  std::optional<std::string_view> username{};  ///< UTF-8
  std::optional<std::string_view> password{};  ///< binary; requires a user name in 3.1.1
  /// 4 = MQTT 3.1.1 (protocol name "MQTT"); 3 = MQTT 3.1 ("MQIsdp"), accepted on decode for old
  /// clients. Encoding writes "MQIsdp" for 3 and "MQTT" for any other level (so tests can send 5).
  std::uint8_t protocol_level = 4;
  friend bool operator==(const Connect&, const Connect&) = default;
};

/// CONNACK (spec 3.2): the broker's answer to CONNECT.
struct Connack {
  bool session_present = false;
  ConnectReturnCode return_code = ConnectReturnCode::accepted;
  friend bool operator==(const Connack&, const Connack&) = default;
};

/// PUBLISH (spec 3.3), either direction.
struct Publish {
  std::string_view topic{};    ///< a topic name (no wildcards)
  std::string_view payload{};  ///< binary, may be empty
  QoS qos = QoS::at_most_once;
  bool retain = false;
  bool dup = false;             ///< a redelivery; must be false at QoS 0
  std::uint16_t packet_id = 0;  ///< non-zero at QoS 1 and 2; not on the wire (and decoded as 0) at QoS 0
  friend bool operator==(const Publish&, const Publish&) = default;
};

/// PUBACK (3.4) answers a QoS 1 PUBLISH; PUBREC, PUBREL and PUBCOMP (3.5-3.7) are the QoS 2 handshake.
struct Puback {
  std::uint16_t packet_id = 0;
  friend bool operator==(const Puback&, const Puback&) = default;
};
struct Pubrec {
  std::uint16_t packet_id = 0;
  friend bool operator==(const Pubrec&, const Pubrec&) = default;
};
struct Pubrel {
  std::uint16_t packet_id = 0;
  friend bool operator==(const Pubrel&, const Pubrel&) = default;
};
struct Pubcomp {
  std::uint16_t packet_id = 0;
  friend bool operator==(const Pubcomp&, const Pubcomp&) = default;
};

/// One entry of a SUBSCRIBE: a filter and the highest QoS the client wants for it.
struct Subscription {
  std::string_view filter{};  ///< a topic filter (wildcards allowed)
  QoS max_qos = QoS::at_most_once;
  friend bool operator==(const Subscription&, const Subscription&) = default;
};

/// SUBSCRIBE (spec 3.8), client to broker.
///
/// SUBSCRIBE, SUBACK and UNSUBSCRIBE hold vectors: they are rare, so one small allocation each (sized by
/// entries actually present in an already size-checked packet) buys a plain, comparable struct.
struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions{};  ///< at least one
  friend bool operator==(const Subscribe&, const Subscribe&) = default;
};

/// SUBACK (spec 3.9): one return code per requested filter.
struct Suback {
  std::uint16_t packet_id = 0;
  std::vector<SubackCode> return_codes{};  ///< one per filter of the SUBSCRIBE, in order
  friend bool operator==(const Suback&, const Suback&) = default;
};

/// UNSUBSCRIBE (spec 3.10), client to broker.
struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string_view> filters{};  ///< at least one
  friend bool operator==(const Unsubscribe&, const Unsubscribe&) = default;
};

/// UNSUBACK (spec 3.11).
struct Unsuback {
  std::uint16_t packet_id = 0;
  friend bool operator==(const Unsuback&, const Unsuback&) = default;
};

/// PINGREQ, PINGRESP and DISCONNECT (spec 3.12-3.14) have no fields.
struct Pingreq {
  friend bool operator==(const Pingreq&, const Pingreq&) = default;
};
struct Pingresp {
  friend bool operator==(const Pingresp&, const Pingresp&) = default;
};
struct Disconnect {
  friend bool operator==(const Disconnect&, const Disconnect&) = default;
};

/// Any control packet. The alternatives are in packet-type order: index() + 1 is the type's value.
using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe, Suback,
                            Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect>;

/// The type of a packet.
inline PacketType packet_type(const Packet& p) { return static_cast<PacketType>(p.index() + 1); }

//--------------------------------------------------------------------------------------------------
// Sizes

/// The largest remaining length the four-byte encoding can carry (spec 2.2.3).
inline constexpr std::uint32_t max_remaining_length = 268'435'455;
/// The largest possible packet: one type byte, four length bytes and the largest body.
inline constexpr std::size_t max_packet_size = 1 + 4 + std::size_t{max_remaining_length};

/// Appends `value` in MQTT's variable-length encoding (1 to 4 bytes, spec table 2.4).
/// @return false, appending nothing, if `value` > max_remaining_length.
bool append_remaining_length(std::string& out, std::uint32_t value);

//--------------------------------------------------------------------------------------------------
// Encoding
//
// Each encoder appends one complete packet to `out`, growing it once, and writes the fields straight
// into it: no temporary buffers. On error it returns the encode_error and leaves `out` unchanged.

/// The hot path for PUBLISH: no Publish struct needed. `packet_id` is written only when `qos` > 0 and
/// must then be non-zero; `dup` requires `qos` > 0.
[[nodiscard]] std::error_code encode_publish(std::string& out, std::string_view topic, std::string_view payload,
                                             QoS qos = QoS::at_most_once, std::uint16_t packet_id = 0,
                                             bool retain = false, bool dup = false);

[[nodiscard]] std::error_code encode(std::string& out, const Connect& p);
std::error_code encode(std::string& out, const Connack& p);  ///< cannot fail
[[nodiscard]] std::error_code encode(std::string& out, const Publish& p);
[[nodiscard]] std::error_code encode(std::string& out, const Puback& p);
[[nodiscard]] std::error_code encode(std::string& out, const Pubrec& p);
[[nodiscard]] std::error_code encode(std::string& out, const Pubrel& p);
[[nodiscard]] std::error_code encode(std::string& out, const Pubcomp& p);
[[nodiscard]] std::error_code encode(std::string& out, const Subscribe& p);
[[nodiscard]] std::error_code encode(std::string& out, const Suback& p);
[[nodiscard]] std::error_code encode(std::string& out, const Unsubscribe& p);
[[nodiscard]] std::error_code encode(std::string& out, const Unsuback& p);
std::error_code encode(std::string& out, const Pingreq& p);     ///< cannot fail
std::error_code encode(std::string& out, const Pingresp& p);    ///< cannot fail
std::error_code encode(std::string& out, const Disconnect& p);  ///< cannot fail
/// Any packet.
[[nodiscard]] std::error_code encode(std::string& out, const Packet& p);

//--------------------------------------------------------------------------------------------------
// Decoding

enum class DecodeStatus {
  need_more,  ///< the input holds only part of a packet; nothing was consumed
  packet,     ///< `packet` holds the first packet of the input, `consumed` its size
  error,      ///< the input does not start with a valid packet; close the connection
};

/// What decode() found at the start of its input.
struct DecodeResult {
  DecodeStatus status = DecodeStatus::need_more;
  Packet packet;             ///< when status == packet; its views point into the input
  std::size_t consumed = 0;  ///< when status == packet: bytes of the input the packet took
  /// When status == need_more: at least this many more bytes are needed before decode can say more.
  /// Exact once the fixed header is complete; 1 or 2 while it is still arriving.
  std::size_t needed = 0;
  std::error_code error;  ///< when status == error: a decode_error
};

/// Decodes the first packet of `bytes`, leaving any bytes after it for the next call.
///
/// Decoding never reads outside `bytes`, never allocates for PUBLISH (only SUBSCRIBE, SUBACK and
/// UNSUBSCRIBE allocate, one vector sized by the entries present), and decides as early as the bytes
/// allow: a bad first byte fails at once, and a packet larger than `limit` fails as soon as its
/// remaining length is read (or even partly read), before its body is waited for.
///
/// @param bytes received bytes, starting at a packet boundary.
/// @param limit the largest whole packet (fixed header included) the caller accepts; larger ones give
///        decode_error::packet_too_large.
/// @return need_more, a packet with the bytes it consumed, or a decode_error.
DecodeResult decode(std::span<const std::uint8_t> bytes, std::size_t limit = max_packet_size);
/// The same, over chars.
DecodeResult decode(std::string_view bytes, std::size_t limit = max_packet_size);

}  // namespace fleetsim::mqtt

template <>
struct std::is_error_code_enum<fleetsim::mqtt::decode_error> : std::true_type {};
template <>
struct std::is_error_code_enum<fleetsim::mqtt::encode_error> : std::true_type {};

#pragma once
// The client side of an MQTT 3.1.1 session, without I/O: it is given received bytes and the current
// time, and answers with bytes to send (pending_output), events (SessionHandler) and the next time it
// needs to be called (next_deadline). The asio driver only performs what it says; tests drive it at
// full speed with a fake clock.
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sim/mqtt/codec.hpp"

namespace fleetsim::mqtt {

using SessionTime = std::chrono::steady_clock::time_point;

/// Why a session ended or refused a request.
enum class session_error {
  connack_timeout = 1,  ///< no CONNACK before the connect deadline
  connection_refused,   ///< CONNACK with a non-zero return code
  ping_timeout,         ///< no PINGRESP in time: the connection is dead
  protocol_violation,   ///< the broker sent something a client must not receive, or a bad packet
  inflight_full,        ///< QoS 1 in-flight window is full: back off (not fatal)
  not_connected,        ///< a request before CONNACK or after the end (not fatal)
  encode_failed,        ///< the packet could not be encoded (e.g. a string over 65,535 bytes)
};
const std::error_category& session_error_category();
inline std::error_code make_error_code(session_error e) { return {static_cast<int>(e), session_error_category()}; }

struct SessionOptions {
  std::string client_id;
  std::chrono::seconds keep_alive{60};
  bool clean_session = true;
  std::size_t max_inflight = 100;                   ///< AWS IoT: 100 unacknowledged QoS 1 publishes
  std::chrono::milliseconds connack_timeout{10'000};
  std::size_t max_packet = 256 * 1024;              ///< largest packet accepted from the broker
};

/// What the session tells its owner. Called from inside receive().
class SessionHandler {
 public:
  virtual ~SessionHandler() = default;
  virtual void on_connected(bool /*session_present*/) {}
  /// A PUBLISH from the broker (already acknowledged if QoS 1). Views are valid during the call only.
  virtual void on_message(const Publish& /*message*/) {}
  /// A QoS 1 publish was acknowledged, `latency` after it was queued.
  virtual void on_published(std::uint16_t /*packet_id*/, std::chrono::microseconds /*latency*/) {}
  virtual void on_subscribed(std::uint16_t /*packet_id*/, std::span<const SubackCode> /*codes*/) {}
};

class ClientSession {
 public:
  enum class State { idle, awaiting_connack, connected, closed };

  explicit ClientSession(SessionOptions options);

  /// Queues CONNECT; the driver sends pending_output() once the transport is up.
  void start(SessionTime now);
  /// Queues a PUBLISH. QoS 1 takes a packet id (returned in `packet_id`) and fails with inflight_full
  /// when the window is full.
  std::error_code publish(std::string_view topic, std::string_view payload, QoS qos, SessionTime now,
                          std::uint16_t* packet_id = nullptr);
  /// Queues a SUBSCRIBE for the filters, all at `qos`.
  std::error_code subscribe(std::span<const std::string_view> filters, QoS qos, SessionTime now,
                            std::uint16_t* packet_id = nullptr);
  /// Queues DISCONNECT; the session is closed after it (the driver closes once it is written).
  void disconnect();
  /// Feeds received bytes; returns an error when the connection must be closed.
  std::error_code receive(std::span<const std::uint8_t> bytes, SessionTime now, SessionHandler& handler);
  /// Time-driven work: keep-alive pings and timeouts. Returns an error when the connection must close.
  std::error_code on_timer(SessionTime now);
  /// When on_timer() must next be called (max() when never).
  SessionTime next_deadline() const;

  /// Bytes to write. The driver takes them (swap or move) and writes them in order.
  std::string& pending_output() { return out_; }
  bool has_output() const { return !out_.empty(); }

  State state() const { return state_; }
  std::size_t inflight() const { return inflight_.size(); }
  /// QoS 1 publishes sent but not acknowledged (counted as lost when the connection ends).
  std::size_t unacknowledged() const { return inflight_.size(); }
  const SessionOptions& options() const { return options_; }

 private:
  struct Inflight {
    std::uint16_t packet_id;
    SessionTime sent;
  };
  std::uint16_t next_packet_id();
  std::error_code handle(const Packet& packet, SessionTime now, SessionHandler& handler);
  void sent_something(SessionTime now) { last_sent_ = now; }

  SessionOptions options_;
  State state_ = State::idle;
  std::string out_;
  std::string in_;  // a partial packet carried over between receive() calls
  std::vector<Inflight> inflight_;
  std::uint16_t last_packet_id_ = 0;
  SessionTime connect_sent_{};
  SessionTime last_sent_{};
  SessionTime ping_sent_{};
  bool ping_outstanding_ = false;
};

}  // namespace fleetsim::mqtt

template <>
struct std::is_error_code_enum<fleetsim::mqtt::session_error> : std::true_type {};

#pragma once
// What the local broker asks of the rest of the emulator, and what it tells it. The broker owns sockets,
// TLS and MQTT; who may do what (the registry and its IAM-like policies) and what the traffic means (the
// per-thing metrics the detector reads) live behind these two interfaces. Both are called from the
// broker's threads at the same time, so implementations are thread-safe.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fleetsim::local {

/// Who is on the other end of a connection, as far as the broker knows after the TLS handshake and CONNECT.
struct ConnectionIdentity {
  std::string client_id;
  std::string certificate_id;  ///< AWS's certificate id: lower-case hex SHA-256 of the client certificate's DER; "" without one
  std::string source_ip;       ///< "127.0.0.1", "::1"
};

/// One connection's rights, decided once at CONNECT (AWS also evaluates policies per connection).
class ConnectionPolicy {
 public:
  virtual ~ConnectionPolicy() = default;
  virtual bool may_publish(std::string_view topic) const = 0;
  virtual bool may_subscribe(std::string_view topic_filter) const = 0;
  /// Whether a message on `topic` matched by an allowed subscription may be delivered (iot:Receive).
  virtual bool may_receive(std::string_view topic) const = 0;
};

/// Why a connection was refused; maps to the CONNACK code the broker sends.
enum class ConnectRefusal { none, not_authorized, bad_credentials, identifier_rejected };

struct ConnectDecision {
  ConnectRefusal refusal = ConnectRefusal::none;
  std::shared_ptr<const ConnectionPolicy> policy;  ///< set when refusal == none
  std::string thing_name;                          ///< the registered thing this identity is ("" if unregistered)
  std::string reason;                              ///< for the broker's log when refused
};

class BrokerAuthority {
 public:
  virtual ~BrokerAuthority() = default;
  virtual ConnectDecision authorize_connect(const ConnectionIdentity& who) const = 0;
};

/// Why a connection ended, in AWS's lifecycle-event vocabulary.
enum class DisconnectReason {
  client_initiated,   ///< DISCONNECT packet
  connection_lost,    ///< the socket closed or failed without DISCONNECT
  keep_alive_timeout,
  duplicate_client_id,
  auth_error,         ///< refused at CONNECT, or an action the policy denies
  throttled,          ///< connect or publish rate above the limits
  client_error,       ///< protocol violation: malformed packet, oversized payload, bad topic
  server_initiated,   ///< the broker stopped
};
std::string_view to_string(DisconnectReason r);

/// The traffic facts the metrics are computed from; `client_id` is the connection's (AWS attributes
/// cloud-side metrics to the client id, which fleetsim keeps equal to the thing name).
class BrokerObserver {
 public:
  virtual ~BrokerObserver() = default;
  /// Every CONNECT, accepted or not (aws:num-connection-attempts counts both).
  virtual void on_connect_attempt(const ConnectionIdentity& who, bool accepted) = 0;
  /// Only for connections that had been accepted (aws:num-disconnects).
  virtual void on_disconnect(const ConnectionIdentity& who, DisconnectReason why) = 0;
  /// A PUBLISH from the device that the broker accepted (aws:num-messages-sent, aws:message-byte-size).
  virtual void on_message_from_device(const ConnectionIdentity& who, std::string_view topic, std::size_t payload_bytes) = 0;
  /// A PUBLISH delivered to the device (aws:num-messages-received).
  virtual void on_message_to_device(const ConnectionIdentity& who, std::string_view topic, std::size_t payload_bytes) = 0;
  /// A publish, subscribe or receive the policy denied (aws:num-authorization-failures).
  virtual void on_authorization_failure(const ConnectionIdentity& who, std::string_view action, std::string_view resource) = 0;
  /// A device-side metrics report the broker accepted (already validated), for `thing_name` from the topic.
  virtual void on_device_report(std::string_view thing_name, const nlohmann::json& report) = 0;
};

}  // namespace fleetsim::local

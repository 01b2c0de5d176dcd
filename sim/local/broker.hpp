#pragma once
// The emulator's MQTT 3.1.1 broker: AWS IoT Core's message broker on loopback, as far as fleetsim and a
// user's devices can tell. Mutual TLS with certificates from the local CA (or plain TCP on purpose), the
// identity and policy decided by a BrokerAuthority, traffic facts reported to a BrokerObserver, AWS's
// protocol limits and quotas enforced, Device Defender's device-side metric reports answered.
//
//   auto broker = Broker::create({.ca = ca, .authority = &authority, .observer = &metrics});
//   auto port = (*broker)->start();    // its own threads
//   ... (*broker)->url() == "mqtts://127.0.0.1:PORT"
//
// What it does as AWS does (see device-defender.md §1, §5):
//  - QoS 0 and 1. SUBSCRIBE at QoS 2 is granted QoS 1; a PUBLISH at QoS 2 is a protocol error (closed).
//  - A second connection with a client id disconnects the first (DUPLICATE_CLIENTID).
//  - Keep-alive: 0 or above max_keep_alive is clamped to max_keep_alive, below min_keep_alive raised to
//    it; the connection is closed after 1.5 x keep-alive without a packet (real time).
//  - Limits: payloads above max_payload, client ids above max_client_id or starting with '$', topics
//    above max_topic_bytes or max_topic_slashes (Basic Ingest's `$aws/rules/RULE/` prefix not counted).
//  - Publishes above publishes_per_second on a connection are discarded (AWS: "excess is discarded";
//    the connection stays up, a QoS 1 publish gets no PUBACK). Counted in stats, not in the observer.
//  - CONNECTs above connects_per_client_id_per_second are refused with CONNACK 3 (server unavailable:
//    "try later"; AWS does not document the code) and counted as THROTTLED.
//  - Policy: a denied PUBLISH is an authorization failure and closes the connection (AUTH_ERROR) unless
//    disconnect_on_denied_publish is off; a denied SUBSCRIBE gets SUBACK 0x80; a delivery the policy
//    does not let the device receive is not sent. All three are reported as authorization failures.
//  - Device reports on $aws/things/THING/defender/metrics/json (or /cbor, answered in CBOR) are checked
//    (device_report.hpp) and answered on .../accepted or .../rejected; they are not delivered to
//    subscribers, and the report topic itself cannot be subscribed to (SUBACK 0x80).
// Not emulated: persistent sessions (clean_session=0 is accepted but nothing is kept: CONNACK says
// session present = 0), retained messages (the retain flag is cleared on delivery), wills, QoS 1
// redelivery, the per-connection throughput cap (512 KiB/s), subscription quotas.
//
// Threads: `threads` io_contexts, one thread each; accepted connections are spread round-robin and each
// lives on one thread. A delivery to a connection on another thread is posted to that thread. The
// subscription index takes a shared lock per PUBLISH; the client-id table a mutex per CONNECT.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sim/core/clock.hpp"
#include "sim/core/expected.hpp"
#include "sim/core/pki.hpp"
#include "sim/local/broker_hooks.hpp"

namespace fleetsim::local {

struct BrokerOptions {
  std::string address = "127.0.0.1";  ///< where to listen (loopback unless on purpose)
  std::uint16_t port = 0;              ///< 0: a free port, see Broker::port()
  bool tls = true;                     ///< mutual TLS; false: plain TCP (tests, benchmarks)
  /// Issues the server certificate (127.0.0.1, ::1, localhost) and verifies client certificates.
  std::shared_ptr<const pki::CertifiedKey> ca;
  bool require_client_certificate = true;
  unsigned threads = 1;                ///< io_context per thread, connections spread over them
  const Clock* clock = nullptr;        ///< scenario time for rate limits and acknowledgements (null: system clock)
  const BrokerAuthority* authority = nullptr;  ///< required
  BrokerObserver* observer = nullptr;          ///< optional (metrics)
  /// Errors worth a line (TLS failures, refused connections), saying what and who; null: silent.
  /// Called from the broker's threads, never on the per-message path.
  std::function<void(std::string_view)> log;

  // AWS IoT Core limits, enforced by default and configurable.
  std::size_t max_payload = 128 * 1024;
  std::size_t max_client_id = 128;
  std::size_t max_topic_bytes = 256;
  int max_topic_slashes = 7;
  double publishes_per_second = 100;               ///< per connection, inbound, scenario time
  double connects_per_client_id_per_second = 1;    ///< scenario time
  std::chrono::seconds max_keep_alive{1200};
  std::chrono::seconds min_keep_alive{30};
  std::chrono::milliseconds connect_timeout{10000};  ///< TLS handshake + CONNECT, real time
  std::size_t max_connections = 60000;               ///< more are closed on accept
  /// Bytes waiting to be written to one connection: beyond it QoS 0 deliveries are dropped, and a
  /// connection that would need more for anything else is closed (a slow consumer).
  std::size_t max_queued_bytes_per_connection = 1 << 20;
  bool disconnect_on_denied_publish = true;          ///< AWS closes the connection (AUTH_ERROR)
};

/// Why a CONNECT was refused.
enum class RefusalReason {
  not_authorized,          ///< CONNACK 5: the authority said no
  bad_credentials,         ///< CONNACK 4
  identifier_rejected,     ///< CONNACK 2: empty, too long, or starts with '$'; or the authority said so
  unacceptable_protocol,   ///< CONNACK 1: not MQTT 3.1.1 (or 3.1)
  throttled,               ///< CONNACK 3: above connects_per_client_id_per_second
  count_,
};
std::string_view to_string(RefusalReason r);

/// Counters since start(); every field sums over the broker's threads.
struct BrokerStats {
  std::uint64_t connections = 0;            ///< open now (accepted by CONNACK 0, not yet ended)
  std::uint64_t connections_accepted = 0;   ///< CONNACK 0 sent
  std::uint64_t sockets_refused = 0;        ///< closed on accept: above max_connections
  std::uint64_t handshake_failures = 0;     ///< TLS handshakes that failed or did not finish within connect_timeout
  std::uint64_t messages_in = 0;            ///< PUBLISH from devices that the broker accepted
  std::uint64_t messages_out = 0;           ///< PUBLISH sent to devices
  std::uint64_t publishes_throttled = 0;    ///< discarded above publishes_per_second
  std::uint64_t deliveries_dropped = 0;     ///< QoS 0 deliveries dropped for slow consumers
  std::uint64_t authorization_failures = 0; ///< publish, subscribe and receive denied by the policy
  std::uint64_t reports_accepted = 0;       ///< device-side metric reports
  std::uint64_t reports_rejected = 0;
  std::array<std::uint64_t, std::size_t(RefusalReason::count_)> refusals{};  ///< by RefusalReason
  std::array<std::uint64_t, 8> disconnects{};                                ///< by DisconnectReason
  std::uint64_t refused(RefusalReason r) const { return refusals[std::size_t(r)]; }
  std::uint64_t disconnected(DisconnectReason r) const { return disconnects[std::size_t(r)]; }
};

class Broker {
 public:
  /// Checks the options and makes the server certificate; listens on nothing yet.
  static Expected<std::unique_ptr<Broker>> create(BrokerOptions options);
  ~Broker();  ///< stop()
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  /// Listens and starts the threads; returns the port.
  Expected<std::uint16_t> start();
  /// Stops accepting, closes every connection (SERVER_INITIATED_DISCONNECT), joins the threads.
  /// Not from the broker's own threads (an observer callback): it would wait for itself.
  void stop();

  std::uint16_t port() const;
  /// `mqtts://127.0.0.1:PORT` (`mqtt://` without TLS; IPv6 addresses in brackets).
  std::string url() const;
  BrokerStats stats() const;

  struct Impl;

 private:
  explicit Broker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fleetsim::local

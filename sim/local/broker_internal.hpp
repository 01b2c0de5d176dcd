#pragma once
// The broker's insides, shared by broker.cpp (threads, acceptor, client ids), broker_session.cpp (one
// connection) and broker_routing.cpp (subscriptions and delivery). Not a public header.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "sim/local/broker.hpp"
#include "sim/mqtt/codec.hpp"

namespace fleetsim::local::detail {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

class Session;

/// One thread's counters; only that thread writes them, stats() reads them from anywhere.
struct Counters {
  using C = std::atomic<std::uint64_t>;
  C connections{0}, connections_accepted{0}, handshake_failures{0}, messages_in{0}, messages_out{0},
      publishes_throttled{0}, deliveries_dropped{0}, authorization_failures{0}, reports_accepted{0},
      reports_rejected{0};
  std::array<C, std::size_t(RefusalReason::count_)> refusals{};
  std::array<C, 8> disconnects{};
  static void bump(C& c, std::uint64_t n = 1) { c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  static void drop(C& c) { c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed); }
};

/// A message routed to connections on another thread: topic and payload in one allocation.
struct Routed {
  std::string bytes;  ///< topic then payload
  std::size_t topic_size;
  std::string_view topic() const { return std::string_view(bytes).substr(0, topic_size); }
  std::string_view payload() const { return std::string_view(bytes).substr(topic_size); }
};
struct Delivery {
  std::shared_ptr<Session> session;
  std::shared_ptr<const Routed> message;
  std::uint8_t qos;
};

/// One thread: its io_context, its connections and a tick that enforces their deadlines.
struct Shard {
  explicit Shard(unsigned i) : index(i) {}
  unsigned index;
  net::io_context ioc{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
  net::steady_timer tick{ioc};
  SteadyTime now = std::chrono::steady_clock::now();  ///< refreshed by the tick: coarse, cheap
  std::vector<std::shared_ptr<Session>> sessions;       ///< this thread's only
  Counters counters;
  /// Deliveries from other threads. One post drains everything queued since it was made, so a busy
  /// thread wakes its neighbour once per batch rather than once per message.
  std::mutex inbox_mutex;
  std::vector<Delivery> inbox;
  bool drain_posted = false;
  void push(Delivery d);
};

/// Topic filter -> subscribed sessions. Exact filters in a hash map; wildcard filters bucketed by their
/// first level when it is literal (`things/+/cmd` under "things"), the rest (`+/x`, `#`) in one list.
/// Readers (every PUBLISH) take a shared lock; SUBSCRIBE, UNSUBSCRIBE and close take it exclusively.
class SubscriptionIndex {
 public:
  struct Match {
    std::shared_ptr<Session> session;
    std::uint8_t qos;
  };
  /// Adds or replaces (same session and filter) a subscription.
  void add(Session* s, const std::string& filter, std::uint8_t qos);
  void remove(Session* s, const std::string& filter);
  /// Sessions whose filters match `topic`, each once at the highest granted QoS, into `out` (cleared).
  void match(std::string_view topic, std::vector<Match>& out) const;

 private:
  struct Entry {
    Session* session;
    std::string filter;  ///< kept for wildcard matching
    std::uint8_t qos;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, std::vector<Entry>, Hash, std::equal_to<>>;
  static bool is_wildcard(std::string_view filter);
  static std::string_view first_level(std::string_view s) { return s.substr(0, s.find('/')); }
  std::vector<Entry>* bucket(const std::string& filter, bool create);
  mutable std::shared_mutex mutex_;
  Map exact_;
  Map wild_;
  std::vector<Entry> wild_root_;
};

/// What one connection needs from the broker.
struct Core {
  BrokerOptions options;
  const Clock* clock = nullptr;
  std::shared_ptr<net::ssl::context> tls;
  std::vector<std::unique_ptr<Shard>> shards;
  SubscriptionIndex index;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> open_sockets{0};

  /// Client ids: the connection that holds each, and its CONNECT rate bucket.
  struct Client {
    std::weak_ptr<Session> session;
    double tokens = 0;
    EpochMillis last = 0;
  };
  std::mutex clients_mutex;
  std::unordered_map<std::string, Client> clients;

  /// Spends a CONNECT token of `client_id`; false when above the rate (THROTTLED).
  bool admit_connect(const std::string& client_id);
  /// Makes `s` the holder of its client id; the previous holder, if any and alive, is told to go.
  void take_client_id(const std::shared_ptr<Session>& s, const std::string& client_id);
  /// Releases the client id if `s` still holds it.
  void release_client_id(const Session* s, const std::string& client_id);
  /// Sends a message to every matching subscriber (other threads' by post). `shard` is the caller's.
  void route(Shard& shard, std::string_view topic, std::string_view payload, mqtt::QoS qos);
  void log(std::string_view line) const {
    if (options.log) options.log(line);
  }
};

/// One client connection: TLS (or plain) transport, the MQTT state machine, a bounded write queue.
/// Lives on one shard; every member runs on that shard's thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Core& core, Shard& shard, tcp::socket socket);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  /// Sends a routed message (min of its QoS and the subscription's); checks iot:Receive.
  void deliver(std::string_view topic, std::string_view payload, std::uint8_t qos);
  /// Closes because of something outside the connection (duplicate client id, broker stopping).
  void kick(DisconnectReason why) { close(why); }
  /// Deadlines: connect timeout, keep-alive.
  void on_tick(SteadyTime now);
  bool closed() const { return state_ == State::closed; }
  Shard& shard() { return shard_; }

 private:
  enum class State { handshake, connecting, connected, closing, closed };
  void on_handshake(const boost::system::error_code& ec);
  void read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  /// Handles one packet; false when the connection is going away.
  bool on_packet(const mqtt::Packet& p);
  bool on_connect(const mqtt::Connect& c);
  bool on_publish(const mqtt::Publish& p);
  bool on_subscribe(const mqtt::Subscribe& s);
  bool on_unsubscribe(const mqtt::Unsubscribe& u);
  void on_device_report(std::string_view topic, std::string_view payload);
  /// Refuses the CONNECT: CONNACK `code`, then close once it is written.
  bool refuse(RefusalReason why, mqtt::ConnectReturnCode code, std::string_view detail);
  bool topic_allowed(std::string_view topic) const;
  void flush();
  void on_written(const boost::system::error_code& ec);
  /// Ends the connection now; observer and counters once.
  void close(DisconnectReason why);
  std::string who() const;

  Core& core_;
  Shard& shard_;
  tcp::socket socket_;
  std::unique_ptr<net::ssl::stream<tcp::socket&>> tls_;
  State state_ = State::handshake;
  ConnectionIdentity identity_;
  std::string thing_name_;
  std::shared_ptr<const ConnectionPolicy> policy_;
  std::vector<std::pair<std::string, std::uint8_t>> filters_;
  SteadyTime deadline_;                     ///< of the handshake + CONNECT, or of a refusal's flush
  SteadyTime last_packet_;
  std::chrono::milliseconds keep_alive_limit_{0};  ///< 1.5 x keep-alive; 0: none
  std::string rx_;                          ///< received bytes [0, rx_len_)
  std::size_t rx_len_ = 0;
  std::string pending_;                     ///< encoded, waiting for the write in flight
  std::string writing_;                     ///< the write in flight
  bool write_in_flight_ = false;
  bool read_in_flight_ = false;
  std::uint16_t next_packet_id_ = 1;
  EpochMillis rate_window_ = 0;             ///< start of the current second of scenario time
  double rate_count_ = 0;
};

}  // namespace fleetsim::local::detail

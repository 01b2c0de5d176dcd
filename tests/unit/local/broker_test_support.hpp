#pragma once
// For the broker's tests: a raw MQTT client built from the sim/mqtt codec (the test controls every byte),
// a tiny authority with per-client policies, and an observer that records every call.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/core/pki.hpp"
#include "sim/local/broker_hooks.hpp"
#include "sim/mqtt/codec.hpp"
#include "sim/mqtt/topic.hpp"

namespace fleetsim::test {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

/// A packet as received, owning its strings.
struct Received {
  mqtt::PacketType type{};
  mqtt::ConnectReturnCode connack = mqtt::ConnectReturnCode::accepted;
  std::string topic, payload;
  mqtt::QoS qos = mqtt::QoS::at_most_once;
  std::uint16_t packet_id = 0;
  std::vector<mqtt::SubackCode> codes;
};

class RawClient {
 public:
  /// Connects over TCP, and over TLS when `ca` is set (presenting `identity` if set).
  explicit RawClient(std::uint16_t port, const pki::CertifiedKey* identity = nullptr, const pki::Certificate* ca = nullptr)
      : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    if (!ca) return;
    ctx_.emplace(net::ssl::context::tls_client);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_->native_handle()), ca->get());
    ctx_->set_verify_mode(net::ssl::verify_peer);
    tls_.emplace(socket_, *ctx_);
    SSL_set_tlsext_host_name(tls_->native_handle(), "localhost");
    tls_->set_verify_callback(net::ssl::host_name_verification("localhost"));
    if (identity) {
      SSL_use_certificate(tls_->native_handle(), identity->certificate.get());
      SSL_use_PrivateKey(tls_->native_handle(), identity->key.get());
    }
    boost::system::error_code ec;
    bool done = false;
    tls_->async_handshake(net::ssl::stream_base::client, [&](const boost::system::error_code& e) {
      ec = e;
      done = true;
    });
    ioc_.restart();
    ioc_.run_for(5s);
    if (!done || ec) handshake_error_ = done ? ec.message() : "timeout";
  }
  const std::string& handshake_error() const { return handshake_error_; }

  void send_bytes(const std::string& bytes) {
    boost::system::error_code ec;
    if (tls_) net::write(*tls_, net::buffer(bytes), ec);
    else net::write(socket_, net::buffer(bytes), ec);
  }
  template <class P>
  void send(const P& p) {
    std::string out;
    if (mqtt::encode(out, mqtt::Packet(p))) throw std::runtime_error("encode failed");
    send_bytes(out);
  }
  void publish(std::string_view topic, std::string_view payload, mqtt::QoS qos = mqtt::QoS::at_most_once,
               std::uint16_t id = 0) {
    std::string out;
    if (mqtt::encode_publish(out, topic, payload, qos, qos == mqtt::QoS::at_most_once ? 0 : (id ? id : next_id_++)))
      throw std::runtime_error("encode failed");
    send_bytes(out);
  }

  /// CONNECT and the CONNACK's code (nullopt if the broker closed or said nothing).
  std::optional<mqtt::ConnectReturnCode> connect(std::string_view client_id, std::uint16_t keep_alive = 60) {
    send(mqtt::Connect{.client_id = client_id, .keep_alive = keep_alive});
    auto r = receive();
    if (!r || r->type != mqtt::PacketType::connack) return std::nullopt;
    return r->connack;
  }
  std::vector<mqtt::SubackCode> subscribe(std::vector<std::string> filters, mqtt::QoS qos = mqtt::QoS::at_least_once) {
    mqtt::Subscribe s{next_id_++, {}};
    for (const auto& f : filters) s.subscriptions.push_back({f, qos});
    send(s);
    auto r = receive();
    return r && r->type == mqtt::PacketType::suback ? r->codes : std::vector<mqtt::SubackCode>{};
  }

  /// The next packet, or nullopt after `deadline` or when the broker closed the connection.
  std::optional<Received> receive(std::chrono::milliseconds deadline = 3s) {
    auto until = std::chrono::steady_clock::now() + deadline;
    for (int i = 0; i < 100000; ++i) {
      if (auto p = take()) return p;
      if (closed_) return std::nullopt;
      auto left = until - std::chrono::steady_clock::now();
      if (left <= 0s) return std::nullopt;
      read_some(std::chrono::duration_cast<std::chrono::milliseconds>(left));
    }
    return std::nullopt;
  }
  /// Packets until the broker closes or `deadline` passes; true if it closed.
  bool closed_within(std::chrono::milliseconds deadline, std::vector<Received>* seen = nullptr) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (!closed_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      auto p = receive(left);
      if (p && seen) seen->push_back(*p);
    }
    return true;
  }
  /// A round trip that proves the connection is alive and everything sent before was handled;
  /// returns what arrived before the PINGRESP.
  std::optional<std::vector<Received>> sync(std::chrono::milliseconds deadline = 3s) {
    send(mqtt::Pingreq{});
    std::vector<Received> before;
    for (int i = 0; i < 100000; ++i) {
      auto p = receive(deadline);
      if (!p) return std::nullopt;
      if (p->type == mqtt::PacketType::pingresp) return before;
      before.push_back(*p);
    }
    return std::nullopt;
  }
  bool closed() const { return closed_; }

 private:
  std::optional<Received> take() {
    auto r = mqtt::decode(std::string_view(buffer_));
    if (r.status != mqtt::DecodeStatus::packet) return std::nullopt;
    Received out;
    out.type = mqtt::packet_type(r.packet);
    if (auto* c = std::get_if<mqtt::Connack>(&r.packet)) out.connack = c->return_code;
    if (auto* p = std::get_if<mqtt::Publish>(&r.packet)) {
      out.topic = std::string(p->topic);
      out.payload = std::string(p->payload);
      out.qos = p->qos;
      out.packet_id = p->packet_id;
    }
    if (auto* a = std::get_if<mqtt::Puback>(&r.packet)) out.packet_id = a->packet_id;
    if (auto* s = std::get_if<mqtt::Suback>(&r.packet)) {
      out.packet_id = s->packet_id;
      out.codes = s->return_codes;
    }
    buffer_.erase(0, r.consumed);
    return out;
  }
  void read_some(std::chrono::milliseconds deadline) {
    char chunk[65536];
    bool done = false;
    auto handler = [&](const boost::system::error_code& ec, std::size_t n) {
      done = true;
      if (ec) closed_ = true;
      buffer_.append(chunk, n);
    };
    if (tls_) tls_->async_read_some(net::buffer(chunk), handler);
    else socket_.async_read_some(net::buffer(chunk), handler);
    ioc_.restart();
    ioc_.run_for(deadline);
    if (!done) {
      socket_.cancel();
      ioc_.restart();
      ioc_.run();  // the cancelled read completes
    }
  }

  net::io_context ioc_;
  tcp::socket socket_;
  std::optional<net::ssl::context> ctx_;
  std::optional<net::ssl::stream<tcp::socket&>> tls_;
  std::string buffer_;
  bool closed_ = false;
  std::string handshake_error_;
  std::uint16_t next_id_ = 1;
};

/// Rights by topic filter patterns (MQTT wildcards); an empty list allows nothing.
struct TestPolicy : local::ConnectionPolicy {
  std::vector<std::string> publish, subscribe, receive;
  static bool any(const std::vector<std::string>& filters, std::string_view topic) {
    for (const auto& f : filters)
      if (f == topic || mqtt::topic_matches(f, topic)) return true;
    return false;
  }
  bool may_publish(std::string_view t) const override { return any(publish, t); }
  bool may_subscribe(std::string_view f) const override { return any(subscribe, f); }
  bool may_receive(std::string_view t) const override { return any(receive, t); }
};

/// Accepts the client ids it knows; with `certificates`, only with the certificate registered for them.
struct TestAuthority : local::BrokerAuthority {
  std::map<std::string, std::shared_ptr<TestPolicy>> policies;    ///< client id -> rights
  std::map<std::string, std::string> certificates;                 ///< client id -> certificate id
  local::ConnectDecision authorize_connect(const local::ConnectionIdentity& who) const override {
    local::ConnectDecision d;
    auto it = policies.find(who.client_id);
    auto cert = certificates.find(who.client_id);
    if (it == policies.end() || (cert != certificates.end() && cert->second != who.certificate_id)) {
      d.refusal = local::ConnectRefusal::not_authorized;
      d.reason = "unknown client id or certificate";
      return d;
    }
    d.policy = it->second;
    d.thing_name = who.client_id;
    return d;
  }
  /// Everything allowed under `prefix/#` plus the thing's own Device Defender topics.
  std::shared_ptr<TestPolicy> allow(const std::string& client_id, const std::vector<std::string>& filters = {"#"}) {
    auto p = std::make_shared<TestPolicy>();
    p->publish = p->subscribe = p->receive = filters;
    for (auto* t : {"/defender/metrics/json", "/defender/metrics/cbor", "/defender/metrics/+/+"}) {
      p->publish.push_back("$aws/things/" + client_id + t);
      p->subscribe.push_back("$aws/things/" + client_id + t);
      p->receive.push_back("$aws/things/" + client_id + t);
    }
    policies[client_id] = p;
    return p;
  }
};

/// Every observer call, as text, in order.
struct RecordingObserver : local::BrokerObserver {
  mutable std::mutex mutex;
  std::vector<std::string> events;
  std::vector<nlohmann::json> reports;
  void add(std::string e) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(e));
  }
  void on_connect_attempt(const local::ConnectionIdentity& who, bool accepted) override {
    add("attempt " + who.client_id + (accepted ? " accepted" : " refused"));
  }
  void on_disconnect(const local::ConnectionIdentity& who, local::DisconnectReason why) override {
    add("disconnect " + who.client_id + " " + std::string(local::to_string(why)));
  }
  void on_message_from_device(const local::ConnectionIdentity& who, std::string_view topic, std::size_t n) override {
    add("from " + who.client_id + " " + std::string(topic) + " " + std::to_string(n));
  }
  void on_message_to_device(const local::ConnectionIdentity& who, std::string_view topic, std::size_t n) override {
    add("to " + who.client_id + " " + std::string(topic) + " " + std::to_string(n));
  }
  void on_authorization_failure(const local::ConnectionIdentity& who, std::string_view action,
                                std::string_view resource) override {
    add("denied " + who.client_id + " " + std::string(action) + " " + std::string(resource));
  }
  void on_device_report(std::string_view thing, const nlohmann::json& report) override {
    std::lock_guard lock(mutex);
    events.push_back("report " + std::string(thing));
    reports.push_back(report);
  }
  bool has(const std::string& e) const {
    std::lock_guard lock(mutex);
    return std::find(events.begin(), events.end(), e) != events.end();
  }
  std::size_t count(const std::string& e) const {
    std::lock_guard lock(mutex);
    return std::size_t(std::count(events.begin(), events.end(), e));
  }
};

}  // namespace fleetsim::test

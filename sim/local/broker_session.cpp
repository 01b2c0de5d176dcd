// One client connection of the broker: handshake, CONNECT, the packets after it, deadlines, writes.
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

#include "sim/local/broker_internal.hpp"
#include "sim/local/device_report.hpp"

namespace fleetsim::local::detail {

namespace {
constexpr std::size_t initial_rx = 1024;
constexpr std::size_t keep_buffer = 64 * 1024;  // larger buffers are freed once drained
}  // namespace

Session::Session(Core& core, Shard& shard, tcp::socket socket)
    : core_(core), shard_(shard), socket_(std::move(socket)) {
  boost::system::error_code ec;
  auto remote = socket_.remote_endpoint(ec);
  if (!ec) identity_.source_ip = remote.address().to_string();
  socket_.set_option(tcp::no_delay(true), ec);
  deadline_ = shard_.now + core_.options.connect_timeout;
  last_packet_ = shard_.now;
}

Session::~Session() { core_.open_sockets.fetch_sub(1, std::memory_order_relaxed); }

std::string Session::who() const {
  return "client '" + identity_.client_id + "' from " + identity_.source_ip;
}

void Session::start() {
  if (!core_.tls) {
    state_ = State::connecting;
    return read();
  }
  tls_ = std::make_unique<net::ssl::stream<tcp::socket&>>(socket_, *core_.tls);
  tls_->async_handshake(net::ssl::stream_base::server,
                        [self = shared_from_this()](const boost::system::error_code& ec) { self->on_handshake(ec); });
}

void Session::on_handshake(const boost::system::error_code& ec) {
  if (state_ == State::closed) return;
  if (ec) {
    Counters::bump(shard_.counters.handshake_failures);
    core_.log("broker: TLS handshake with " + identity_.source_ip + " failed: " + ec.message());
    return close(DisconnectReason::connection_lost);
  }
  if (X509* peer = SSL_get1_peer_certificate(tls_->native_handle()))
    identity_.certificate_id = pki::Certificate(peer).fingerprint_sha256();
  state_ = State::connecting;
  read();
}

void Session::read() {
  if (state_ == State::closed || state_ == State::closing || read_in_flight_) return;
  if (rx_.size() - rx_len_ < initial_rx / 2) rx_.resize(std::max(initial_rx, rx_.size() * 2));
  auto buffer = net::buffer(rx_.data() + rx_len_, rx_.size() - rx_len_);
  auto done = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) { self->on_read(ec, n); };
  read_in_flight_ = true;
  if (tls_) tls_->async_read_some(buffer, std::move(done));
  else socket_.async_read_some(buffer, std::move(done));
}

void Session::on_read(const boost::system::error_code& ec, std::size_t n) {
  read_in_flight_ = false;
  if (state_ == State::closed || state_ == State::closing) return;
  if (ec) return close(DisconnectReason::connection_lost);
  rx_len_ += n;
  last_packet_ = shard_.now;
  const auto& o = core_.options;
  // The largest packet worth reading: a full payload, the longest topic, headers. Bigger: CLIENT_ERROR.
  const std::size_t limit = o.max_payload + std::max<std::size_t>(o.max_topic_bytes, 1024) + 64;
  std::size_t offset = 0;
  bool alive = true;
  while (alive && offset < rx_len_) {
    auto r = mqtt::decode(std::string_view(rx_.data() + offset, rx_len_ - offset), limit);
    if (r.status == mqtt::DecodeStatus::need_more) {
      if (rx_len_ - offset + r.needed > rx_.size()) rx_.resize(rx_len_ - offset + r.needed + initial_rx / 2);
      break;
    }
    if (r.status == mqtt::DecodeStatus::error) {
      if (state_ == State::connecting && r.error == mqtt::decode_error::unsupported_protocol_level) {
        refuse(RefusalReason::unacceptable_protocol, mqtt::ConnectReturnCode::unacceptable_protocol_version,
               "not MQTT 3.1.1");
      } else {
        core_.log("broker: closing " + who() + ": " + r.error.message());
        close(DisconnectReason::client_error);
      }
      alive = false;
      break;
    }
    offset += r.consumed;
    alive = on_packet(r.packet);
  }
  if (!alive) return flush();
  if (offset > 0) {
    std::memmove(rx_.data(), rx_.data() + offset, rx_len_ - offset);
    rx_len_ -= offset;
  }
  if (rx_len_ == 0 && rx_.size() > keep_buffer) std::string().swap(rx_);
  flush();
  read();
}

bool Session::on_packet(const mqtt::Packet& p) {
  if (state_ == State::connecting) {
    if (const auto* c = std::get_if<mqtt::Connect>(&p)) return on_connect(*c);
    core_.log("broker: closing a connection from " + identity_.source_ip + ": " +
              std::string(mqtt::to_string(mqtt::packet_type(p))) + " before CONNECT");
    close(DisconnectReason::client_error);
    return false;
  }
  switch (mqtt::packet_type(p)) {
    case mqtt::PacketType::publish: return on_publish(std::get<mqtt::Publish>(p));
    case mqtt::PacketType::puback: return true;  // no redelivery, so nothing waits for it
    case mqtt::PacketType::subscribe: return on_subscribe(std::get<mqtt::Subscribe>(p));
    case mqtt::PacketType::unsubscribe: return on_unsubscribe(std::get<mqtt::Unsubscribe>(p));
    case mqtt::PacketType::pingreq: (void)mqtt::encode(pending_, mqtt::Pingresp{}); return true;
    case mqtt::PacketType::disconnect: close(DisconnectReason::client_initiated); return false;
    default:
      // A second CONNECT, QoS 2 handshakes (AWS has no QoS 2), or packets only a broker sends.
      core_.log("broker: closing " + who() + ": unexpected " + std::string(mqtt::to_string(mqtt::packet_type(p))));
      close(DisconnectReason::client_error);
      return false;
  }
}

bool Session::refuse(RefusalReason why, mqtt::ConnectReturnCode code, std::string_view detail) {
  Counters::bump(shard_.counters.refusals[std::size_t(why)]);
  core_.log("broker: refused " + who() + " (" + std::string(to_string(why)) + "): " + std::string(detail));
  (void)mqtt::encode(pending_, mqtt::Connack{false, code});
  state_ = State::closing;
  deadline_ = shard_.now + std::chrono::seconds(5);  // a peer that never reads the CONNACK
  flush();
  return false;
}

bool Session::on_connect(const mqtt::Connect& c) {
  const auto& o = core_.options;
  identity_.client_id = std::string(c.client_id);
  auto attempt = [&](bool accepted) {
    if (o.observer) o.observer->on_connect_attempt(identity_, accepted);
  };
  if (c.client_id.empty() || c.client_id.size() > o.max_client_id || c.client_id.front() == '$') {
    attempt(false);
    return refuse(RefusalReason::identifier_rejected, mqtt::ConnectReturnCode::identifier_rejected,
                  "client ids are 1.." + std::to_string(o.max_client_id) + " bytes and do not start with '$'");
  }
  if (!core_.admit_connect(identity_.client_id)) {
    attempt(false);
    return refuse(RefusalReason::throttled, mqtt::ConnectReturnCode::server_unavailable,
                  "above " + std::to_string(o.connects_per_client_id_per_second) + " CONNECT/s for this client id");
  }
  auto decision = o.authority->authorize_connect(identity_);
  if (decision.refusal != ConnectRefusal::none || !decision.policy) {
    attempt(false);
    switch (decision.refusal) {
      case ConnectRefusal::bad_credentials:
        return refuse(RefusalReason::bad_credentials, mqtt::ConnectReturnCode::bad_username_or_password, decision.reason);
      case ConnectRefusal::identifier_rejected:
        return refuse(RefusalReason::identifier_rejected, mqtt::ConnectReturnCode::identifier_rejected, decision.reason);
      default:
        return refuse(RefusalReason::not_authorized, mqtt::ConnectReturnCode::not_authorized, decision.reason);
    }
  }
  policy_ = std::move(decision.policy);
  thing_name_ = std::move(decision.thing_name);
  // AWS: 0 and values above the maximum become the maximum, small values the minimum.
  auto keep_alive = std::chrono::seconds(c.keep_alive);
  if (keep_alive.count() == 0 || keep_alive > o.max_keep_alive) keep_alive = o.max_keep_alive;
  keep_alive = std::max(keep_alive, o.min_keep_alive);
  keep_alive_limit_ = std::chrono::milliseconds(keep_alive.count() * 1500);
  state_ = State::connected;
  Counters::bump(shard_.counters.connections);
  Counters::bump(shard_.counters.connections_accepted);
  core_.take_client_id(shared_from_this(), identity_.client_id);
  attempt(true);
  // Persistent sessions are not kept, so a session is never present (clean_session=0 is not refused).
  (void)mqtt::encode(pending_, mqtt::Connack{false, mqtt::ConnectReturnCode::accepted});
  return true;
}

bool Session::topic_allowed(std::string_view topic) const {
  const auto& o = core_.options;
  // AWS does not count Basic Ingest's mandatory `$aws/rules/RULE/` segments against the limits.
  if (topic.starts_with("$aws/rules/")) {
    auto rule_end = topic.find('/', std::strlen("$aws/rules/"));
    if (rule_end != std::string_view::npos) topic.remove_prefix(rule_end + 1);
  }
  return topic.size() <= o.max_topic_bytes && std::count(topic.begin(), topic.end(), '/') <= o.max_topic_slashes;
}

bool Session::on_publish(const mqtt::Publish& p) {
  const auto& o = core_.options;
  auto& counters = shard_.counters;
  if (p.qos == mqtt::QoS::exactly_once || p.payload.size() > o.max_payload || !topic_allowed(p.topic)) {
    core_.log("broker: closing " + who() + ": PUBLISH " +
              (p.qos == mqtt::QoS::exactly_once ? std::string("at QoS 2")
               : p.payload.size() > o.max_payload ? "of " + std::to_string(p.payload.size()) + " bytes"
                                                  : "to a topic beyond AWS's limits"));
    close(DisconnectReason::client_error);
    return false;
  }
  // AWS discards publishes above the per-connection rate; the connection stays, no PUBACK.
  EpochMillis now = core_.clock->now();
  if (now - rate_window_ >= 1000 || now < rate_window_) {
    rate_window_ = now;
    rate_count_ = 0;
  }
  if (++rate_count_ > o.publishes_per_second) {
    Counters::bump(counters.publishes_throttled);
    return true;
  }
  if (!policy_->may_publish(p.topic)) {
    Counters::bump(counters.authorization_failures);
    if (o.observer) o.observer->on_authorization_failure(identity_, "iot:Publish", p.topic);
    if (o.disconnect_on_denied_publish) {
      close(DisconnectReason::auth_error);
      return false;
    }
    if (p.qos == mqtt::QoS::at_least_once) (void)mqtt::encode(pending_, mqtt::Puback{p.packet_id});
    return true;
  }
  Counters::bump(counters.messages_in);
  if (o.observer) o.observer->on_message_from_device(identity_, p.topic, p.payload.size());
  if (p.qos == mqtt::QoS::at_least_once) (void)mqtt::encode(pending_, mqtt::Puback{p.packet_id});
  if (p.topic.starts_with("$aws/things/") && parse_report_topic(p.topic)) on_device_report(p.topic, p.payload);
  else core_.route(shard_, p.topic, p.payload, p.qos);
  return state_ != State::closed;
}

void Session::on_device_report(std::string_view topic, std::string_view payload) {
  auto where = *parse_report_topic(topic);
  DeviceReportCheck check;
  bool name_ok = where.thing_name.size() <= max_report_thing_name &&
                 std::none_of(where.thing_name.begin(), where.thing_name.end(),
                              [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; });
  if (name_ok) {
    check = check_device_report(payload, where.format);
  } else {
    check.error_code = "InvalidPayload";
    check.error_message = "Malformed metrics report";
    check.detail = "the thing name in the topic is longer than 128 bytes or has control characters";
  }
  Counters::bump(check.accepted ? shard_.counters.reports_accepted : shard_.counters.reports_rejected);
  auto ack = device_report_ack(where.thing_name, check, core_.clock->now());
  std::string body;
  if (where.format == ReportFormat::json) {
    body = ack.dump();
  } else {
    auto bytes = nlohmann::json::to_cbor(ack);
    body.assign(bytes.begin(), bytes.end());
  }
  core_.route(shard_, report_ack_topic(where.thing_name, where.format, check.accepted), body, mqtt::QoS::at_least_once);
  if (check.accepted && core_.options.observer) core_.options.observer->on_device_report(where.thing_name, check.report);
}

bool Session::on_subscribe(const mqtt::Subscribe& s) {
  const auto& o = core_.options;
  mqtt::Suback ack{s.packet_id, {}};
  ack.return_codes.reserve(s.subscriptions.size());
  for (const auto& sub : s.subscriptions) {
    // The report topic is publish-only; no wildcard filter reaches reports either (they are not routed).
    if (!topic_allowed(sub.filter) || parse_report_topic(sub.filter)) {
      ack.return_codes.push_back(mqtt::SubackCode::failure);
      continue;
    }
    if (!policy_->may_subscribe(sub.filter)) {
      Counters::bump(shard_.counters.authorization_failures);
      if (o.observer) o.observer->on_authorization_failure(identity_, "iot:Subscribe", sub.filter);
      ack.return_codes.push_back(mqtt::SubackCode::failure);
      continue;
    }
    auto qos = static_cast<std::uint8_t>(std::min(sub.max_qos, mqtt::QoS::at_least_once));  // AWS: no QoS 2
    std::string filter(sub.filter);
    core_.index.add(this, filter, qos);
    auto it = std::find_if(filters_.begin(), filters_.end(), [&](const auto& f) { return f.first == filter; });
    if (it == filters_.end()) filters_.emplace_back(std::move(filter), qos);
    else it->second = qos;
    ack.return_codes.push_back(static_cast<mqtt::SubackCode>(qos));
  }
  (void)mqtt::encode(pending_, ack);
  return true;
}

bool Session::on_unsubscribe(const mqtt::Unsubscribe& u) {
  for (auto filter : u.filters) {
    auto it = std::find_if(filters_.begin(), filters_.end(), [&](const auto& f) { return f.first == filter; });
    if (it == filters_.end()) continue;
    core_.index.remove(this, it->first);
    filters_.erase(it);
  }
  (void)mqtt::encode(pending_, mqtt::Unsuback{u.packet_id});
  return true;
}

void Session::deliver(std::string_view topic, std::string_view payload, std::uint8_t qos) {
  if (state_ != State::connected) return;
  const auto& o = core_.options;
  if (!policy_->may_receive(topic)) {
    Counters::bump(shard_.counters.authorization_failures);
    if (o.observer) o.observer->on_authorization_failure(identity_, "iot:Receive", topic);
    return;
  }
  // A slow consumer: QoS 0 is dropped at the cap; anything else that would pass it ends the connection.
  std::size_t queued = pending_.size() + writing_.size();
  if (queued + topic.size() + payload.size() + 9 > o.max_queued_bytes_per_connection) {
    if (qos == 0) {
      Counters::bump(shard_.counters.deliveries_dropped);
      return;
    }
    core_.log("broker: closing " + who() + ": a slow consumer with " + std::to_string(queued) + " bytes queued");
    return close(DisconnectReason::throttled);
  }
  std::uint16_t id = 0;
  if (qos > 0) {
    id = next_packet_id_++;
    if (next_packet_id_ == 0) next_packet_id_ = 1;
  }
  if (mqtt::encode_publish(pending_, topic, payload, static_cast<mqtt::QoS>(qos), id)) return;
  Counters::bump(shard_.counters.messages_out);
  if (o.observer) o.observer->on_message_to_device(identity_, topic, payload.size());
  flush();
}

void Session::flush() {
  if (write_in_flight_ || pending_.empty() || state_ == State::closed) return;
  writing_.swap(pending_);
  pending_.clear();
  write_in_flight_ = true;
  auto done = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) { self->on_written(ec); };
  if (tls_) net::async_write(*tls_, net::buffer(writing_), std::move(done));
  else net::async_write(socket_, net::buffer(writing_), std::move(done));
}

void Session::on_written(const boost::system::error_code& ec) {
  write_in_flight_ = false;
  if (writing_.capacity() > keep_buffer) std::string().swap(writing_);
  else writing_.clear();
  if (state_ == State::closed) return;
  if (ec) return close(DisconnectReason::connection_lost);
  if (state_ == State::closing && pending_.empty()) return close(DisconnectReason::connection_lost);
  flush();
}

void Session::on_tick(SteadyTime now) {
  if (state_ == State::closed) return;
  if (state_ != State::connected) {
    if (now < deadline_) return;
    if (state_ == State::handshake) {
      Counters::bump(shard_.counters.handshake_failures);
      core_.log("broker: closing a connection from " + identity_.source_ip + ": no TLS handshake in time");
    } else if (state_ == State::connecting) {
      core_.log("broker: closing a connection from " + identity_.source_ip + ": no CONNECT in time");
    }
    return close(DisconnectReason::connection_lost);
  }
  if (now - last_packet_ > keep_alive_limit_) {
    core_.log("broker: closing " + who() + ": no packet for 1.5 x its keep-alive");
    close(DisconnectReason::keep_alive_timeout);
  }
}

void Session::close(DisconnectReason why) {
  if (state_ == State::closed) return;
  bool was_connected = state_ == State::connected;
  state_ = State::closed;
  for (const auto& f : filters_) core_.index.remove(this, f.first);
  filters_.clear();
  if (was_connected) {
    core_.release_client_id(this, identity_.client_id);
    Counters::drop(shard_.counters.connections);
    Counters::bump(shard_.counters.disconnects[std::size_t(why)]);
    if (core_.options.observer) core_.options.observer->on_disconnect(identity_, why);
  }
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace fleetsim::local::detail

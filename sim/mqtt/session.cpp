#include "sim/mqtt/session.hpp"

#include <algorithm>

namespace fleetsim::mqtt {

const std::error_category& session_error_category() {
  struct category final : std::error_category {
    const char* name() const noexcept override { return "mqtt.session"; }
    std::string message(int ev) const override {
      switch (static_cast<session_error>(ev)) {
        case session_error::connack_timeout: return "no CONNACK before the connect deadline";
        case session_error::connection_refused: return "the broker refused the connection";
        case session_error::ping_timeout: return "no PINGRESP in time";
        case session_error::protocol_violation: return "the broker broke the MQTT protocol";
        case session_error::inflight_full: return "the QoS 1 in-flight window is full";
        case session_error::not_connected: return "the session is not connected";
        case session_error::encode_failed: return "the packet could not be encoded";
      }
      return "unknown session error";
    }
  };
  static const category instance;
  return instance;
}

ClientSession::ClientSession(SessionOptions options) : options_(std::move(options)) {
  // Packet ids are 16 bits: a window near 65535 would leave next_packet_id() nothing free to find.
  options_.max_inflight = std::clamp<std::size_t>(options_.max_inflight, 1, 65000);
}

void ClientSession::start(SessionTime now) {
  out_.clear();
  in_.clear();
  inflight_.clear();
  ping_outstanding_ = false;
  Connect c;
  c.client_id = options_.client_id;
  c.keep_alive = static_cast<std::uint16_t>(std::min<std::int64_t>(options_.keep_alive.count(), 65535));
  c.clean_session = options_.clean_session;
  (void)encode(out_, c);  // a client id over 65,535 bytes is rejected by validation long before
  state_ = State::awaiting_connack;
  connect_sent_ = now;
  sent_something(now);
}

std::uint16_t ClientSession::next_packet_id() {
  for (;;) {
    last_packet_id_ = static_cast<std::uint16_t>(last_packet_id_ == 65535 ? 1 : last_packet_id_ + 1);
    bool in_use = std::any_of(inflight_.begin(), inflight_.end(),
                              [&](const Inflight& f) { return f.packet_id == last_packet_id_; });
    if (!in_use) return last_packet_id_;
  }
}

std::error_code ClientSession::publish(std::string_view topic, std::string_view payload, QoS qos, SessionTime now,
                                       std::uint16_t* packet_id) {
  if (state_ != State::connected) return session_error::not_connected;
  std::uint16_t id = 0;
  if (qos != QoS::at_most_once) {
    if (inflight_.size() >= options_.max_inflight) return session_error::inflight_full;
    id = next_packet_id();
  }
  if (auto ec = encode_publish(out_, topic, payload, qos, id)) return session_error::encode_failed;
  if (id) inflight_.push_back({id, now});
  if (packet_id) *packet_id = id;
  sent_something(now);
  return {};
}

std::error_code ClientSession::subscribe(std::span<const std::string_view> filters, QoS qos, SessionTime now,
                                         std::uint16_t* packet_id) {
  if (state_ != State::connected) return session_error::not_connected;
  Subscribe s;
  s.packet_id = next_packet_id();
  for (auto f : filters) s.subscriptions.push_back({f, qos});
  if (encode(out_, s)) return session_error::encode_failed;
  if (packet_id) *packet_id = s.packet_id;
  sent_something(now);
  return {};
}

void ClientSession::disconnect() {
  if (state_ == State::connected) (void)encode(out_, Disconnect{});
  state_ = State::closed;
}

std::error_code ClientSession::receive(std::span<const std::uint8_t> bytes, SessionTime now, SessionHandler& handler) {
  // Decode straight from the caller's bytes when nothing is carried over; buffer only a partial tail.
  std::string_view input;
  if (in_.empty()) {
    input = {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  } else {
    in_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    input = in_;
  }
  std::size_t offset = 0;
  while (offset < input.size()) {
    auto r = decode(input.substr(offset), options_.max_packet);
    if (r.status == DecodeStatus::need_more) break;
    if (r.status == DecodeStatus::error) return session_error::protocol_violation;
    if (auto ec = handle(r.packet, now, handler)) return ec;
    offset += r.consumed;
    if (state_ == State::closed) break;
  }
  if (in_.empty()) {
    in_.assign(input.substr(offset));
  } else {
    in_.erase(0, offset);
  }
  return {};
}

std::error_code ClientSession::handle(const Packet& packet, SessionTime now, SessionHandler& handler) {
  if (state_ == State::awaiting_connack) {
    const auto* c = std::get_if<Connack>(&packet);
    if (!c) return session_error::protocol_violation;  // the first packet from a broker is CONNACK
    if (c->return_code != ConnectReturnCode::accepted) {
      state_ = State::closed;
      return session_error::connection_refused;
    }
    state_ = State::connected;
    handler.on_connected(c->session_present);
    return {};
  }
  if (state_ != State::connected) return {};
  return std::visit(
      [&](const auto& p) -> std::error_code {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Publish>) {
          if (p.qos == QoS::at_least_once) (void)encode(out_, Puback{p.packet_id});
          if (p.qos == QoS::exactly_once) (void)encode(out_, Pubrec{p.packet_id});
          handler.on_message(p);
          return {};
        } else if constexpr (std::is_same_v<T, Puback>) {
          auto it = std::find_if(inflight_.begin(), inflight_.end(),
                                 [&](const Inflight& f) { return f.packet_id == p.packet_id; });
          if (it == inflight_.end()) return {};  // a duplicate ack: harmless
          auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - it->sent);
          inflight_.erase(it);
          handler.on_published(p.packet_id, latency);
          return {};
        } else if constexpr (std::is_same_v<T, Pubrel>) {
          (void)encode(out_, Pubcomp{p.packet_id});
          return {};
        } else if constexpr (std::is_same_v<T, Suback>) {
          handler.on_subscribed(p.packet_id, p.return_codes);
          return {};
        } else if constexpr (std::is_same_v<T, Unsuback> || std::is_same_v<T, Pubrec> || std::is_same_v<T, Pubcomp>) {
          return {};  // we never send what these answer at QoS 2; tolerate them
        } else if constexpr (std::is_same_v<T, Pingresp>) {
          ping_outstanding_ = false;
          return {};
        } else {
          return session_error::protocol_violation;  // CONNECT, SUBSCRIBE, PINGREQ, ... are client-to-broker
        }
      },
      packet);
}

std::error_code ClientSession::on_timer(SessionTime now) {
  if (state_ == State::awaiting_connack && now >= connect_sent_ + options_.connack_timeout)
    return session_error::connack_timeout;
  if (state_ != State::connected || options_.keep_alive.count() == 0) return {};
  if (ping_outstanding_ && now >= ping_sent_ + options_.keep_alive) return session_error::ping_timeout;
  if (!ping_outstanding_ && now >= last_sent_ + options_.keep_alive) {
    (void)encode(out_, Pingreq{});
    ping_outstanding_ = true;
    ping_sent_ = now;
    sent_something(now);
  }
  return {};
}

SessionTime ClientSession::next_deadline() const {
  if (state_ == State::awaiting_connack) return connect_sent_ + options_.connack_timeout;
  if (state_ != State::connected || options_.keep_alive.count() == 0) return SessionTime::max();
  return ping_outstanding_ ? ping_sent_ + options_.keep_alive : last_sent_ + options_.keep_alive;
}

}  // namespace fleetsim::mqtt

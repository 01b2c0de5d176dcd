#include "sim/fleet/thing.hpp"

#include <algorithm>
#include <cmath>

#include "sim/fleet/worker.hpp"

namespace fleetsim::fleet {

namespace {
constexpr auto connect_deadline = std::chrono::seconds(15);   // TCP + TLS + CONNACK, per attempt
constexpr auto late_threshold = std::chrono::milliseconds(100);
constexpr std::size_t max_queued_output = 256 * 1024;        // past this, publishes are dropped (backpressure)
constexpr EpochMillis never = INT64_MAX;

// Asio reports boost error codes; the thing sees them as std::error_code.
bool same(std::error_code ec, boost::system::error_code b) { return ec == static_cast<std::error_code>(b); }

mqtt::SessionOptions session_options(const std::string& name, const scenario::ConnectionSettings& c) {
  mqtt::SessionOptions o;
  o.client_id = name;
  o.keep_alive = std::chrono::duration_cast<std::chrono::seconds>(c.keep_alive);
  o.clean_session = true;
  o.max_inflight = 100;
  return o;
}
}  // namespace

Thing::Thing(Worker& worker, std::uint32_t slot, const scenario::ThingPlan& plan, const scenario::FleetGroup& group,
             std::string neighbour)
    : worker_(worker),
      slot_(slot),
      group_(group),
      name_(plan.name),
      neighbour_(std::move(neighbour)),
      telemetry_topic_(group.topic_for(group.baseline.publish.topic, plan.name)),
      command_topic_(group.baseline.receive.topic.empty() ? std::string()
                                                          : group.topic_for(group.baseline.receive.topic, plan.name)),
      rng_(plan.seed),
      source_index_(plan.global_index),
      session_(session_options(plan.name, worker.scenario().connection)) {}


const Knobs& Thing::knobs() const {
  static const Knobs baseline;
  return knobs_ ? *knobs_ : baseline;
}

void Thing::set_knobs(Knobs k) {
  // Most things never see an anomaly: they keep no knobs of their own (a few hundred bytes each).
  if (effects_.empty()) knobs_.reset();
  else knobs_ = std::make_unique<Knobs>(std::move(k));
}

double Thing::capped_publish_rate(EpochMillis t) const {
  // AWS IoT discards publishes past 100/s per connection; floods stop at the configured quota.
  return std::min(publish_rate(group_, knobs(), t), worker_.scenario().connection.publishes_per_connection.per_second);
}

SteadyTime Thing::real_time_of(EpochMillis t, SteadyTime now) const {
  if (t == never) return SteadyTime::max();
  return now + std::chrono::duration_cast<SteadyTime::duration>(worker_.clock().real_until(t));
}

void Thing::start(SteadyTime now) {
  state_ = State::waiting_to_connect;
  worker_.request_connect(slot_);
  reschedule(now);
}

void Thing::begin_connect(SteadyTime now) {
  if (state_ != State::waiting_to_connect) {
    worker_.connect_done(slot_);
    return;
  }
  state_ = State::connecting;
  ++generation_;
  ++worker_.stats().connect_attempts;
  last_connect_attempt_ = now;
  connect_started_ = now;
  connect_deadline_ = now + connect_deadline;
  connection_ = std::make_shared<Connection>(worker_.ioc());  // a fresh one per attempt
  auto gen = generation_;
  connection_->async_open(worker_.transport(), worker_.tls_context(), worker_.identity_for(name_),
                          [this, gen, keep = connection_](std::error_code ec) {
                            if (gen != generation_ || state_ != State::connecting) return;
                            auto t = std::chrono::steady_clock::now();
                            if (ec) return fail(ec, t, worker_.transport().tls ? "tls" : "tcp");
                            session_.start(t);
                            flush();
                            read_loop();
                            reschedule(t);
                          },
                          source_index_);
  reschedule(now);
}

void Thing::on_connected(bool) {
  auto now = std::chrono::steady_clock::now();
  auto& stats = worker_.stats();
  ++stats.connects_ok;
  stats.connect_time.record(std::chrono::duration_cast<std::chrono::microseconds>(now - connect_started_).count());
  state_ = State::connected;
  failures_in_a_row_ = 0;
  denied_since_connect_ = false;
  ever_connected_ = true;
  connect_deadline_ = SteadyTime::max();
  worker_.connect_done(slot_);
  // Subscribe to the thing's own commands and to the device metric report answers.
  std::vector<std::string> filters;
  if (!command_topic_.empty()) filters.push_back(command_topic_);
  if (group_.baseline.device_metrics.enabled) {
    filters.push_back("$aws/things/" + name_ + "/defender/metrics/json/accepted");
    filters.push_back("$aws/things/" + name_ + "/defender/metrics/json/rejected");
  }
  if (!filters.empty()) {
    std::vector<std::string_view> views(filters.begin(), filters.end());
    (void)session_.subscribe(views, mqtt::QoS::at_least_once, now);
  }
  after_connected_schedule(worker_.clock().now());
}

void Thing::after_connected_schedule(EpochMillis s) {
  // Spread first publishes over one interval (the plan's phase) so things do not publish in lockstep.
  double rate = capped_publish_rate(s);
  if (next_publish_ <= s) {
    auto interval = next_interval(rate, group_.baseline.publish.jitter, rng_);
    next_publish_ = interval ? s + static_cast<EpochMillis>(rng_.uniform01() * double(interval->count())) : never;
  }
  if (group_.baseline.device_metrics.enabled && next_report_ == 0)
    next_report_ = s + static_cast<EpochMillis>(rng_.uniform01() * double(group_.baseline.device_metrics.every.count()));
  if (next_planned_reconnect_ == 0) {
    double r = group_.baseline.reconnects.per_second + knobs().reconnect_rate;
    next_planned_reconnect_ = r > 0 ? s + static_cast<EpochMillis>(rng_.exponential(1000.0 / r)) : never;
  }
  if (knobs().auth_failure_rate > 0 && next_denial_ == 0) next_denial_ = s;
}

void Thing::on_message(const mqtt::Publish& m) {
  auto& stats = worker_.stats();
  ++stats.messages_received;
  std::string_view topic = m.topic;
  if (topic.ends_with("/defender/metrics/json/accepted")) ++stats.reports_accepted;
  else if (topic.ends_with("/defender/metrics/json/rejected")) ++stats.reports_rejected;
}

void Thing::on_published(std::uint16_t, std::chrono::microseconds latency) {
  ++worker_.stats().acks;
  worker_.stats().ack_latency.record(latency.count());
}

void Thing::on_subscribed(std::uint16_t, std::span<const mqtt::SubackCode> codes) {
  for (auto c : codes)
    if (c == mqtt::SubackCode::failure) ++worker_.stats().suback_failures;
}

void Thing::read_loop() {
  auto gen = generation_;
  connection_->async_read(worker_.read_buffer(), [this, gen, keep = connection_](std::error_code ec, std::size_t n) {
    if (gen != generation_ || state_ == State::stopped || state_ == State::waiting_to_connect) return;
    auto now = std::chrono::steady_clock::now();
    if (ec) return fail(ec, now, "read");
    worker_.stats().bytes_in += n;
    since_report_.bytes_in += n;
    ++since_report_.packets_in;
    auto buffer = worker_.read_buffer();
    auto bytes = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buffer.data()), n);
    if (auto err = session_.receive(bytes, now, *this)) return fail(err, now, "protocol");
    flush();
    if (state_ == State::connecting || state_ == State::connected) read_loop();
    reschedule(now);
  });
}

void Thing::flush() {
  if (write_in_flight_ || !session_.has_output() || !connection_) return;
  write_buffer_.clear();
  std::swap(write_buffer_, session_.pending_output());
  write_in_flight_ = true;
  worker_.stats().bytes_out += write_buffer_.size();
  since_report_.bytes_out += write_buffer_.size();
  ++since_report_.packets_out;
  auto gen = generation_;
  connection_->async_write(write_buffer_, [this, gen, keep = connection_](std::error_code ec) {
    if (gen != generation_) return;
    write_in_flight_ = false;
    if (ec) {
      if (state_ != State::stopped) fail(ec, std::chrono::steady_clock::now(), "write");
      return;
    }
    if (state_ == State::stopped) {
      keep->close();  // the DISCONNECT is out
      return;
    }
    flush();
  });
}

bool Thing::send(std::string_view topic, std::string_view payload, mqtt::QoS qos, SteadyTime now) {
  auto& stats = worker_.stats();
  if (state_ != State::connected) {
    ++stats.dropped_disconnected;
    return false;
  }
  if (session_.pending_output().size() > max_queued_output) {
    ++stats.dropped_backpressure;
    return false;
  }
  if (auto ec = session_.publish(topic, payload, qos, now)) {
    ++stats.dropped_backpressure;  // in-flight window full
    return false;
  }
  ++(qos == mqtt::QoS::at_most_once ? stats.publishes_qos0 : stats.publishes_qos1);
  return true;
}

void Thing::publish_telemetry(SteadyTime now, EpochMillis s) {
  // How late, in real time, this publish goes out against its schedule.
  auto lateness = std::chrono::microseconds(
      static_cast<std::int64_t>(double(s - next_publish_) * 1000.0 / worker_.clock().scale()));
  // Silence drops publishes; the schedule goes on so the thing resumes on time.
  if (knobs().silenced <= 0 || rng_.uniform01() >= knobs().silenced) {
    auto size = payload_size(group_, knobs(), rng_);
    auto qos = group_.baseline.publish.qos ? mqtt::QoS::at_least_once : mqtt::QoS::at_most_once;
    if (send(telemetry_topic_, worker_.payload(size), qos, now)) {
      worker_.stats().lateness.record(lateness.count());
      if (lateness > late_threshold) ++worker_.stats().late_publishes;
    }
  }
  auto interval = next_interval(capped_publish_rate(s), group_.baseline.publish.jitter, rng_);
  // Scheduling from the previous due time keeps the long-run rate exact; after a long stall, from now.
  EpochMillis base = next_publish_ + (interval ? interval->count() : 0) < s ? s : next_publish_;
  next_publish_ = interval ? base + interval->count() : never;
}

void Thing::publish_report(SteadyTime now) {
  auto report = device_report(group_, knobs(), ++report_id_, since_report_, rng_);
  since_report_ = {};
  if (send("$aws/things/" + name_ + "/defender/metrics/json", report, mqtt::QoS::at_least_once, now))
    ++worker_.stats().reports_sent;
  next_report_ += group_.baseline.device_metrics.every.count();
}

void Thing::deny_once(SteadyTime now) {
  // Alternate publish and subscribe for mode both.
  bool subscribe = knobs().auth_mode == "subscribe" || (knobs().auth_mode == "both" && (denial_toggle_++ % 2));
  auto topic = denied_topic(group_, knobs(), name_, neighbour_, subscribe);
  if (state_ == State::connected) {
    if (subscribe) {
      std::string_view filter = topic;
      if (!session_.subscribe(std::span(&filter, 1), mqtt::QoS::at_most_once, now)) ++worker_.stats().denied_attempts;
    } else if (send(topic, worker_.payload(64), mqtt::QoS::at_most_once, now)) {
      ++worker_.stats().denied_attempts;
    }
    denied_since_connect_ = true;
  }
  auto interval = next_interval(knobs().auth_failure_rate, 0.2, rng_);
  next_denial_ = interval ? next_denial_ + interval->count() : never;
}

void Thing::planned_reconnect(SteadyTime now) {
  if (state_ == State::connected && write_in_flight_) {
    next_planned_reconnect_ = worker_.clock().now() + 1;  // after the write in progress
    return;
  }
  double r = group_.baseline.reconnects.per_second + knobs().reconnect_rate;
  next_planned_reconnect_ = r > 0 ? worker_.clock().now() + static_cast<EpochMillis>(rng_.exponential(1000.0 / r)) : never;
  if (state_ != State::connected) return;
  ++worker_.stats().disconnects_planned;
  worker_.stats().lost_unacked += session_.unacknowledged();
  close_gracefully();
  schedule_reconnect(now, true);
}

// Sends DISCONNECT (and whatever is queued) on the current connection, then closes it. The connection
// object lives on in the write's handler; the thing is free to open a new one at once.
void Thing::close_gracefully() {
  session_.disconnect();
  if (!connection_) return;
  auto bytes = std::make_shared<std::string>(std::move(session_.pending_output()));
  session_.pending_output().clear();
  if (write_in_flight_ || bytes->empty()) {
    connection_->close();
    return;
  }
  worker_.stats().bytes_out += bytes->size();
  auto conn = connection_;
  conn->async_write(*bytes, [conn, bytes](std::error_code) { conn->close(); });
}

void Thing::schedule_reconnect(SteadyTime now, bool immediately, bool device_time) {
  ++generation_;
  if (connection_) connection_->close();
  session_ = mqtt::ClientSession(session_.options());
  state_ = State::idle;
  connect_deadline_ = SteadyTime::max();
  const auto& c = worker_.scenario().connection;
  // AWS allows one CONNECT per second per client id.
  auto spacing = std::chrono::duration_cast<SteadyTime::duration>(
      std::chrono::duration<double>(1.0 / std::max(c.connects_per_client_id.per_second, 1e-6)) / worker_.clock().scale());
  SteadyTime at = std::max(now, last_connect_attempt_ + spacing);
  if (!immediately) {
    // Exponential backoff with full jitter, in real time (the broker's recovery does not speed up) -- except
    // the first retry after a working connection was dropped (AWS closes it on a denied publish), which is
    // the device's own pace and runs on the scenario's clock like the rest of its behaviour.
    double base_ms = double(c.backoff_initial.count()) * std::pow(2.0, std::min(failures_in_a_row_, 16u));
    if (device_time) base_ms /= worker_.clock().scale();
    double capped = std::min(base_ms, double(c.backoff_max.count()));
    at = std::max(at, now + std::chrono::milliseconds(static_cast<std::int64_t>(rng_.uniform(capped / 2, capped))));
  }
  reconnect_at_ = at;
  reschedule(now);
}

void Thing::fail(std::error_code ec, SteadyTime now, const char* step) {
  auto& stats = worker_.stats();
  bool was_connecting = state_ == State::connecting;
  std::string_view s = step;
  if (was_connecting) {
    if (ec == mqtt::session_error::connection_refused) ++stats.connect_refused;
    else if (s == "timeout") ++stats.connect_timeouts;
    else if (s == "tls") ++stats.connect_failed_tls;
    else if (s == "tcp") ++stats.connect_failed_tcp;
    else ++stats.disconnects_by_peer;  // closed before CONNACK
    worker_.connect_done(slot_);
  } else if (state_ == State::connected) {
    if (ec == mqtt::session_error::ping_timeout) ++stats.disconnects_ping;
    else if (ec == mqtt::session_error::protocol_violation) ++stats.disconnects_protocol;
    else if (same(ec, net::error::eof) || same(ec, net::error::connection_reset) || same(ec, net::ssl::error::stream_truncated))
      ++(denied_since_connect_ ? stats.disconnects_denied : stats.disconnects_by_peer);
    else ++stats.disconnects_io;
    stats.lost_unacked += session_.unacknowledged();
  }
  const bool dropped_while_up = state_ == State::connected;
  ++failures_in_a_row_;
  write_in_flight_ = false;
  schedule_reconnect(now, false, dropped_while_up && failures_in_a_row_ == 1);
}

void Thing::on_deadline(SteadyTime now) {
  if (state_ == State::stopped) return;
  if (state_ == State::connecting && now >= connect_deadline_) return fail(make_error_code(error::timeout), now, "timeout");
  if (state_ == State::idle && now >= reconnect_at_) {
    reconnect_at_ = SteadyTime::max();
    state_ = State::waiting_to_connect;
    worker_.request_connect(slot_);
  }
  if (auto ec = session_.on_timer(now)) return fail(ec, now, ec == mqtt::session_error::connack_timeout ? "timeout" : "keepalive");
  EpochMillis s = worker_.clock().now();
  if (state_ == State::connected) {
    // Catch up at most a bounded number of sends per wake-up, so one thing cannot starve the worker.
    for (int i = 0; i < 64 && next_publish_ <= s; ++i) publish_telemetry(now, s);
    if (next_publish_ <= s) next_publish_ = s;  // still behind: the next wake-up continues
    if (group_.baseline.device_metrics.enabled && next_report_ <= s) publish_report(now);
    if (knobs().auth_failure_rate > 0 && next_denial_ <= s) deny_once(now);
    if (next_planned_reconnect_ <= s) planned_reconnect(now);
  }
  flush();
  reschedule(now);
}

void Thing::reschedule(SteadyTime now) {
  SteadyTime when = std::min({connect_deadline_, reconnect_at_, session_.next_deadline()});
  if (state_ == State::connected) {
    EpochMillis next = next_publish_;
    if (group_.baseline.device_metrics.enabled) next = std::min(next, next_report_);
    if (knobs().auth_failure_rate > 0) next = std::min(next, next_denial_);
    next = std::min(next, next_planned_reconnect_);
    when = std::min(when, real_time_of(next, now));
  }
  if (when == SteadyTime::max()) worker_.cancel_wake(slot_);
  else worker_.wake(slot_, when);
}

void Thing::add_effect(ActiveEffect effect, SteadyTime now) {
  effects_.push_back(std::move(effect));
  set_knobs(knobs_for(effects_, group_));
  EpochMillis s = worker_.clock().now();
  // A new rate applies at once, not after the baseline's next (long) interval.
  if (auto i = next_interval(capped_publish_rate(s), group_.baseline.publish.jitter, rng_))
    next_publish_ = std::min(next_publish_, s + i->count());
  if (knobs().auth_failure_rate > 0) next_denial_ = s;
  if (knobs().reconnect_rate > 0) {
    double r = group_.baseline.reconnects.per_second + knobs().reconnect_rate;
    next_planned_reconnect_ = std::min(next_planned_reconnect_, s + static_cast<EpochMillis>(rng_.exponential(1000.0 / r)));
  }
  reschedule(now);
}

void Thing::remove_effect(const std::string& id, SteadyTime now) {
  std::erase_if(effects_, [&](const ActiveEffect& e) { return e.ledger_id == id; });
  set_knobs(knobs_for(effects_, group_));
  EpochMillis s = worker_.clock().now();
  if (knobs().auth_failure_rate <= 0) next_denial_ = 0;
  if (knobs().reconnect_rate <= 0) {
    double r = group_.baseline.reconnects.per_second;
    next_planned_reconnect_ = r > 0 ? s + static_cast<EpochMillis>(rng_.exponential(1000.0 / r)) : never;
  }
  auto interval = next_interval(capped_publish_rate(s), group_.baseline.publish.jitter, rng_);
  next_publish_ = interval ? s + interval->count() : never;
  reschedule(now);
}

void Thing::stop() {
  if (state_ == State::connecting) worker_.connect_done(slot_);
  bool connected = state_ == State::connected;
  state_ = State::stopped;
  ++generation_;  // ignore completions from here on
  worker_.cancel_wake(slot_);
  if (!connection_) return;
  if (connected) {
    worker_.stats().lost_unacked += session_.unacknowledged();
    close_gracefully();
  } else {
    connection_->close();
  }
}

}  // namespace fleetsim::fleet

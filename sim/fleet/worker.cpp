#include "sim/fleet/worker.hpp"

#include <algorithm>
#include <cmath>

#include "sim/scenario/anomaly_kinds.hpp"

namespace fleetsim::fleet {

namespace {
constexpr auto live_refresh = std::chrono::seconds(1);
constexpr std::size_t read_buffer_size = 64 * 1024;
constexpr std::size_t max_payload = 128 * 1024;  // AWS IoT's limit; anomalies are capped at it
}  // namespace

// The worker's controller: one MQTT connection that publishes the things' commands (their "messages
// received"), reconnecting with backoff when it drops. Against AWS it needs a policy that allows
// publishing to the command topics; against a plain broker any client id works.
class Worker::Controller final : public mqtt::SessionHandler {
 public:
  Controller(Worker& w, std::string client_id)
      : worker_(w), session_(options(std::move(client_id), w.scenario().connection)) {}

  bool connected() const { return connected_; }
  bool send(std::string_view topic, std::string_view payload, mqtt::QoS qos, SteadyTime now) {
    if (!connected_ || session_.pending_output().size() > 1024 * 1024) return false;
    if (session_.publish(topic, payload, qos, now)) return false;
    flush();
    return true;
  }
  void on_deadline(SteadyTime now) {
    if (stopped_) return;
    if (!connection_ && now >= retry_at_) open(now);
    if (connection_ && !connected_ && now >= deadline_) return fail(now);
    if (session_.on_timer(now)) return fail(now);
    flush();
    worker_.wake(worker_.controller_slot(), std::min({session_.next_deadline(), retry_at_, deadline_}));
  }
  void stop() {
    stopped_ = true;
    if (connection_ && connected_) {
      session_.disconnect();
      auto bytes = std::make_shared<std::string>(std::move(session_.pending_output()));
      auto conn = connection_;
      if (!writing_) conn->async_write(*bytes, [conn, bytes](std::error_code) { conn->close(); });
      else conn->close();
    } else if (connection_) {
      connection_->close();
    }
    connection_.reset();
  }
  void on_connected(bool) override {
    connected_ = true;
    failures_ = 0;
    deadline_ = SteadyTime::max();
  }

 private:
  static mqtt::SessionOptions options(std::string id, const scenario::ConnectionSettings& c) {
    mqtt::SessionOptions o;
    o.client_id = std::move(id);
    o.keep_alive = std::chrono::duration_cast<std::chrono::seconds>(c.keep_alive);
    o.max_inflight = 1000;
    return o;
  }
  void open(SteadyTime now) {
    connection_ = std::make_shared<Connection>(worker_.ioc());
    deadline_ = now + std::chrono::seconds(15);
    retry_at_ = SteadyTime::max();
    ++generation_;
    auto gen = generation_;
    connection_->async_open(worker_.transport(), worker_.tls_context(), worker_.identity_for("fleetsim-controller"),
                            [this, gen, keep = connection_](std::error_code ec) {
                              if (gen != generation_) return;
                              auto t = std::chrono::steady_clock::now();
                              if (ec) return fail(t);
                              session_.start(t);
                              flush();
                              read();
                            });
  }
  void read() {
    auto gen = generation_;
    connection_->async_read(worker_.read_buffer(), [this, gen, keep = connection_](std::error_code ec, std::size_t n) {
      if (gen != generation_) return;
      auto t = std::chrono::steady_clock::now();
      if (ec) return fail(t);
      auto buf = worker_.read_buffer();
      if (session_.receive({reinterpret_cast<const std::uint8_t*>(buf.data()), n}, t, *this)) return fail(t);
      flush();
      read();
      worker_.wake(worker_.controller_slot(), std::min(session_.next_deadline(), deadline_));
    });
  }
  void flush() {
    if (writing_ || !session_.has_output() || !connection_) return;
    buffer_.clear();
    std::swap(buffer_, session_.pending_output());
    writing_ = true;
    auto gen = generation_;
    connection_->async_write(buffer_, [this, gen, keep = connection_](std::error_code ec) {
      if (gen != generation_) return;
      writing_ = false;
      if (ec) return fail(std::chrono::steady_clock::now());
      flush();
    });
  }
  void fail(SteadyTime now) {
    if (stopped_) return;
    ++generation_;
    if (connection_) connection_->close();
    connection_.reset();
    connected_ = false;
    writing_ = false;
    session_ = mqtt::ClientSession(session_.options());
    const auto& c = worker_.scenario().connection;
    double backoff = std::min(double(c.backoff_initial.count()) * std::pow(2.0, std::min(failures_++, 16u)),
                              double(c.backoff_max.count()));
    retry_at_ = now + std::chrono::milliseconds(static_cast<std::int64_t>(backoff));
    deadline_ = SteadyTime::max();
    worker_.wake(worker_.controller_slot(), retry_at_);
  }

  Worker& worker_;
  mqtt::ClientSession session_;
  std::shared_ptr<Connection> connection_;
  std::string buffer_;
  bool connected_ = false, writing_ = false, stopped_ = false;
  unsigned failures_ = 0;
  std::uint64_t generation_ = 0;
  SteadyTime retry_at_{};
  SteadyTime deadline_ = SteadyTime::max();
};

Worker::Worker(const FleetContext& context, unsigned index, unsigned worker_count,
               std::vector<scenario::ThingPlan> plans, std::vector<std::string> neighbours,
               std::vector<scenario::Occurrence> occurrences)
    : context_(context), index_(index), timer_(ioc_), read_buffer_(read_buffer_size, '\0'), payload_(max_payload, 'x') {
  const auto& s = *context.scenario;
  // A payload that reads as what it is when someone looks at the broker.
  static constexpr std::string_view marker = "fleetsim-telemetry ";
  for (std::size_t i = 0; i < payload_.size(); ++i) payload_[i] = marker[i % marker.size()];
  std::map<std::uint64_t, std::uint32_t> slot_of;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const auto& plan = plans[i];
    slot_of[plan.global_index] = static_cast<std::uint32_t>(i);
    things_.push_back(std::make_unique<Thing>(*this, static_cast<std::uint32_t>(i), plan, s.fleet[plan.group],
                                              std::move(neighbours[i])));
  }
  next_command_.assign(things_.size(), 0);
  deadlines_ = DeadlineQueue(2 * things_.size() + 4);
  const auto& c = s.connection;
  double ramp = std::min(c.ramp.per_second, c.account_connects.per_second);
  connect_rate_ = std::max(ramp / worker_count, 0.01);
  max_connecting_ = std::max<std::size_t>(1, c.max_connecting / worker_count);
  tokens_ = std::min(1.0, connect_rate_);
  for (auto& o : occurrences) {
    auto thing = slot_of.at(o.thing);
    const auto& a = s.anomalies[o.anomaly];
    occurrences_.push_back({o, thing, ledger::make_anomaly_id(a.name, o.number, things_[thing]->name())});
  }
  for (std::size_t i = 0; i < occurrences_.size(); ++i) {
    by_start_.push_back(i);
    by_end_.push_back(i);
  }
  std::sort(by_start_.begin(), by_start_.end(),
            [&](auto x, auto y) { return occurrences_[x].occurrence.start < occurrences_[y].occurrence.start; });
  std::sort(by_end_.begin(), by_end_.end(),
            [&](auto x, auto y) { return occurrences_[x].occurrence.end < occurrences_[y].occurrence.end; });
  bool commands = std::any_of(s.fleet.begin(), s.fleet.end(), [](const auto& g) { return !g.baseline.receive.topic.empty(); });
  if (commands) controller_ = std::make_unique<Controller>(*this, context.controller_id + "-w" + std::to_string(index));
}

Worker::~Worker() = default;

std::vector<std::string> Worker::never_connected() const {
  std::vector<std::string> out;
  for (const auto& t : things_)
    if (!t->ever_connected()) out.push_back(t->name());
  return out;
}

const pki::CertifiedKey* Worker::identity_for(const std::string& thing) const {
  if (auto it = context_.identities.find(thing); it != context_.identities.end()) return &it->second;
  return context_.shared_identity ? &*context_.shared_identity : nullptr;
}

void Worker::run() {
  auto now = std::chrono::steady_clock::now();
  tokens_at_ = now;
  for (auto& t : things_) t->start(now);
  // Commands start at a random phase of their interval, so the controller does not burst.
  Rng rng(derive_seed(scenario().seed, "controller", index_));
  EpochMillis s = clock().now();
  for (std::uint32_t i = 0; i < things_.size(); ++i) {
    double rate = things_[i]->command_rate(s);
    if (rate <= 0 || !controller_) continue;
    next_command_[i] = s + static_cast<EpochMillis>(rng.uniform01() * 1000.0 / rate);
    wake(command_slot(i), now + std::chrono::duration_cast<SteadyTime::duration>(clock().real_until(next_command_[i])));
  }
  if (controller_) wake(controller_slot(), now);
  wake(anomaly_slot(), now);
  wake(live_slot(), now + live_refresh);
  pump_connects(now);
  arm();
  ioc_.run();
  refresh_live();
}

void Worker::request_stop() {
  net::post(ioc_, [this] { stop_now(); });
}

void Worker::stop_now() {
  if (stopping_) return;
  stopping_ = true;
  // Anomalies still running are closed in the ledger with their real end time.
  EpochMillis t = clock().now();
  for (auto& o : occurrences_) {
    if (!o.started || o.ended) continue;
    o.ended = true;
    ++stats_.anomalies_ended;
    const auto& a = scenario().anomalies[o.occurrence.anomaly];
    if (context_.ledger)
      (void)context_.ledger->anomaly_end({o.id, things_[o.thing]->name(), a.name, t, ledger::EndReason::stopped});
  }
  for (auto& thing : things_) thing->stop();
  if (controller_) controller_->stop();
  // Give the DISCONNECTs a moment to leave, then end the loop whatever is still pending.
  timer_.cancel();
  timer_.expires_after(std::chrono::milliseconds(500));
  timer_.async_wait([this](boost::system::error_code) { ioc_.stop(); });
}

void Worker::wake(std::uint32_t slot, SteadyTime when) {
  deadlines_.schedule(slot, when);
  // Inside on_timer() the timer is re-armed once at the end, not once per thing.
  if (when < armed_ && !stopping_ && !in_timer_) arm();
}

void Worker::arm() {
  auto earliest = deadlines_.earliest();
  if (earliest != SteadyTime::max()) {
    // Round up to the worker's tick so one wake-up serves every thing due in it: re-arming the timer
    // per message costs more than the message.
    auto since = earliest.time_since_epoch();
    auto tick = std::chrono::duration_cast<SteadyTime::duration>(context_.tick);
    earliest = SteadyTime((since + tick - SteadyTime::duration(1)) / tick * tick);
  }
  if (earliest == armed_) return;
  armed_ = earliest;
  if (earliest == SteadyTime::max()) return;
  timer_.expires_at(earliest);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    armed_ = SteadyTime::max();
    on_timer();
  });
}

void Worker::on_timer() {
  auto now = std::chrono::steady_clock::now();
  in_timer_ = true;
  due_.clear();
  deadlines_.pop_due(now, due_);
  const auto n = static_cast<std::uint32_t>(things_.size());
  for (auto slot : due_) {
    if (slot < n) things_[slot]->on_deadline(now);
    else if (slot < 2 * n) send_commands(slot - n, now);
    else if (slot == pump_slot()) pump_connects(now);
    else if (slot == anomaly_slot()) anomaly_events(now);
    else if (slot == controller_slot() && controller_) controller_->on_deadline(now);
    else if (slot == live_slot()) {
      refresh_live();
      wake(live_slot(), now + live_refresh);
    }
  }
  in_timer_ = false;
  arm();
}

void Worker::request_connect(std::uint32_t slot) {
  connect_queue_.push_back(slot);
  wake(pump_slot(), std::chrono::steady_clock::now());
}

void Worker::connect_done(std::uint32_t) {
  if (connecting_ > 0) --connecting_;
  if (!connect_queue_.empty()) wake(pump_slot(), std::chrono::steady_clock::now());
}

void Worker::pump_connects(SteadyTime now) {
  // Refill the bucket; at most one second's worth so a pause cannot build a burst.
  double elapsed = std::chrono::duration<double>(now - tokens_at_).count();
  tokens_ = std::min(tokens_ + elapsed * connect_rate_, std::max(1.0, connect_rate_));
  tokens_at_ = now;
  while (!connect_queue_.empty() && connecting_ < max_connecting_ && tokens_ >= 1) {
    auto slot = connect_queue_.front();
    connect_queue_.pop_front();
    tokens_ -= 1;
    ++connecting_;
    things_[slot]->begin_connect(now);
  }
  if (!connect_queue_.empty()) {
    if (tokens_ < 1) {
      ++stats_.throttled_connects;
      auto wait = std::chrono::duration<double>((1 - tokens_) / connect_rate_);
      wake(pump_slot(), now + std::chrono::duration_cast<SteadyTime::duration>(wait));
    }
    // Otherwise connect_done() wakes the pump when an in-flight connect finishes.
  }
}

void Worker::anomaly_events(SteadyTime now) {
  EpochMillis t = clock().now();
  const auto& s = scenario();
  auto at = [&](Millis offset) { return context_.start_ms + offset.count(); };  // occurrences are offsets
  while (next_start_ < by_start_.size() && at(occurrences_[by_start_[next_start_]].occurrence.start) <= t) {
    auto& o = occurrences_[by_start_[next_start_++]];
    if (o.started) continue;
    o.started = true;
    ++stats_.anomalies_started;
    const auto& a = s.anomalies[o.occurrence.anomaly];
    auto metrics = scenario::affected_metrics(a.kind, a.mode);
    ledger::AnomalyStart rec;
    rec.id = o.id;
    rec.anomaly = a.name;
    rec.kind = std::string(scenario::kind_info(a.kind).name);
    rec.occurrence = o.occurrence.number;
    rec.thing = things_[o.thing]->name();
    rec.primary_metrics.assign(metrics.primary.begin(), metrics.primary.end());
    rec.side_effect_metrics.assign(metrics.side_effects.begin(), metrics.side_effects.end());
    rec.strength = a.strength.text;
    rec.strength_value = a.strength.value;
    rec.mode = a.mode;
    rec.t_ms = t;
    rec.planned_end_ms = at(o.occurrence.end);
    if (context_.ledger) (void)context_.ledger->anomaly_start(rec);
    things_[o.thing]->add_effect({&a, o.id, t, rec.planned_end_ms}, now);
    if (things_[o.thing]->command_rate(t) > 0) {
      next_command_[o.thing] = t;  // a receive flood starts now, not after the baseline's next interval
      send_commands(o.thing, now);
    }
  }
  while (next_end_ < by_end_.size() && at(occurrences_[by_end_[next_end_]].occurrence.end) <= t) {
    auto& o = occurrences_[by_end_[next_end_++]];
    if (!o.started || o.ended) continue;
    o.ended = true;
    ++stats_.anomalies_ended;
    const auto& a = s.anomalies[o.occurrence.anomaly];
    if (context_.ledger)
      (void)context_.ledger->anomaly_end({o.id, things_[o.thing]->name(), a.name, t, ledger::EndReason::completed});
    things_[o.thing]->remove_effect(o.id, now);
  }
  EpochMillis next = INT64_MAX;
  if (next_start_ < by_start_.size()) next = at(occurrences_[by_start_[next_start_]].occurrence.start);
  if (next_end_ < by_end_.size()) next = std::min(next, at(occurrences_[by_end_[next_end_]].occurrence.end));
  if (next != INT64_MAX)
    wake(anomaly_slot(), now + std::chrono::duration_cast<SteadyTime::duration>(clock().real_until(next)));
}

void Worker::send_commands(std::uint32_t i, SteadyTime now) {
  auto& thing = *things_[i];
  EpochMillis s = clock().now();
  double rate = thing.command_rate(s);
  if (rate <= 0 || !controller_) return;
  auto& next = next_command_[i];
  if (next == 0) next = s;
  for (int k = 0; k < 64 && next <= s; ++k) {
    if (thing.state() == Thing::State::connected) {
      if (controller_->send(thing.command_topic(), payload(128), mqtt::QoS::at_most_once, now)) ++stats_.commands_sent;
    }
    next += std::max<EpochMillis>(1, static_cast<EpochMillis>(1000.0 / rate));
  }
  if (next <= s) next = s + 1;
  wake(command_slot(i), now + std::chrono::duration_cast<SteadyTime::duration>(clock().real_until(next)));
}

void Worker::refresh_live() {
  std::uint64_t connected = 0, active = 0;
  for (const auto& t : things_) {
    connected += t->state() == Thing::State::connected;
    active += t->effects().size();
  }
  live_.connected.store(connected, std::memory_order_relaxed);
  live_.active_anomalies.store(active, std::memory_order_relaxed);
  live_.published.store(stats_.publishes_qos0 + stats_.publishes_qos1, std::memory_order_relaxed);
  live_.received.store(stats_.messages_received, std::memory_order_relaxed);
  live_.errors.store(stats_.connect_failed_tcp + stats_.connect_failed_tls + stats_.connect_refused +
                         stats_.connect_timeouts + stats_.disconnects_by_peer + stats_.disconnects_io +
                         stats_.disconnects_protocol + stats_.disconnects_ping,
                     std::memory_order_relaxed);
  std::lock_guard lock(snapshot_mutex_);
  snapshot_ = stats_;
}

}  // namespace fleetsim::fleet

#pragma once
// A simulated thing: its MQTT session (sans-IO), its transport, and its traffic schedule in scenario
// time. It acts only when its worker calls on_deadline() or an I/O completion arrives, both on the
// worker's thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/core/rng.hpp"
#include "sim/fleet/connection.hpp"
#include "sim/fleet/deadline_queue.hpp"
#include "sim/fleet/traffic.hpp"
#include "sim/mqtt/session.hpp"
#include "sim/scenario/expand.hpp"

namespace fleetsim::fleet {

class Worker;

class Thing final : public mqtt::SessionHandler {
 public:
  enum class State { idle, waiting_to_connect, connecting, connected, stopped };

  Thing(Worker& worker, std::uint32_t slot, const scenario::ThingPlan& plan, const scenario::FleetGroup& group,
        std::string neighbour);

  /// Starts the thing: it asks for a connect slot right away.
  void start(SteadyTime now);
  /// The worker's single timer reached this thing's deadline.
  void on_deadline(SteadyTime now);
  /// The worker grants a connect slot.
  void begin_connect(SteadyTime now);
  /// An anomaly occurrence starts or ends on this thing.
  void add_effect(ActiveEffect effect, SteadyTime now);
  void remove_effect(const std::string& ledger_id, SteadyTime now);
  /// Clean shutdown: DISCONNECT, then close.
  void stop();

  const std::string& name() const { return name_; }
  /// Whether a CONNECT was ever accepted (reconcile leaves things that never connected out of observation).
  bool ever_connected() const { return ever_connected_; }
  State state() const { return state_; }
  const std::vector<ActiveEffect>& effects() const { return effects_; }
  /// Receive traffic the controller owes this thing (commands per second now, scenario time).
  double command_rate(EpochMillis t) const { return receive_rate(group_, knobs(), t); }
  /// The topic the controller sends this thing's commands to ("" when it receives none).
  const std::string& command_topic() const { return command_topic_; }

  // mqtt::SessionHandler
  void on_connected(bool session_present) override;
  void on_message(const mqtt::Publish& message) override;
  void on_published(std::uint16_t packet_id, std::chrono::microseconds latency) override;
  void on_subscribed(std::uint16_t packet_id, std::span<const mqtt::SubackCode> codes) override;

 private:
  void fail(std::error_code ec, SteadyTime now, const char* step);
  void schedule_reconnect(SteadyTime now, bool immediately, bool device_time = false);
  void read_loop();
  void flush();
  void reschedule(SteadyTime now);
  void publish_telemetry(SteadyTime now, EpochMillis scenario_now);
  void publish_report(SteadyTime now);
  void deny_once(SteadyTime now);
  void planned_reconnect(SteadyTime now);
  void close_gracefully();
  bool send(std::string_view topic, std::string_view payload, mqtt::QoS qos, SteadyTime now);
  SteadyTime real_time_of(EpochMillis scenario_t, SteadyTime now) const;
  double capped_publish_rate(EpochMillis t) const;
  const Knobs& knobs() const;
  void set_knobs(Knobs k);
  void after_connected_schedule(EpochMillis scenario_now);

  Worker& worker_;
  std::uint32_t slot_;
  const scenario::FleetGroup& group_;
  std::string name_;
  std::string neighbour_;     // another thing whose topics this one's policy denies
  std::string telemetry_topic_;
  std::string command_topic_;  // built once: the controller uses it for every command
  Rng rng_;
  std::size_t source_index_;  // which local address to connect from
  mqtt::ClientSession session_;
  std::shared_ptr<Connection> connection_;  // shared: pending handlers keep an old one alive
  State state_ = State::idle;
  std::uint64_t generation_ = 0;  // bumps on every (re)connect: completions of an old connection are ignored
  bool write_in_flight_ = false;
  std::string write_buffer_;
  std::unique_ptr<Knobs> knobs_;  // null while no anomaly is active
  std::vector<ActiveEffect> effects_;
  unsigned failures_in_a_row_ = 0;
  SteadyTime connect_started_{};
  SteadyTime connect_deadline_ = SteadyTime::max();
  SteadyTime reconnect_at_ = SteadyTime::max();
  SteadyTime last_connect_attempt_{};
  EpochMillis next_publish_ = 0, next_report_ = 0, next_denial_ = 0, next_planned_reconnect_ = 0;
  std::uint64_t report_id_ = 0;
  TrafficCounters since_report_;
  unsigned denial_toggle_ = 0;
  bool denied_since_connect_ = false;
  bool ever_connected_ = false;  ///< a close by the broker is then the expected answer, not an error
};

}  // namespace fleetsim::fleet

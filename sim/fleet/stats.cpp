#include "sim/fleet/stats.hpp"

namespace fleetsim::fleet {

void Stats::merge(const Stats& o) {
  connect_attempts += o.connect_attempts;
  connects_ok += o.connects_ok;
  connect_failed_tcp += o.connect_failed_tcp;
  connect_failed_tls += o.connect_failed_tls;
  connect_refused += o.connect_refused;
  connect_timeouts += o.connect_timeouts;
  throttled_connects += o.throttled_connects;
  disconnects_planned += o.disconnects_planned;
  disconnects_by_peer += o.disconnects_by_peer;
  disconnects_denied += o.disconnects_denied;
  disconnects_ping += o.disconnects_ping;
  disconnects_protocol += o.disconnects_protocol;
  disconnects_io += o.disconnects_io;
  publishes_qos0 += o.publishes_qos0;
  publishes_qos1 += o.publishes_qos1;
  acks += o.acks;
  lost_unacked += o.lost_unacked;
  dropped_backpressure += o.dropped_backpressure;
  dropped_disconnected += o.dropped_disconnected;
  late_publishes += o.late_publishes;
  messages_received += o.messages_received;
  commands_sent += o.commands_sent;
  reports_sent += o.reports_sent;
  reports_accepted += o.reports_accepted;
  reports_rejected += o.reports_rejected;
  denied_attempts += o.denied_attempts;
  suback_failures += o.suback_failures;
  bytes_out += o.bytes_out;
  bytes_in += o.bytes_in;
  anomalies_started += o.anomalies_started;
  anomalies_ended += o.anomalies_ended;
  connect_time.merge(o.connect_time);
  ack_latency.merge(o.ack_latency);
  lateness.merge(o.lateness);
}

nlohmann::json percentiles_ms(const Histogram& h) {
  auto ms = [](std::int64_t us) { return static_cast<double>(us) / 1000.0; };
  return {{"count", h.count()}, {"p50", ms(h.percentile(50))}, {"p90", ms(h.percentile(90))},
          {"p99", ms(h.percentile(99))}, {"max", ms(h.max())}};
}

nlohmann::json Stats::to_json() const {
  return {
      {"connections",
       {{"attempts", connect_attempts}, {"ok", connects_ok}, {"failed_tcp", connect_failed_tcp},
        {"failed_tls", connect_failed_tls}, {"refused", connect_refused}, {"timeouts", connect_timeouts},
        {"throttled", throttled_connects}}},
      {"disconnects",
       {{"planned", disconnects_planned}, {"by_peer", disconnects_by_peer}, {"after_denied", disconnects_denied},
        {"keep_alive", disconnects_ping},
        {"protocol", disconnects_protocol}, {"io", disconnects_io}}},
      {"messages",
       {{"published_qos0", publishes_qos0}, {"published_qos1", publishes_qos1}, {"acked", acks},
        {"lost_unacked", lost_unacked}, {"dropped_backpressure", dropped_backpressure},
        {"dropped_disconnected", dropped_disconnected}, {"late", late_publishes}, {"received", messages_received},
        {"commands_sent", commands_sent}, {"reports_sent", reports_sent}, {"reports_accepted", reports_accepted},
        {"reports_rejected", reports_rejected}, {"denied_attempts", denied_attempts},
        {"suback_failures", suback_failures}, {"bytes_out", bytes_out}, {"bytes_in", bytes_in}}},
      {"anomalies", {{"started", anomalies_started}, {"ended", anomalies_ended}}},
      {"latency_ms",
       {{"connect", percentiles_ms(connect_time)}, {"qos1_ack", percentiles_ms(ack_latency)},
        {"publish_lateness", percentiles_ms(lateness)}}},
  };
}

}  // namespace fleetsim::fleet

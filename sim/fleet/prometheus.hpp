#pragma once
// A Prometheus text-format endpoint (GET /metrics) so capacity rehearsals can be watched in Grafana.
// The text is rendered from merged worker snapshots; the server is a small Beast loop on the engine's
// main io_context, with a deadline on every connection.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <string>

#include "sim/fleet/stats.hpp"

namespace fleetsim::fleet {

/// Gauges that are not counters in Stats.
struct Gauges {
  std::uint64_t things = 0;            ///< things on this shard
  std::uint64_t connected = 0;         ///< connected now
  std::uint64_t active_anomalies = 0;  ///< anomaly occurrences in progress
};

/// The exposition text (version 0.0.4) for these figures.
std::string prometheus_text(const Stats& stats, const Gauges& gauges);

class MetricsServer {
 public:
  /// Listens on `endpoint` and answers GET /metrics with `render()`. Throws on a bind failure.
  MetricsServer(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& endpoint,
                std::function<std::string()> render);
  ~MetricsServer();
  unsigned short port() const;
  void close();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace fleetsim::fleet

#include "sim/fleet/prometheus.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sstream>

namespace fleetsim::fleet {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

void counter(std::ostringstream& out, const char* name, const char* help, std::uint64_t value,
             const std::string& labels = {}) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n"
      << name << (labels.empty() ? "" : "{" + labels + "}") << ' ' << value << '\n';
}

// One metric family with several labelled samples.
void labelled(std::ostringstream& out, const char* name, const char* help, const char* type,
              std::initializer_list<std::pair<std::string, std::uint64_t>> samples) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  for (const auto& [labels, v] : samples) out << name << '{' << labels << "} " << v << '\n';
}

void gauge(std::ostringstream& out, const char* name, const char* help, std::uint64_t value) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n" << name << ' ' << value << '\n';
}

// A Prometheus histogram in seconds from a microsecond log histogram: cumulative counts per `le`.
void histogram(std::ostringstream& out, const char* name, const char* help, const Histogram& h) {
  static constexpr double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " histogram\n";
  for (double le : bounds)
    out << name << "_bucket{le=\"" << le << "\"} " << h.count_at_most(static_cast<std::int64_t>(le * 1e6)) << '\n';
  out << name << "_bucket{le=\"+Inf\"} " << h.count() << '\n'
      << name << "_sum " << h.mean() * double(h.count()) / 1e6 << '\n'
      << name << "_count " << h.count() << '\n';
}

}  // namespace

std::string prometheus_text(const Stats& s, const Gauges& g) {
  std::ostringstream out;
  gauge(out, "fleetsim_things", "Things this process simulates", g.things);
  gauge(out, "fleetsim_things_connected", "Things connected now", g.connected);
  gauge(out, "fleetsim_anomalies_active", "Anomaly occurrences in progress", g.active_anomalies);
  counter(out, "fleetsim_connect_attempts_total", "TCP connects started", s.connect_attempts);
  counter(out, "fleetsim_connects_total", "Connections accepted (CONNACK 0)", s.connects_ok);
  labelled(out, "fleetsim_connect_failures_total", "Failed connects by cause", "counter",
           {{"cause=\"tcp\"", s.connect_failed_tcp}, {"cause=\"tls\"", s.connect_failed_tls},
            {"cause=\"refused\"", s.connect_refused}, {"cause=\"timeout\"", s.connect_timeouts}});
  counter(out, "fleetsim_connects_throttled_total", "Connects delayed by the ramp", s.throttled_connects);
  labelled(out, "fleetsim_disconnects_total", "Disconnects by cause", "counter",
           {{"cause=\"planned\"", s.disconnects_planned}, {"cause=\"broker\"", s.disconnects_by_peer},
            {"cause=\"after_denied\"", s.disconnects_denied},
            {"cause=\"keep_alive\"", s.disconnects_ping}, {"cause=\"protocol\"", s.disconnects_protocol},
            {"cause=\"io\"", s.disconnects_io}});
  labelled(out, "fleetsim_publishes_total", "Publishes sent", "counter",
           {{"qos=\"0\"", s.publishes_qos0}, {"qos=\"1\"", s.publishes_qos1}});
  counter(out, "fleetsim_acks_total", "PUBACKs received", s.acks);
  labelled(out, "fleetsim_dropped_total", "Publishes not sent", "counter",
           {{"reason=\"backpressure\"", s.dropped_backpressure}, {"reason=\"disconnected\"", s.dropped_disconnected},
            {"reason=\"unacked_at_disconnect\"", s.lost_unacked}});
  counter(out, "fleetsim_late_publishes_total", "Publishes sent over 100 ms late", s.late_publishes);
  counter(out, "fleetsim_messages_received_total", "Messages delivered to things", s.messages_received);
  counter(out, "fleetsim_commands_sent_total", "Commands published by controllers", s.commands_sent);
  labelled(out, "fleetsim_device_reports_total", "Device metric reports", "counter",
           {{"result=\"sent\"", s.reports_sent}, {"result=\"accepted\"", s.reports_accepted},
            {"result=\"rejected\"", s.reports_rejected}});
  labelled(out, "fleetsim_bytes_total", "Bytes on the wire", "counter",
           {{"direction=\"out\"", s.bytes_out}, {"direction=\"in\"", s.bytes_in}});
  counter(out, "fleetsim_anomalies_started_total", "Anomaly occurrences started", s.anomalies_started);
  histogram(out, "fleetsim_connect_seconds", "TCP connect to CONNACK", s.connect_time);
  histogram(out, "fleetsim_qos1_ack_seconds", "QoS 1 publish to PUBACK", s.ack_latency);
  histogram(out, "fleetsim_publish_lateness_seconds", "Scheduled to sent", s.lateness);
  return out.str();
}

struct MetricsServer::State : std::enable_shared_from_this<State> {
  tcp::acceptor acceptor;
  std::function<std::string()> render;
  State(boost::asio::io_context& ioc, const tcp::endpoint& ep, std::function<std::string()> r)
      : acceptor(ioc, ep), render(std::move(r)) {}

  void accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      if (ec == boost::asio::error::operation_aborted) return;
      if (!ec) self->serve(std::move(socket));
      self->accept();
    });
  }

  // One request per connection, with a deadline for the whole exchange.
  void serve(tcp::socket socket) {
    struct Exchange {
      beast::tcp_stream stream;
      beast::flat_buffer buffer;
      http::request<http::empty_body> request;
      http::response<http::string_body> response;
      explicit Exchange(tcp::socket s) : stream(std::move(s)) {}
    };
    auto x = std::make_shared<Exchange>(std::move(socket));
    x->stream.expires_after(std::chrono::seconds(5));
    http::async_read(x->stream, x->buffer, x->request, [self = shared_from_this(), x](beast::error_code ec, std::size_t) {
      if (ec) return;
      auto& res = x->response;
      res.version(x->request.version());
      res.keep_alive(false);
      if (x->request.method() == http::verb::get && x->request.target() == "/metrics") {
        res.result(http::status::ok);
        res.set(http::field::content_type, "text/plain; version=0.0.4");
        res.body() = self->render();
      } else {
        res.result(http::status::not_found);
        res.set(http::field::content_type, "text/plain");
        res.body() = "fleetsim serves GET /metrics\n";
      }
      res.prepare_payload();
      http::async_write(x->stream, res, [x](beast::error_code, std::size_t) {
        beast::error_code ignored;
        x->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      });
    });
  }
};

MetricsServer::MetricsServer(boost::asio::io_context& ioc, const tcp::endpoint& ep, std::function<std::string()> render)
    : state_(std::make_shared<State>(ioc, ep, std::move(render))) {
  state_->accept();
}

MetricsServer::~MetricsServer() { close(); }

unsigned short MetricsServer::port() const { return state_->acceptor.local_endpoint().port(); }

void MetricsServer::close() {
  beast::error_code ignored;
  state_->acceptor.close(ignored);
}

}  // namespace fleetsim::fleet

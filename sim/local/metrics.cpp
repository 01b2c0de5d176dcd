#include "sim/local/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace fleetsim::local {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, metric_count> metric_names = {
    "aws:num-messages-sent",        "aws:num-messages-received",     "aws:num-authorization-failures",
    "aws:message-byte-size",        "aws:num-connection-attempts",   "aws:num-disconnects",
    "aws:all-bytes-out",            "aws:all-bytes-in",              "aws:all-packets-out",
    "aws:all-packets-in",           "aws:num-listening-tcp-ports",   "aws:num-listening-udp-ports",
    "aws:num-established-tcp-connections", "aws:source-ip-address",  "aws:listening-tcp-ports",
    "aws:listening-udp-ports",      "aws:destination-ip-addresses"};

constexpr std::uint32_t bit(Metric m) { return 1u << static_cast<unsigned>(m); }

EpochMillis floor_to(EpochMillis t, std::int64_t len) {
  EpochMillis q = t / len;
  if (t % len != 0 && t < 0) --q;
  return q * len;
}

// A report member under its long or its short name (the broker validated the report; both are legal).
const json* member(const json& j, const char* long_name, const char* short_name) {
  if (!j.is_object()) return nullptr;
  if (auto it = j.find(long_name); it != j.end()) return &*it;
  if (auto it = j.find(short_name); it != j.end()) return &*it;
  return nullptr;
}

std::uint64_t unsigned_of(const json* j) {
  if (!j || !j->is_number()) return 0;
  if (j->is_number_unsigned()) return j->get<std::uint64_t>();
  const double v = j->get<double>();
  return v > 0 ? static_cast<std::uint64_t>(v) : 0;
}

// "ip:port", "[v6]:port", or a bare v6 address: the host part.
std::string host_of(std::string_view addr) {
  if (addr.starts_with('[')) {
    auto close = addr.find(']');
    return std::string(addr.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
  }
  if (std::count(addr.begin(), addr.end(), ':') == 1) return std::string(addr.substr(0, addr.find(':')));
  return std::string(addr);
}

template <class T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Port list and total of listening_tcp_ports / listening_udp_ports.
void read_ports(const json* section, std::vector<int>& ports, std::uint64_t& total) {
  ports.clear();
  total = 0;
  if (!section) return;
  if (const json* list = member(*section, "ports", "pts"); list && list->is_array())
    for (const auto& p : *list)
      if (const json* port = member(p, "port", "pt"); port && port->is_number_integer()) ports.push_back(port->get<int>());
  sort_unique(ports);
  const json* t = member(*section, "total", "t");
  total = t ? unsigned_of(t) : ports.size();
}

}  // namespace

std::string_view metric_name(Metric m) { return metric_names[static_cast<std::size_t>(m)]; }

std::optional<Metric> parse_metric(std::string_view aws_name) {
  for (std::size_t i = 0; i < metric_count; ++i)
    if (metric_names[i] == aws_name) return static_cast<Metric>(i);
  return std::nullopt;
}

bool is_cloud_side(Metric m) { return m <= Metric::disconnects || m == Metric::source_ip; }

//---------------------------------------------------------------------------------------------------
// MetricValue

MetricValue MetricValue::count(std::uint64_t n) {
  MetricValue v;
  v.scalar = static_cast<double>(n);
  return v;
}

MetricValue MetricValue::number(double x) {
  MetricValue v;
  v.type = Type::number;
  v.scalar = x;
  return v;
}

MetricValue MetricValue::port_set(std::vector<int> ports) {
  MetricValue v;
  v.type = Type::ports;
  sort_unique(ports);
  v.ports = std::move(ports);
  return v;
}

MetricValue MetricValue::cidr_set(std::vector<std::string> ips) {
  MetricValue v;
  v.type = Type::cidrs;
  sort_unique(ips);
  v.strings = std::move(ips);
  return v;
}

json MetricValue::to_json() const {
  switch (type) {
    case Type::count: return json{{"count", static_cast<std::uint64_t>(std::max(0.0, scalar))}};
    case Type::number: return json{{"number", scalar}};
    case Type::ports: return json{{"ports", ports}};
    case Type::cidrs: return json{{"cidrs", strings}};
    case Type::strings: return json{{"strings", strings}};
    case Type::numbers: return json{{"numbers", numbers}};
  }
  return json::object();
}

std::optional<MetricValue> MetricValue::from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  MetricValue v;
  if (auto it = j.find("count"); it != j.end() && it->is_number()) {
    v.scalar = it->get<double>();
    return v;
  }
  if (auto it = j.find("number"); it != j.end() && it->is_number()) return number(it->get<double>());
  if (auto it = j.find("ports"); it != j.end() && it->is_array()) {
    std::vector<int> ports;
    for (const auto& p : *it)
      if (p.is_number_integer()) ports.push_back(p.get<int>());
    return port_set(std::move(ports));
  }
  for (auto [key, type] : {std::pair{"cidrs", Type::cidrs}, std::pair{"strings", Type::strings}})
    if (auto it = j.find(key); it != j.end() && it->is_array()) {
      v.type = type;
      for (const auto& s : *it)
        if (s.is_string()) v.strings.push_back(s.get<std::string>());
      sort_unique(v.strings);
      return v;
    }
  if (auto it = j.find("numbers"); it != j.end() && it->is_array()) {
    v.type = Type::numbers;
    for (const auto& x : *it)
      if (x.is_number()) v.numbers.push_back(x.get<double>());
    return v;
  }
  return std::nullopt;
}

//---------------------------------------------------------------------------------------------------
// The recorder's state

struct MetricsRecorder::Accum {
  EpochMillis start = 0;
  bool cloud = false;  ///< connected, or any broker event, during the window
  bool any_message = false;
  bool report = false;
  std::uint64_t sent = 0, received = 0, auth_failures = 0, attempts = 0, disconnects = 0, max_size = 0;
  std::uint64_t bytes_out = 0, bytes_in = 0, packets_out = 0, packets_in = 0;
  std::uint64_t tcp_count = 0, udp_count = 0, connection_count = 0;
  std::string source_ip;
  std::vector<int> tcp_ports, udp_ports;
  std::vector<std::string> destination_ips;
};

struct MetricsRecorder::Stored {
  EpochMillis start = 0;
  std::uint32_t present = 0;  ///< a bit per Metric
  std::array<double, numeric_metric_count> values{};
  std::array<std::shared_ptr<const MetricValue>, 4> sets;  ///< source ip, tcp ports, udp ports, destination ips
};

struct MetricsRecorder::ThingState {
  int open = 0;                          ///< live accepted connections
  EpochMillis connected_since = 0;       ///< window in which `open` last went from 0 to 1
  std::deque<Accum> windows;             ///< open windows, oldest first (usually one)
  std::deque<Stored> history;            ///< closed windows within retention, oldest first
  std::string last_ip;
};

namespace {
struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
}  // namespace

struct MetricsRecorder::Shard {
  mutable std::mutex mutex;
  std::unordered_map<std::string, ThingState, NameHash, std::equal_to<>> things;
};

MetricsRecorder::MetricsRecorder(const Clock& clock, Millis window, Millis retention)
    : clock_(clock),
      window_(window.count() > 0 ? window : Millis(300'000)),
      retention_(retention),
      closed_until_(floor_to(clock.now(), window_.count())),
      shards_(std::make_unique<Shard[]>(shard_count_)) {}

MetricsRecorder::~MetricsRecorder() = default;

MetricsRecorder::Shard& MetricsRecorder::shard_for(std::string_view thing) const {
  return shards_[NameHash{}(thing) % shard_count_];
}

MetricsRecorder::Accum MetricsRecorder::fresh_window(EpochMillis start, bool connected) {
  Accum a;
  a.start = start;
  a.cloud = connected;
  return a;
}

MetricsRecorder::Accum& MetricsRecorder::accum_for(ThingState& t, EpochMillis w, EpochMillis closed) {
  const std::int64_t len = window_.count();
  w = std::max(w, closed);  // an event racing a close lands in the first open window
  if (!t.windows.empty() && w <= t.windows.back().start) {
    auto it = std::find_if(t.windows.begin(), t.windows.end(), [&](const Accum& a) { return a.start >= w; });
    if (it->start == w) return *it;
    return *t.windows.insert(it, fresh_window(w, t.open > 0));
  }
  if (t.open > 0) {  // connected since its last event: the windows in between are connected and silent
    EpochMillis from = t.windows.empty() ? closed : t.windows.back().start + len;
    for (EpochMillis x = std::max({from, closed, t.connected_since}); x < w; x += len)
      t.windows.push_back(fresh_window(x, true));
  }
  t.windows.push_back(fresh_window(w, t.open > 0));
  return t.windows.back();
}

template <class F>
void MetricsRecorder::record(std::string_view thing, F&& update) {
  const EpochMillis now = clock_.now();
  const EpochMillis w = floor_to(now, window_.count());
  Shard& s = shard_for(thing);
  std::lock_guard lock(s.mutex);
  auto it = s.things.find(thing);
  if (it == s.things.end()) it = s.things.emplace(std::string(thing), ThingState{}).first;
  ThingState& t = it->second;
  update(t, accum_for(t, w, closed_until_.load(std::memory_order_acquire)), w);
}

void MetricsRecorder::on_connect_attempt(const ConnectionIdentity& who, bool accepted) {
  record(who.client_id, [&](ThingState& t, Accum& a, EpochMillis w) {
    ++a.attempts;
    a.cloud = true;
    if (!who.source_ip.empty()) a.source_ip = t.last_ip = who.source_ip;
    if (accepted && t.open++ == 0) t.connected_since = w;
  });
}

void MetricsRecorder::on_disconnect(const ConnectionIdentity& who, DisconnectReason) {
  record(who.client_id, [](ThingState& t, Accum& a, EpochMillis) {
    ++a.disconnects;
    a.cloud = true;
    if (t.open > 0) --t.open;
  });
}

void MetricsRecorder::on_message_from_device(const ConnectionIdentity& who, std::string_view, std::size_t payload_bytes) {
  record(who.client_id, [&](ThingState&, Accum& a, EpochMillis) {
    ++a.sent;
    a.cloud = a.any_message = true;
    a.max_size = std::max<std::uint64_t>(a.max_size, payload_bytes);
  });
}

void MetricsRecorder::on_message_to_device(const ConnectionIdentity& who, std::string_view, std::size_t) {
  record(who.client_id, [](ThingState&, Accum& a, EpochMillis) {
    ++a.received;
    a.cloud = true;
  });
}

void MetricsRecorder::on_authorization_failure(const ConnectionIdentity& who, std::string_view, std::string_view) {
  record(who.client_id, [](ThingState&, Accum& a, EpochMillis) {
    ++a.auth_failures;
    a.cloud = true;
  });
}

void MetricsRecorder::on_device_report(std::string_view thing_name, const nlohmann::json& report) {
  const json* metrics = member(report, "metrics", "met");
  if (!metrics) return;  // custom metrics only: not recorded here
  // Parse outside the lock; only the merge into the window is serialised.
  std::uint64_t bo = 0, bi = 0, po = 0, pi = 0, tcp_total = 0, udp_total = 0, conn_total = 0;
  bool has_ns = false, has_tcp = false, has_udp = false, has_conn = false;
  std::vector<int> tcp, udp;
  std::vector<std::string> ips;
  if (const json* ns = member(*metrics, "network_stats", "ns")) {
    has_ns = true;
    bo = unsigned_of(member(*ns, "bytes_out", "bo"));
    bi = unsigned_of(member(*ns, "bytes_in", "bi"));
    po = unsigned_of(member(*ns, "packets_out", "po"));
    pi = unsigned_of(member(*ns, "packets_in", "pi"));
  }
  if (const json* s = member(*metrics, "listening_tcp_ports", "tp")) has_tcp = true, read_ports(s, tcp, tcp_total);
  if (const json* s = member(*metrics, "listening_udp_ports", "up")) has_udp = true, read_ports(s, udp, udp_total);
  if (const json* tc = member(*metrics, "tcp_connections", "tc"))
    if (const json* ec = member(*tc, "established_connections", "ec")) {
      has_conn = true;
      if (const json* cs = member(*ec, "connections", "cs"); cs && cs->is_array())
        for (const auto& c : *cs)
          if (const json* addr = member(c, "remote_addr", "rad"); addr && addr->is_string())
            ips.push_back(host_of(addr->get<std::string>()));
      sort_unique(ips);
      const json* t = member(*ec, "total", "t");
      conn_total = t ? unsigned_of(t) : ips.size();
    }
  record(thing_name, [&](ThingState&, Accum& a, EpochMillis) {
    a.report = true;
    if (has_ns) a.bytes_out += bo, a.bytes_in += bi, a.packets_out += po, a.packets_in += pi;
    if (has_tcp) a.tcp_count = tcp_total, a.tcp_ports = tcp;
    if (has_udp) a.udp_count = udp_total, a.udp_ports = udp;
    if (has_conn) a.connection_count = conn_total, a.destination_ips = ips;
  });
}

//---------------------------------------------------------------------------------------------------
// Closing windows

namespace {

// The set a stored window points to: the previous window's when equal, so steady sets cost nothing.
std::shared_ptr<const MetricValue> share(const std::shared_ptr<const MetricValue>& previous, MetricValue v) {
  if (previous && *previous == v) return previous;
  return std::make_shared<const MetricValue>(std::move(v));
}

}  // namespace

void MetricsRecorder::store(ThingState& t, const Accum& a, ThingMetrics& out) {
  Stored s;
  s.start = a.start;
  const Stored* prev = t.history.empty() ? nullptr : &t.history.back();
  auto number = [&](Metric m, std::uint64_t v) {
    s.present |= bit(m);
    s.values[static_cast<std::size_t>(m)] = static_cast<double>(v);
    out.emplace(std::string(metric_name(m)), MetricValue::count(v));
  };
  auto set = [&](Metric m, std::size_t slot, MetricValue v) {
    s.present |= bit(m);
    s.sets[slot] = share(prev ? prev->sets[slot] : nullptr, std::move(v));
    out.emplace(std::string(metric_name(m)), *s.sets[slot]);
  };
  if (a.cloud) {
    number(Metric::messages_sent, a.sent);
    number(Metric::messages_received, a.received);
    number(Metric::authorization_failures, a.auth_failures);
    number(Metric::connection_attempts, a.attempts);
    number(Metric::disconnects, a.disconnects);
    if (a.any_message) number(Metric::message_byte_size, a.max_size);
    const std::string& ip = a.source_ip.empty() ? t.last_ip : a.source_ip;
    if (!ip.empty()) set(Metric::source_ip, 0, MetricValue::cidr_set({ip}));
  }
  if (a.report) {
    number(Metric::bytes_out, a.bytes_out);
    number(Metric::bytes_in, a.bytes_in);
    number(Metric::packets_out, a.packets_out);
    number(Metric::packets_in, a.packets_in);
    number(Metric::listening_tcp_port_count, a.tcp_count);
    number(Metric::listening_udp_port_count, a.udp_count);
    number(Metric::established_connections, a.connection_count);
    set(Metric::listening_tcp_ports, 1, MetricValue::port_set(a.tcp_ports));
    set(Metric::listening_udp_ports, 2, MetricValue::port_set(a.udp_ports));
    set(Metric::destination_ips, 3, MetricValue::cidr_set(a.destination_ips));
  }
  if (retention_.count() > 0) t.history.push_back(std::move(s));
}

std::vector<ClosedWindow> MetricsRecorder::close_windows(EpochMillis now) {
  std::lock_guard close_lock(close_mutex_);  // one close at a time; the hooks never take it
  const std::int64_t len = window_.count();
  const EpochMillis from = closed_until_.load(std::memory_order_acquire);
  const EpochMillis until = floor_to(now, len);  // windows starting before this have ended
  if (until <= from) return {};
  // Publish the new boundary first: a hook that takes a shard lock after we have swept that shard sees it.
  closed_until_.store(until, std::memory_order_release);

  std::vector<ClosedWindow> out;
  for (EpochMillis w = from; w < until; w += len) out.push_back(ClosedWindow{w, w + len, {}});
  auto slot = [&](EpochMillis start) -> ClosedWindow& {
    return out[static_cast<std::size_t>((std::max(start, from) - from) / len)];
  };
  const EpochMillis oldest_kept = now - retention_.count();
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& s = shards_[i];
    std::lock_guard lock(s.mutex);
    for (auto it = s.things.begin(); it != s.things.end();) {
      ThingState& t = it->second;
      if (t.open > 0)  // connected and silent windows still get their zeros
        for (EpochMillis w = std::max(from, t.connected_since); w < until; w += len) accum_for(t, w, from);
      while (!t.windows.empty() && t.windows.front().start < until) {
        ClosedWindow& cw = slot(t.windows.front().start);
        auto [entry, fresh] = cw.things.try_emplace(it->first);
        if (fresh) store(t, t.windows.front(), entry->second);
        t.windows.pop_front();
      }
      while (!t.history.empty() && t.history.front().start + len < oldest_kept) t.history.pop_front();
      if (t.open == 0 && t.windows.empty() && t.history.empty())
        it = s.things.erase(it);
      else
        ++it;
    }
  }
  return out;
}

std::vector<MetricDatum> MetricsRecorder::metric_values(std::string_view thing, std::string_view metric, EpochMillis from,
                                                        EpochMillis to) const {
  std::vector<MetricDatum> out;
  auto m = parse_metric(metric);
  if (!m) return out;
  const Shard& s = shard_for(thing);
  std::lock_guard lock(s.mutex);
  auto it = s.things.find(thing);
  if (it == s.things.end()) return out;
  const std::int64_t len = window_.count();
  const auto index = static_cast<std::size_t>(*m);
  for (auto h = it->second.history.rbegin(); h != it->second.history.rend(); ++h) {
    const EpochMillis ts = h->start + len;
    if (ts < from) break;
    if (ts > to || !(h->present & bit(*m))) continue;
    if (index < numeric_metric_count)
      out.push_back({ts, MetricValue::count(static_cast<std::uint64_t>(h->values[index]))});
    else {
      const std::size_t slot = *m == Metric::source_ip ? 0 : *m == Metric::listening_tcp_ports ? 1
                                                         : *m == Metric::listening_udp_ports ? 2 : 3;
      if (h->sets[slot]) out.push_back({ts, *h->sets[slot]});
    }
  }
  return out;
}

}  // namespace fleetsim::local

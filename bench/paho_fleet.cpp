// paho_fleet: the reference peer for the fleet benchmarks. A fleet written the way a Paho MQTT C++ user
// would write it: one mqtt::async_client per thing (client id = thing name), connects with at most K in
// flight, then every thing publishes P bytes at R msg/s at QoS 0 or 1 for D seconds. Prints one JSON
// object with the figures run-bench compares against fleetsim's stats.json.
//
//   paho_fleet --uri tcp://127.0.0.1:1883 --things 1000 --max-connecting 100 --rate 10 --qos 0
//              --payload 200 --duration 20
//
// --rate 0 holds the connected fleet idle for --duration seconds (idle CPU, memory per connection).
// Publishes follow one global schedule: publish j (of all things) is due at t0 + j/(N*R), thing j mod N,
// so each thing publishes at exactly R msg/s with evenly spread phases. The publisher thread wakes on a
// --tick-ms grid (default 1 ms: at most 1,000 wake-ups a second, like fleetsim's worker timer, so the
// harness's own sleeping is not charged to Paho per message) and sends everything due.
// Lateness = the publish() call − its scheduled time.
// When the client cannot keep up it falls behind (lateness grows); publishes not sent by the end of the
// phase are counted as "behind_schedule". Progress lines go to stderr ("connected N" once all are in).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <mqtt/async_client.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) { return double(tv.tv_sec) + double(tv.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// A field of /proc/self/status in kB (VmRSS, VmHWM).
long proc_status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  return -1;
}

// A log-bucket histogram (32 sub-buckets per power of two, ~3%), fixed size: recording 200k latencies
// must not grow the RSS this benchmark measures.
class Histogram {
 public:
  void record(std::int64_t us) {
    if (us < 0) us = 0;
    ++buckets_[bucket_of(us)];
    ++count_;
    max_ = std::max(max_, us);
  }
  std::uint64_t count() const { return count_; }
  double percentile_ms(double p) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * double(count_)));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      seen += buckets_[b];
      if (seen >= std::max<std::uint64_t>(rank, 1)) return double(std::min(upper_edge(b), max_)) / 1000.0;
    }
    return double(max_) / 1000.0;
  }
  double max_ms() const { return double(max_) / 1000.0; }

 private:
  static constexpr int sub = 32, powers = 40;
  static std::size_t bucket_of(std::int64_t us) {
    if (us < sub) return static_cast<std::size_t>(us);
    int p = 63 - __builtin_clzll(static_cast<unsigned long long>(us));  // us in [2^p, 2^(p+1))
    auto offset = static_cast<std::size_t>((us >> (p - 5)) - sub);      // 0..31 within the power
    return std::min<std::size_t>(static_cast<std::size_t>(p - 4) * sub + offset, sub * powers - 1);
  }
  static std::int64_t upper_edge(std::size_t b) {
    if (b < sub) return static_cast<std::int64_t>(b);
    auto p = static_cast<int>(b / sub) + 4;
    auto offset = static_cast<std::int64_t>(b % sub);
    return ((sub + offset + 1) << (p - 5)) - 1;
  }
  std::array<std::uint64_t, sub * powers> buckets_{};
  std::uint64_t count_ = 0;
  std::int64_t max_ = 0;
};

nlohmann::json percentiles(const Histogram& h) {
  return {{"p50", h.percentile_ms(50)}, {"p90", h.percentile_ms(90)}, {"p99", h.percentile_ms(99)},
          {"max", h.max_ms()}, {"count", h.count()}};
}

struct Options {
  std::string uri = "tcp://127.0.0.1:1883";
  std::size_t things = 1000;
  std::size_t max_connecting = 100;
  double rate = 10;  // per thing, msg/s
  int qos = 0;
  std::size_t payload = 200;
  double duration = 20;  // publish (or idle) phase, seconds
  double drain = 5;      // wait this long after the phase for publishes still queued or unacknowledged
  std::string prefix = "paho-";
  int keep_alive = 300;
  int max_inflight = 100;  // per client, like fleetsim's 100 (AWS IoT's window)
  double tick_ms = 1;      // publisher wake-up grid
};

// Connect completions: one listener for the whole fleet; the user context carries the thing's index.
class ConnectListener final : public mqtt::iaction_listener {
 public:
  explicit ConnectListener(std::size_t n) : started_(n), finished_(n, false) {}
  void begin(std::size_t i) {
    std::lock_guard lock(mutex_);
    started_[i] = Clock::now();
    ++in_flight_;
  }
  void abandon() {  // connect() threw: no completion will come
    {
      std::lock_guard lock(mutex_);
      --in_flight_;
    }
    cv_.notify_all();
  }
  void wait_below(std::size_t k) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return in_flight_ < k; });
  }
  bool wait_all(std::size_t n, std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return ok_ + failed_ >= n; });
  }
  std::size_t ok() const { std::lock_guard lock(mutex_); return ok_; }
  std::size_t failed() const { std::lock_guard lock(mutex_); return failed_; }
  Histogram latency() const { std::lock_guard lock(mutex_); return latency_; }
  Clock::time_point last() const { std::lock_guard lock(mutex_); return last_; }
  std::size_t duplicates() const { std::lock_guard lock(mutex_); return duplicates_; }
  std::map<std::string, std::size_t> failures() const { std::lock_guard lock(mutex_); return reasons_; }

  void on_success(const mqtt::token& tok) override { done(tok, true); }
  void on_failure(const mqtt::token& tok) override { done(tok, false); }

 private:
  void done(const mqtt::token& tok, bool ok) {
    auto i = reinterpret_cast<std::uintptr_t>(tok.get_user_context());
    auto now = Clock::now();
    {
      std::lock_guard lock(mutex_);
      // Paho C++ 1.2 on Paho C 1.3 reports some completions twice (the v3 and v5 callbacks): count once.
      if (i >= finished_.size() || finished_[i]) {
        ++duplicates_;
        return;
      }
      finished_[i] = true;
      --in_flight_;
      if (ok) {
        ++ok_;
        latency_.record(std::chrono::duration_cast<std::chrono::microseconds>(now - started_[i]).count());
        last_ = now;
      } else {
        ++failed_;
        ++reasons_["rc " + std::to_string(tok.get_return_code())];
      }
    }
    cv_.notify_all();
  }
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Clock::time_point> started_;
  std::vector<bool> finished_;
  std::size_t duplicates_ = 0;
  std::size_t in_flight_ = 0, ok_ = 0, failed_ = 0;
  Histogram latency_;
  Clock::time_point last_{};
  std::map<std::string, std::size_t> reasons_;
};

// Publish completions for the whole fleet: written to the socket (QoS 0) or acknowledged (QoS 1).
class PublishListener final : public mqtt::iaction_listener {
 public:
  void on_success(const mqtt::token&) override { done.fetch_add(1, std::memory_order_relaxed); }
  void on_failure(const mqtt::token&) override { failed.fetch_add(1, std::memory_order_relaxed); }
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
};

// Shared by every client: QoS 1 acks (delivery_complete) and lost connections.
class FleetCallback final : public mqtt::callback {
 public:
  void delivery_complete(mqtt::delivery_token_ptr) override { acks.fetch_add(1, std::memory_order_relaxed); }
  void connection_lost(const std::string&) override { lost.fetch_add(1, std::memory_order_relaxed); }
  std::atomic<std::uint64_t> acks{0};
  std::atomic<std::uint64_t> lost{0};
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("A Paho MQTT C++ fleet: the reference peer of fleetsim's benchmarks");
  app.add_option("--uri", o.uri, "Broker URI")->capture_default_str();
  app.add_option("--things", o.things, "Number of things (one async_client each)")->capture_default_str();
  app.add_option("--max-connecting", o.max_connecting, "Connects in flight at once")->capture_default_str();
  app.add_option("--rate", o.rate, "Publishes per second per thing (0: stay idle)")->capture_default_str();
  app.add_option("--qos", o.qos, "QoS of the publishes (0 or 1)")->check(CLI::Range(0, 1))->capture_default_str();
  app.add_option("--payload", o.payload, "Payload bytes")->capture_default_str();
  app.add_option("--duration", o.duration, "Seconds of publishing (or idling) after all are connected")->capture_default_str();
  app.add_option("--drain", o.drain, "Seconds to wait after the phase for publishes still queued (QoS 0) or unacknowledged (QoS 1)")
      ->capture_default_str();
  app.add_option("--prefix", o.prefix, "Thing name prefix (names are PREFIX00001...)")->capture_default_str();
  app.add_option("--keep-alive", o.keep_alive, "MQTT keep-alive, seconds")->capture_default_str();
  app.add_option("--max-inflight", o.max_inflight, "Unacknowledged QoS 1 publishes per client")->capture_default_str();
  app.add_option("--tick-ms", o.tick_ms, "Publisher wake-up grid in ms (0: wake for every publish)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const auto t_process = Clock::now();
  const long rss_start = proc_status_kb("VmRSS");
  auto name_of = [&](std::size_t i) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%05zu", i + 1);
    return o.prefix + buf;
  };

  // Create every client (no persistence: nothing on disk, like fleetsim).
  FleetCallback callback;
  std::vector<std::unique_ptr<mqtt::async_client>> clients;
  clients.reserve(o.things);
  auto create_opts = mqtt::create_options(MQTTVERSION_3_1_1);
  for (std::size_t i = 0; i < o.things; ++i) {
    clients.push_back(std::make_unique<mqtt::async_client>(o.uri, name_of(i), create_opts, nullptr));
    clients.back()->set_callback(callback);
  }
  const double create_seconds = seconds_since(t_process);
  const double cpu_created = cpu_seconds();

  // Connect, at most K in flight.
  auto conn_opts = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_3_1_1)
                       .clean_session(true)
                       .keep_alive_interval(std::chrono::seconds(o.keep_alive))
                       .connect_timeout(std::chrono::seconds(15))
                       .automatic_reconnect(false)
                       .finalize();
  conn_opts.set_max_inflight(o.max_inflight);
  ConnectListener connects(o.things);
  const auto t_connect = Clock::now();
  std::size_t connect_throws = 0;
  for (std::size_t i = 0; i < o.things; ++i) {
    connects.wait_below(o.max_connecting);
    connects.begin(i);
    try {
      clients[i]->connect(conn_opts, reinterpret_cast<void*>(static_cast<std::uintptr_t>(i)), connects);
    } catch (const mqtt::exception&) {
      ++connect_throws;
      connects.abandon();
    }
  }
  bool all_done = connects.wait_all(o.things - connect_throws, std::chrono::seconds(180));
  const double connect_seconds = std::chrono::duration<double>(connects.last() - t_connect).count();
  const double cpu_connected = cpu_seconds();
  const long rss_connected = proc_status_kb("VmRSS");
  std::cerr << "connected " << connects.ok() << " of " << o.things << " in " << connect_seconds << " s"
            << (all_done ? "" : " (timed out waiting for the rest)") << std::endl;

  // Publish (or idle) phase.
  std::string payload(o.payload, 'x');
  std::vector<std::string> topics;
  topics.reserve(o.things);
  for (std::size_t i = 0; i < o.things; ++i) topics.push_back("bench/" + name_of(i) + "/telemetry");
  Histogram lateness;
  PublishListener completions;
  std::uint64_t published = 0, behind = 0;
  std::map<std::string, std::uint64_t> publish_errors;
  std::uint64_t publish_error_count = 0;
  const auto t_phase = Clock::now();
  const auto phase_len = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
  std::size_t connected_count = connects.ok();
  if (o.rate > 0 && connected_count > 0) {
    const double total_rate = o.rate * double(o.things);
    const auto planned = static_cast<std::uint64_t>(total_rate * o.duration);
    std::uint64_t j = 0;
    const auto tick = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(o.tick_ms));
    auto due = [&](std::uint64_t k) {
      return t_phase + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(double(k) / total_rate));
    };
    while (j < planned) {
      auto now = Clock::now();
      if (now >= t_phase + phase_len) break;
      auto next = due(j);
      if (now < next) {
        if (tick.count() > 0) next = t_phase + ((next - t_phase + tick - Clock::duration(1)) / tick) * tick;
        std::this_thread::sleep_until(next);
        now = Clock::now();
      }
      // Stop at the end of the phase even when publish() itself is what is behind.
      for (; j < planned && due(j) <= now && now < t_phase + phase_len; ++j, now = Clock::now()) {
        try {
          clients[j % o.things]->publish(topics[j % o.things], payload.data(), payload.size(), o.qos, false, nullptr,
                                         completions);
          ++published;
          lateness.record(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - due(j)).count());
        } catch (const mqtt::exception& e) {
          ++publish_error_count;
          ++publish_errors[e.get_error_str().empty() ? "rc " + std::to_string(e.get_return_code()) : e.get_error_str()];
        }
      }
    }
    behind = planned - j;
  } else {
    std::this_thread::sleep_for(phase_len);
  }
  const double phase_seconds = seconds_since(t_phase);
  const double cpu_phase_end = cpu_seconds();
  const long rss_phase_end = proc_status_kb("VmRSS");
  // Publishes Paho still holds: queued but not yet written (QoS 0), or not yet acknowledged (QoS 1).
  // Without this wait, the exit below would drop what Paho had not written yet.
  {
    auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.drain));
    while (completions.done.load() + completions.failed.load() < published && Clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double cpu_end = cpu_seconds();

  nlohmann::json errors_by_kind = nlohmann::json::object();
  for (const auto& [k, v] : publish_errors) errors_by_kind[k] = v;
  for (const auto& [k, v] : connects.failures()) errors_by_kind["connect " + k] = v;
  nlohmann::json out = {
      {"client", "paho-mqttpp3 (Paho MQTT C++ async_client)"},
      {"things", o.things},
      {"qos", o.qos},
      {"rate_per_thing", o.rate},
      {"payload_bytes", o.payload},
      {"phase_seconds", phase_seconds},
      {"create_seconds", create_seconds},
      {"connect",
       {{"seconds_all", connect_seconds},
        {"connected", connects.ok()},
        {"failed", connects.failed() + connect_throws},
        {"duplicate_completions", connects.duplicates()},
        {"latency_ms", percentiles(connects.latency())}}},
      {"planned", static_cast<std::uint64_t>(o.rate * double(o.things) * o.duration)},
      {"published", published},
      {"publish_rate_per_s", phase_seconds > 0 ? double(published) / phase_seconds : 0},
      {"behind_schedule", behind},
      {"acks", o.qos == 1 ? nlohmann::json(callback.acks.load()) : nlohmann::json(nullptr)},
      {"completed", completions.done.load()},  // written (QoS 0) or acknowledged (QoS 1) by the end of the drain
      {"publish_failures", completions.failed.load()},
      {"connections_lost", callback.lost.load()},
      {"errors", publish_error_count + completions.failed.load() + connects.failed() + connect_throws + callback.lost.load()},
      {"errors_by_kind", errors_by_kind},
      {"lateness_ms", percentiles(lateness)},
      {"cpu_seconds",
       {{"total", cpu_end},
        {"create", cpu_created},
        {"connect", cpu_connected - cpu_created},
        {"phase", cpu_phase_end - cpu_connected},
        {"drain", cpu_end - cpu_phase_end}}},
      {"cpu_us_per_msg", published ? (cpu_phase_end - cpu_connected) * 1e6 / double(published) : 0.0},
      {"rss_kb",
       {{"start", rss_start}, {"connected", rss_connected}, {"phase_end", rss_phase_end}, {"peak", proc_status_kb("VmHWM")}}},
  };
  std::cout << out.dump(2) << std::endl;
  // Skip the orderly teardown of thousands of clients: the benchmark's figures are out, and the broker
  // is restarted between runs. (Paho's destructors disconnect one by one, which takes minutes at 10k.)
  std::fflush(nullptr);
  std::_Exit(connects.ok() == 0 ? 3 : 0);
}

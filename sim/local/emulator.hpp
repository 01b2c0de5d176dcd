#pragma once
// The local emulator, assembled: the REST API server, the MQTT broker that checks identities and policies
// against the API's registry, the metric recorder fed by the broker, and the detector that turns each
// closed window into training progress and violations, written into the API's state. One clock (scenario
// time) for all of it, shared with the fleet when embedded in `fleetsim run`.
//
//   auto emulator = Emulator::create({.state_dir = "state", .clock = &clock});
//   (*emulator)->start();            // API and broker on free loopback ports, evaluation thread
//   ... aws --endpoint-url (*emulator)->api_url() ...; things connect to (*emulator)->mqtt_url()
//   (*emulator)->stop();             // evaluates the windows that have closed, snapshots the state
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "sim/core/clock.hpp"
#include "sim/core/expected.hpp"
#include "sim/core/time.hpp"

namespace fleetsim::local {

class ApiServer;
class Broker;
class MetricsRecorder;

struct EmulatorOptions {
  std::filesystem::path state_dir;       ///< "" keeps everything in memory
  std::filesystem::path ca_dir = "certs/local";  ///< the local CA (created on first use, key 0600)
  std::string address = "127.0.0.1";
  std::uint16_t api_port = 0;            ///< 0: a free port
  std::uint16_t mqtt_port = 0;           ///< 0: a free port
  bool api_tls = false;                  ///< HTTPS for the API (the broker is always mutual TLS)
  unsigned broker_threads = 1;
  const Clock* clock = nullptr;          ///< scenario time (null: the system clock)
  bool durable = false;                  ///< fsync each API change (standalone: true)
  std::string region = "us-east-1";
  std::string account_id = "123456789012";
  /// Lines worth a user's attention (refused connections, TLS failures, journal errors); null: silent.
  std::function<void(const std::string&)> log;
  // The detector (the scenario's local_detector section).
  Millis window{300'000};
  Millis training{3'600'000};
  std::uint64_t min_datapoints = 100;
  Millis invalidate_after{2LL * 86'400'000};
  // Broker limits (AWS IoT Core's by default).
  std::size_t max_payload = 128 * 1024;
  double publishes_per_second = 100;
  double connects_per_client_id_per_second = 1;
};

class Emulator {
 public:
  static Expected<std::unique_ptr<Emulator>> create(EmulatorOptions options);
  ~Emulator();  ///< stop()
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  /// Starts the API server, the broker and the evaluation thread (one evaluation per closed window).
  Expected<std::monostate> start();
  /// Evaluates every window that has closed by now, stops the broker and the API, snapshots the state.
  void stop();
  /// Closes the windows that ended by `now` and runs the detector over them (the evaluation thread calls
  /// this at every window boundary; tests and the end of a run call it directly). Returns events written.
  std::size_t evaluate(EpochMillis now);
  /// The traffic ends at `at` (a fleet run's end): no window that ends later is ever evaluated, since its
  /// datapoints would be partial and every thing would look silent. Call it again with an earlier
  /// instant when the run stops early.
  void traffic_ends(EpochMillis at);

  std::string api_url() const;      ///< for --endpoint-url
  std::string mqtt_url() const;     ///< mqtts://127.0.0.1:PORT
  std::uint16_t api_port() const;
  std::uint16_t mqtt_port() const;
  std::filesystem::path ca_file() const;  ///< the CA that signed the broker's (and API's) certificates
  ApiServer& api();
  Broker& broker();
  MetricsRecorder& metrics();

 private:
  struct Core;
  explicit Emulator(std::unique_ptr<Core> core);
  std::unique_ptr<Core> core_;
};

}  // namespace fleetsim::local

#pragma once
// An independent MQTT client (Eclipse Paho C++) that watches the broker from the outside: what a
// fleet really delivered, by topic, with arrival times, sizes and (for small messages) payloads.
#include <mqtt/async_client.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace fleetsim::test {

struct Observed {
  std::int64_t wall_ms;  ///< arrival, system clock
  std::string topic;
  std::size_t size;
  std::string payload;   ///< kept when at most 64 KiB
};

class Observer {
 public:
  /// Connects (TLS when `ca_file` is set, with `cert`/`key` as its identity) and subscribes to `filters`.
  Observer(const std::string& host_port, const std::vector<std::string>& filters, const std::string& ca_file = {},
           const std::string& cert = {}, const std::string& key = {});
  ~Observer();
  std::vector<Observed> snapshot() const;
  std::size_t count() const;

 private:
  std::unique_ptr<mqtt::async_client> client_;
  mutable std::mutex mutex_;
  std::vector<Observed> seen_;
};

}  // namespace fleetsim::test

#pragma once
// A small valid scenario for tests to start from and vary.
#include <string>

namespace fleetsim::test {

inline std::string minimal_scenario(const std::string& extra = {}) {
  return R"(version: 1
name: tiny
seed: 7
clock: {time_scale: 60, duration: 3h}
fleet:
  - group: sensors
    count: 10
    thing_name: s-{index:02}
    topics: {telemetry: "dt/{thing}/t", commands: "cmd/{thing}"}
    baseline:
      publish: {topic: telemetry, rate: 12/min, payload: 256B}
      receive: {topic: commands, rate: 1/min}
      device_metrics: {every: 5m, listening_tcp_ports: [22]}
)" + extra;
}

}  // namespace fleetsim::test

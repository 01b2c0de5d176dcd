#pragma once
// `fleetsim run` with the local target: the emulator in-process on free loopback ports, provisioned
// through the same client code `provision` uses against AWS, the fleet on the emulator's clock.
#include "sim/fleet/engine.hpp"
#include "sim/scenario/model.hpp"

namespace fleetsim::cli {

/// Runs the scenario against an embedded emulator; the run directory also gets the emulator's state
/// (emulator/), the things' certificates (certs/) and every violation event (violations.jsonl).
int run_embedded(scenario::Scenario s, fleet::RunOptions run);

}  // namespace fleetsim::cli

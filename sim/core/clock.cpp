#include "sim/core/clock.hpp"

#include <cmath>

namespace fleetsim {

EpochMillis SystemClock::now() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

ScaledClock::ScaledClock(EpochMillis scenario_start, double scale, RealSource real)
    : scenario_start_(scenario_start), scale_(scale), real_(std::move(real)), real_start_(real_()) {}

EpochMillis ScaledClock::now() const {
  auto real_elapsed = std::chrono::duration<double, std::milli>(real_() - real_start_).count();
  return scenario_start_ + static_cast<EpochMillis>(std::floor(real_elapsed * scale_));
}

std::chrono::nanoseconds ScaledClock::real_until(EpochMillis t) const {
  auto real_target = real_start_ + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::duration<double, std::milli>((t - scenario_start_) / scale_));
  auto left = real_target - real_();
  return left.count() > 0 ? left : std::chrono::nanoseconds(0);
}

}  // namespace fleetsim

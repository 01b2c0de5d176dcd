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
  // The small epsilon keeps now() >= t after sleeping real_until(t), despite floating-point rounding.
  return scenario_start_ + static_cast<EpochMillis>(std::floor(real_elapsed * scale_ + 1e-6));
}

std::chrono::nanoseconds ScaledClock::real_until(EpochMillis t) const {
  // Rounded up, so that waiting this long always reaches `t`.
  auto nanos = static_cast<std::int64_t>(std::ceil(static_cast<double>(t - scenario_start_) * 1e6 / scale_));
  auto real_target = real_start_ + std::chrono::nanoseconds(nanos);
  auto left = real_target - real_();
  return left.count() > 0 ? left : std::chrono::nanoseconds(0);
}

}  // namespace fleetsim

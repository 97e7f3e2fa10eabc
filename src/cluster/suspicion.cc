#include "cluster/suspicion.h"

#include <algorithm>
#include <cmath>

namespace rpcnet::cluster {

Duration suspicion_timeout_min(int suspicion_mult, std::size_t n, Duration probe_interval) {
  const double node_scale = std::max(1.0, std::log10(std::max(1.0, static_cast<double>(n))));
  // memberlist rounds the scaled value to whole milliseconds.
  const double ms = suspicion_mult * node_scale *
                    std::chrono::duration<double, std::milli>(probe_interval).count();
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::size_t retransmit_limit(int retransmit_mult, std::size_t n) {
  const double node_scale = std::max(2.0, std::ceil(std::log10(static_cast<double>(n) + 1.0)));
  return static_cast<std::size_t>(retransmit_mult * node_scale);
}

Duration push_pull_scale(Duration interval, std::size_t n) {
  constexpr std::size_t kThreshold = 32;
  if (n <= kThreshold) return interval;
  const double multiplier =
      std::ceil(std::log2(static_cast<double>(n)) - std::log2(static_cast<double>(kThreshold))) + 1.0;
  return Duration(static_cast<Duration::rep>(multiplier * static_cast<double>(interval.count())));
}

int suspicion_confirmations_needed(int suspicion_mult, std::size_t n) {
  const int k = suspicion_mult - 2;
  if (k < 0 || static_cast<long long>(n) - 2 < k) return 0;
  return k;
}

Duration suspicion_timeout(std::size_t confirmations, int k, Duration min, Duration max) {
  if (k < 1 || max <= min) return min;
  const double frac = std::log(static_cast<double>(confirmations) + 1.0) / std::log(static_cast<double>(k) + 1.0);
  const double raw = static_cast<double>(max.count()) - frac * static_cast<double>((max - min).count());
  // Whole milliseconds, as memberlist (and its golden test vectors) compute it.
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Duration(static_cast<Duration::rep>(raw)));
  return std::max<Duration>(min, ms);
}

bool Suspicion::confirm(const std::string& from) {
  if (k_ < 1 || confirmers_.size() >= static_cast<std::size_t>(k_)) return false;
  if (from == originator_) return false;
  return confirmers_.insert(from).second;
}

}  // namespace rpcnet::cluster

// The hedge delay from a window of attempt latencies (see rpcnet/cluster/hedge_policy.h).
#include "rpcnet/cluster/hedge_policy.h"

#include <algorithm>
#include <cmath>

namespace rpcnet::cluster {

AttemptOutcome attempt_outcome(const RpcError& error) noexcept {
  const bool cancelled_here = error.kind() == ErrorKind::kCall && error.code() == StatusCode::kCancelled;
  return cancelled_here ? AttemptOutcome::kAbandoned : AttemptOutcome::kFailed;
}

HedgePolicy::HedgePolicy(std::optional<double> percentile, std::chrono::nanoseconds min_delay) noexcept
    : min_delay_(min_delay) {
  if (percentile && !std::isnan(*percentile)) percentile_ = std::clamp(*percentile, 0.0, 1.0);
  window_.reserve(kWindow);
}

void HedgePolicy::on_attempt_ended(std::chrono::nanoseconds latency, AttemptOutcome outcome) {
  if (outcome == AttemptOutcome::kAbandoned) return;
  if (window_.size() < kWindow) {
    window_.push_back(latency);
    return;
  }
  window_[next_] = latency;
  next_ = (next_ + 1) % kWindow;
}

std::optional<std::chrono::nanoseconds> HedgePolicy::delay() const {
  if (!percentile_ || window_.size() < kMinSamples) return std::nullopt;
  std::vector<std::chrono::nanoseconds> sorted = window_;
  const auto index = static_cast<std::size_t>(*percentile_ * static_cast<double>(sorted.size() - 1));
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(index), sorted.end());
  return std::max(sorted[index], min_delay_);
}

}  // namespace rpcnet::cluster

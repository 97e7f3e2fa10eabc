// rpcnet/cluster/hedge_policy.h — how long a hedged call waits before its second attempt.
//
// Contract: sans-I/O arithmetic; ClusterClient reports every attempt that ended and asks for the
// delay when a hedged call starts.
//   - Every attempt that ran to an end adds its own latency to a window of the last kWindow:
//     successes AND failures (an error status, a broken connection, an attempt timeout). In a
//     brownout calls fail slowly; a window of successes alone would keep the delay at the
//     fast-success percentile and hedge almost every call, doubling the load on a cluster that
//     is already struggling.
//   - An abandoned attempt (kAbandoned: the caller cancelled it, or the other attempt of its
//     hedge won) adds nothing: its latency only says "at least this long".
//   - delay() is sorted[floor(percentile × (n − 1))] of the n latencies in the window, never
//     below min_delay; nullopt (do not hedge) with no percentile configured or while the window
//     holds fewer than kMinSamples — a percentile of a handful of samples is noise.
//   - The delay only says when a hedge may fire. Whether it does is the retry budget's call
//     (retry_policy.h): ClusterClient withdraws a token at that moment and sends no hedge when
//     the budget is empty, so hedges and retries together stay within one budget.
//
// Example (fragment):
//   HedgePolicy hedging(/*percentile=*/0.95, /*min_delay=*/1ms);
//   hedging.on_attempt_ended(latency, AttemptOutcome::kFailed);
//   if (auto delay = hedging.delay()) { ... after *delay, if budget.try_withdraw(now), hedge ... }
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "rpcnet/error.h"

namespace rpcnet::cluster {

enum class AttemptOutcome : std::uint8_t {
  kSucceeded,
  kFailed,     // ended with an error of its own (status, connection, timeout, ...)
  kAbandoned,  // cancelled on this side before it ended
};

// kAbandoned for a cancellation on this side (kind kCall, code kCancelled), kFailed for anything
// else.
AttemptOutcome attempt_outcome(const RpcError& error) noexcept;

class HedgePolicy {
 public:
  static constexpr std::size_t kWindow = 256;
  static constexpr std::size_t kMinSamples = 16;

  // `percentile` in [0, 1] (clamped); nullopt (or NaN) disables hedging.
  HedgePolicy(std::optional<double> percentile, std::chrono::nanoseconds min_delay) noexcept;

  void on_attempt_ended(std::chrono::nanoseconds latency, AttemptOutcome outcome);
  std::optional<std::chrono::nanoseconds> delay() const;
  std::size_t samples() const noexcept { return window_.size(); }

 private:
  std::optional<double> percentile_;
  std::chrono::nanoseconds min_delay_;
  std::vector<std::chrono::nanoseconds> window_;  // ring buffer once full
  std::size_t next_ = 0;                          // the oldest sample, overwritten next
};

}  // namespace rpcnet::cluster

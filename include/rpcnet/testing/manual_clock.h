// rpcnet/testing/manual_clock.h — a clock that moves only when the test moves it.
//
// Contract: now() returns the last value set; advance(d) moves it forward by d (d < 0 is
// refused with INVALID_ARGUMENT); set(t) jumps to t unless t lies in the past (INVALID_ARGUMENT) (a steady clock never goes backwards,
// and protocol cores rely on that). Time points are std::chrono::steady_clock::time_point, the
// type every sans-I/O core in rpcnet takes as its injected `now`. The default start is one hour
// after the steady-clock epoch, so `now - some_interval` never underflows the epoch in tests.
// Not thread-safe: a simulation is single-threaded by design.
//
// Example:
//   template <class Core>  // a sans-I/O core: on_timer(now) runs what is due at `now`
//   void half_a_second_later(Core& core) {
//     rpcnet::testing::ManualClock clock;
//     core.on_timer(clock.now());
//     (void)clock.advance(std::chrono::milliseconds(500));
//     core.on_timer(clock.now());
//   }
#pragma once

#include <chrono>

#include "rpcnet/result.h"

namespace rpcnet::testing {

class ManualClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::nanoseconds;

  static constexpr time_point kDefaultStart = time_point{} + std::chrono::hours(1);

  explicit ManualClock(time_point start = kDefaultStart) : now_(start) {}

  time_point now() const { return now_; }

  // Fails (and leaves the clock alone) for a negative step.
  Result<void> advance(duration d) {
    if (d < duration::zero()) return RpcError::status(StatusCode::kInvalidArgument, "a steady clock cannot step back");
    now_ += d;
    return ok();
  }

  // Fails (and leaves the clock alone) when t is earlier than now().
  Result<void> set(time_point t) {
    if (t < now_) return RpcError::status(StatusCode::kInvalidArgument, "a steady clock cannot go back in time");
    now_ = t;
    return ok();
  }

 private:
  time_point now_;
};

}  // namespace rpcnet::testing

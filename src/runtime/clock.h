// The clock every I/O driver reads: the real monotonic clock, or a virtual timeline in tests.
// Sans-I/O cores take `now` as a parameter; drivers (connections, endpoints, deadline queues,
// the server's shutdown) hold a Clock and ask it. A default Clock is the real one and costs a
// null check over steady_clock::now(); a Clock on a VirtualTimeline (timer.h) reads the
// timeline, which moves only when its driver (testing::InMemoryNetwork) moves it.
#pragma once

#include <chrono>
#include <cstdint>

namespace rpcnet::runtime {

using SteadyTime = std::chrono::steady_clock::time_point;

inline SteadyTime steady_now() noexcept { return std::chrono::steady_clock::now(); }

inline std::uint64_t to_monotonic_ns(SteadyTime t) noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// Nanoseconds on the steady clock (CLOCK_MONOTONIC), the timestamp unit ngtcp2 expects.
inline std::uint64_t monotonic_ns() noexcept { return to_monotonic_ns(steady_now()); }

inline SteadyTime from_monotonic_ns(std::uint64_t ns) noexcept {
  return SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(std::chrono::nanoseconds(ns)));
}

class VirtualTimeline;
SteadyTime virtual_now(const VirtualTimeline& timeline) noexcept;  // timer.cc

class Clock {
 public:
  Clock() noexcept = default;  // the real steady clock
  explicit Clock(VirtualTimeline* timeline) noexcept : timeline_(timeline) {}

  SteadyTime now() const noexcept {
    return timeline_ == nullptr ? steady_now() : virtual_now(*timeline_);
  }
  std::uint64_t now_ns() const noexcept { return to_monotonic_ns(now()); }
  // The timeline timers of this clock wait on; null for the real clock.
  VirtualTimeline* timeline() const noexcept { return timeline_; }

 private:
  VirtualTimeline* timeline_ = nullptr;
};

}  // namespace rpcnet::runtime

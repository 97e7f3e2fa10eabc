// The real monotonic clock. Only src/runtime and the I/O drivers read it; sans-I/O cores take
// `now` as a parameter.
#pragma once

#include <chrono>
#include <cstdint>

namespace rpcnet::runtime {

using SteadyTime = std::chrono::steady_clock::time_point;

inline SteadyTime steady_now() noexcept { return std::chrono::steady_clock::now(); }

// Nanoseconds on the steady clock (CLOCK_MONOTONIC), the timestamp unit ngtcp2 expects.
inline std::uint64_t monotonic_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(steady_now().time_since_epoch())
          .count());
}

inline SteadyTime from_monotonic_ns(std::uint64_t ns) noexcept {
  return SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace rpcnet::runtime

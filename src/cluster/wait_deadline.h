// The deadline of a wait given as a timeout, saturating: EventHub::kForever (or any timeout past
// the clock's range) waits for ever instead of overflowing into the past.
#pragma once

#include <chrono>

namespace rpcnet::cluster::detail {

inline std::chrono::steady_clock::time_point wait_deadline(std::chrono::milliseconds timeout) {
  const auto now = std::chrono::steady_clock::now();
  if (timeout <= std::chrono::milliseconds::zero()) return now;
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::time_point::max() - now);
  if (timeout >= room) return std::chrono::steady_clock::time_point::max();
  return now + timeout;
}

}  // namespace rpcnet::cluster::detail

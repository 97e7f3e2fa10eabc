// MemoryBudget: what one peer's connection may make us hold, in bytes.
//
// Counted against it: data the peer sent that the application has not read yet (stream receive
// queues), call headers and metadata of calls in progress, partially decoded and decoded but
// unconsumed messages (the RPC layer's call cores), and response bytes queued but not yet handed
// to QUIC. Not counted, because QUIC flow control already bounds it: data inside ngtcp2 that is
// not yet delivered in order (reassembly). The connection's receive window ceiling is derived
// from the budget (TransportSettings::receive_window_ceiling) so that part stays below half of it.
//
// Whoever needs more than the budget allows resets the stream that asked, with
// RESOURCE_EXHAUSTED; Connection::note_budget_reset closes a connection that keeps doing it.
// Loop-local, like the connection that owns it.
#pragma once

#include <algorithm>
#include <cstddef>

namespace rpcnet::transport {

class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t limit) noexcept : limit_(limit) {}

  // Charges `bytes` if they fit; false (and nothing charged) if they do not.
  [[nodiscard]] bool try_charge(std::size_t bytes) noexcept {
    if (bytes > limit_ - std::min(used_, limit_)) return false;
    used_ += bytes;
    return true;
  }
  void release(std::size_t bytes) noexcept { used_ -= std::min(used_, bytes); }

  std::size_t used() const noexcept { return used_; }
  std::size_t limit() const noexcept { return limit_; }

 private:
  std::size_t limit_;
  std::size_t used_ = 0;
};

}  // namespace rpcnet::transport

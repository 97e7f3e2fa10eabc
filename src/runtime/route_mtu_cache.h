// Route MTUs remembered per destination address for a few seconds.
//
// A new QUIC connection asks for the MTU of the route to its peer (it bounds path-MTU discovery
// and decides whether large datagrams are safe; quic/udp_payload.h). Asking the kernel costs a
// UDP socket of its own, a connect, a getsockopt and a close (runtime::route_mtu), paid again by
// every connection to the same host, and by a server for every connection it accepts;
// remembering the answer took about 40 µs off a loopback connect + first call
// (doc/performance.md). Routes change rarely, and a stale answer costs little: too large, the
// probes the path cannot carry are lost and discovery settles below them; too small, discovery
// stops short until the entry expires. So an answer is kept for `ttl` per destination address
// (the port does not choose the route). A failed probe (no route) is not kept. Bounded: when
// full, the oldest entry goes. Thread-safe.
//
// Example:
//   RouteMtuCache cache(route_mtu);
//   std::optional<std::size_t> mtu = cache.lookup(peer, std::chrono::steady_clock::now());
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "rpcnet/thread_annotations.h"

namespace rpcnet::runtime {

class RouteMtuCache {
 public:
  using Probe = std::function<std::optional<std::size_t>(const sockaddr*)>;
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kDefaultCapacity = 256;
  static constexpr Clock::duration kDefaultTtl = std::chrono::seconds(10);

  explicit RouteMtuCache(Probe probe, std::size_t capacity = kDefaultCapacity, Clock::duration ttl = kDefaultTtl);

  // The route MTU to `address` (AF_INET or AF_INET6; anything else is probed, never kept): the
  // remembered one if probed less than `ttl` before `now`, otherwise probed now.
  std::optional<std::size_t> lookup(const sockaddr* address, Clock::time_point now);

  std::size_t size() const;

 private:
  struct Entry {
    std::string destination;  // family and address bytes
    std::size_t mtu = 0;
    Clock::time_point probed;
  };

  const Probe probe_;
  const std::size_t capacity_;
  const Clock::duration ttl_;
  mutable Mutex mutex_;
  std::vector<Entry> entries_ RPCNET_GUARDED_BY(mutex_);
};

// runtime::route_mtu through one process-wide RouteMtuCache: what connections use.
std::optional<std::size_t> cached_route_mtu(const sockaddr* address);

}  // namespace rpcnet::runtime

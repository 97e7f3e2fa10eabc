#include "runtime/route_mtu_cache.h"

#include <netinet/in.h>

#include <algorithm>

#include "runtime/udp_socket.h"

namespace rpcnet::runtime {

namespace {

// The destination's family and address bytes; empty for a family without routes we know.
std::string destination_of(const sockaddr* address) {
  std::string key(1, static_cast<char>(address->sa_family));
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    key.append(reinterpret_cast<const char*>(&in->sin_addr), sizeof in->sin_addr);
    return key;
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    key.append(reinterpret_cast<const char*>(&in6->sin6_addr), sizeof in6->sin6_addr);
    // A link-local address names a route only together with its interface.
    key.append(reinterpret_cast<const char*>(&in6->sin6_scope_id), sizeof in6->sin6_scope_id);
    return key;
  }
  return {};
}

}  // namespace

RouteMtuCache::RouteMtuCache(Probe probe, std::size_t capacity, Clock::duration ttl)
    : probe_(std::move(probe)), capacity_(std::max<std::size_t>(capacity, 1)), ttl_(ttl) {}

std::optional<std::size_t> RouteMtuCache::lookup(const sockaddr* address, Clock::time_point now) {
  std::string destination = destination_of(address);
  if (destination.empty()) return probe_(address);
  {
    MutexLock lock(mutex_);
    const auto found = std::find_if(entries_.begin(), entries_.end(),
                                    [&](const Entry& entry) { return entry.destination == destination; });
    if (found != entries_.end()) {
      if (now - found->probed < ttl_) return found->mtu;
      entries_.erase(found);
    }
  }
  // Probed outside the lock: a system call's worth of time, and two loops asking for the same
  // destination at once both probe, which is harmless.
  const std::optional<std::size_t> mtu = probe_(address);
  if (!mtu) return mtu;
  MutexLock lock(mutex_);
  std::erase_if(entries_, [&](const Entry& entry) { return entry.destination == destination; });
  if (entries_.size() >= capacity_) {
    entries_.erase(std::min_element(entries_.begin(), entries_.end(),
                                    [](const Entry& a, const Entry& b) { return a.probed < b.probed; }));
  }
  entries_.push_back(Entry{std::move(destination), *mtu, now});
  return mtu;
}

std::size_t RouteMtuCache::size() const {
  MutexLock lock(mutex_);
  return entries_.size();
}

std::optional<std::size_t> cached_route_mtu(const sockaddr* address) {
  // Never destroyed: an event loop still running during exit may open a connection.
  static RouteMtuCache* const cache = new RouteMtuCache(route_mtu);
  return cache->lookup(address, RouteMtuCache::Clock::now());
}

}  // namespace rpcnet::runtime

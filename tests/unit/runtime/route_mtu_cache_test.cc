// RouteMtuCache (src/runtime/route_mtu_cache.h): one probe per destination address within the
// TTL, whatever the port; failures and unknown families never kept; bounded, oldest first out.
#include "runtime/route_mtu_cache.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "runtime/udp_socket.h"

namespace rpcnet::runtime {
namespace {

using Clock = RouteMtuCache::Clock;
using std::chrono::seconds;

const Clock::time_point kStart = Clock::time_point(std::chrono::hours(1));

sockaddr_in v4(const char* address, std::uint16_t port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  inet_pton(AF_INET, address, &in.sin_addr);
  return in;
}

sockaddr_in6 v6(const char* address, std::uint32_t scope = 0) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(443);
  in6.sin6_scope_id = scope;
  inet_pton(AF_INET6, address, &in6.sin6_addr);
  return in6;
}

const sockaddr* raw(const auto& address) { return reinterpret_cast<const sockaddr*>(&address); }

// Answers `mtu` (nullopt: no route) and counts the probes.
struct FakeProbe {
  std::optional<std::size_t> mtu = 1500;
  int probes = 0;
  RouteMtuCache::Probe function() {
    return [this](const sockaddr*) {
      ++probes;
      return mtu;
    };
  }
};

TEST(RouteMtuCache, ProbesADestinationOnceWithinTheTtlWhateverThePort) {
  FakeProbe probe;
  RouteMtuCache cache(probe.function(), 8, seconds(10));
  EXPECT_EQ(cache.lookup(raw(v4("10.0.0.1", 4433)), kStart), 1500u);
  probe.mtu = 9000;  // the route changed: not seen until the entry expires
  EXPECT_EQ(cache.lookup(raw(v4("10.0.0.1", 5000)), kStart + seconds(9)), 1500u);
  EXPECT_EQ(probe.probes, 1);
  EXPECT_EQ(cache.lookup(raw(v4("10.0.0.1", 4433)), kStart + seconds(10)), 9000u);
  EXPECT_EQ(probe.probes, 2);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(RouteMtuCache, DifferentAddressesAndFamiliesAreDifferentDestinations) {
  FakeProbe probe;
  RouteMtuCache cache(probe.function(), 8, seconds(10));
  cache.lookup(raw(v4("10.0.0.1", 1)), kStart);
  cache.lookup(raw(v4("10.0.0.2", 1)), kStart);
  cache.lookup(raw(v6("::ffff:10.0.0.1")), kStart);
  cache.lookup(raw(v6("fe80::1", 2)), kStart);
  cache.lookup(raw(v6("fe80::1", 3)), kStart);  // same link-local address, another interface
  EXPECT_EQ(probe.probes, 5);
  EXPECT_EQ(cache.size(), 5u);
  cache.lookup(raw(v6("fe80::1", 3)), kStart);
  EXPECT_EQ(probe.probes, 5);
}

TEST(RouteMtuCache, NoRouteIsAskedAgainNextTime) {
  FakeProbe probe;
  probe.mtu = std::nullopt;
  RouteMtuCache cache(probe.function(), 8, seconds(10));
  EXPECT_FALSE(cache.lookup(raw(v4("192.0.2.1", 1)), kStart).has_value());
  EXPECT_FALSE(cache.lookup(raw(v4("192.0.2.1", 1)), kStart).has_value());
  EXPECT_EQ(probe.probes, 2);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(RouteMtuCache, AnAddressOfAnotherFamilyIsProbedAndNeverKept) {
  FakeProbe probe;
  RouteMtuCache cache(probe.function(), 8, seconds(10));
  sockaddr_un unix_address{};
  unix_address.sun_family = AF_UNIX;
  cache.lookup(raw(unix_address), kStart);
  cache.lookup(raw(unix_address), kStart);
  EXPECT_EQ(probe.probes, 2);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(RouteMtuCache, WhenFullTheOldestProbeGoes) {
  FakeProbe probe;
  RouteMtuCache cache(probe.function(), 2, seconds(100));
  cache.lookup(raw(v4("10.0.0.1", 1)), kStart);
  cache.lookup(raw(v4("10.0.0.2", 1)), kStart + seconds(1));
  cache.lookup(raw(v4("10.0.0.3", 1)), kStart + seconds(2));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(probe.probes, 3);
  cache.lookup(raw(v4("10.0.0.2", 1)), kStart + seconds(3));
  cache.lookup(raw(v4("10.0.0.3", 1)), kStart + seconds(3));
  EXPECT_EQ(probe.probes, 3);
  cache.lookup(raw(v4("10.0.0.1", 1)), kStart + seconds(3));  // the evicted one
  EXPECT_EQ(probe.probes, 4);
}

TEST(RouteMtuCache, TheProcessWideCacheAnswersAsTheKernelDoes) {
  const sockaddr_in loopback = v4("127.0.0.1", 9);
  const std::optional<std::size_t> kernel = route_mtu(raw(loopback));
  ASSERT_TRUE(kernel.has_value());
  EXPECT_EQ(cached_route_mtu(raw(loopback)), kernel);
  EXPECT_EQ(cached_route_mtu(raw(loopback)), kernel);
}

}  // namespace
}  // namespace rpcnet::runtime

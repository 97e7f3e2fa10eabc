// How large the UDP datagrams of one connection may be: decided from the MTU of the route to the
// peer (the interface the kernel sends through), not from the kind of address. Pure, so the
// policy is tested without sockets.
//
//   - loopback: no hop between the ends, so the interface MTU is the path MTU; the largest size
//     is used from the first packet (no discovery needed);
//   - any other route: packets start at QUIC's 1200 bytes and path-MTU discovery (RFC 9000
//     §14.3, ngtcp2's PMTUD) raises them through `probes` up to `max_payload`, never past the
//     interface MTU, so a router with a smaller MTU on the way costs a lost probe, not a
//     connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace rpcnet::quic {

// Ceiling of the automatic choice: on loopback (MTU 65536) larger datagrams gained nothing over
// 16 KiB in the measurements behind doc/performance.md, and each costs a receive slot that big.
inline constexpr std::size_t kAutomaticUdpPayloadCeiling = 16384;
// Smallest datagram payload QUIC allows (RFC 9000 §14), and the largest UDP can carry.
inline constexpr std::size_t kMinUdpPayload = 1200;
inline constexpr std::size_t kMaxUdpPayload = 65527;
// What ngtcp2 assumes of a route it knows nothing about (1500-byte Ethernet, IPv6 headers).
inline constexpr std::size_t kUnknownRouteUdpPayload = 1452;

struct UdpPayloadPlan {
  std::size_t max_payload = kUnknownRouteUdpPayload;
  // True: send max_payload from the start. False: start at 1200 and discover the path.
  bool skip_discovery = false;
  // Sizes path-MTU discovery tries, ascending (each one confirmed lets the next be tried); the
  // last is max_payload. Empty when skip_discovery.
  std::vector<std::uint16_t> probes;
};

// `configured`: RpcConfig::max_udp_payload (0 = automatic). `route_mtu`: the MTU of the route
// to the peer, when known. `ipv6` picks the header size (48 bytes with UDP, else 28).
UdpPayloadPlan plan_udp_payload(std::size_t configured, std::optional<std::size_t> route_mtu,
                                bool ipv6, bool loopback);

}  // namespace rpcnet::quic

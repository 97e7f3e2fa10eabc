#include "quic/udp_payload.h"

#include <algorithm>

namespace rpcnet::quic {

UdpPayloadPlan plan_udp_payload(std::size_t configured, std::optional<std::size_t> route_mtu,
                                bool ipv6, bool loopback) {
  const std::size_t headers = ipv6 ? 48 : 28;
  const std::size_t route_payload =
      route_mtu && *route_mtu > headers ? *route_mtu - headers : kUnknownRouteUdpPayload;
  const std::size_t ceiling = configured != 0 ? configured : kAutomaticUdpPayloadCeiling;
  UdpPayloadPlan plan;
  plan.max_payload = std::clamp(std::min(ceiling, route_payload), kMinUdpPayload, kMaxUdpPayload);
  plan.skip_discovery = loopback && route_mtu.has_value();
  if (plan.skip_discovery || plan.max_payload <= kMinUdpPayload) return plan;
  // The payloads of the MTUs links commonly have (Ethernet 1500, PPPoE 1492, jumbo 9000), under
  // either IP version, then the maximum itself.
  static constexpr std::uint16_t kCommon[] = {1252, 1444, 1452, 1464, 1472, 8952, 8972};
  for (std::uint16_t size : kCommon) {
    if (size > kMinUdpPayload && size < plan.max_payload) plan.probes.push_back(size);
  }
  plan.probes.push_back(static_cast<std::uint16_t>(plan.max_payload));
  return plan;
}

}  // namespace rpcnet::quic

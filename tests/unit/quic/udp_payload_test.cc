#include "quic/udp_payload.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <fstream>

#include "runtime/udp_socket.h"

namespace rpcnet::quic {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(UdpPayloadPlan, LoopbackSendsTheAutomaticCeilingFromTheFirstPacket) {
  const auto plan = plan_udp_payload(0, 65536, false, true);
  EXPECT_EQ(plan.max_payload, 16384u);
  EXPECT_TRUE(plan.skip_discovery);
  EXPECT_THAT(plan.probes, IsEmpty());
}

TEST(UdpPayloadPlan, EthernetOverIpv4DiscoversUpToFourteenSeventyTwo) {
  const auto plan = plan_udp_payload(0, 1500, false, false);
  EXPECT_EQ(plan.max_payload, 1472u);
  EXPECT_FALSE(plan.skip_discovery);
  EXPECT_THAT(plan.probes, ElementsAre(1252, 1444, 1452, 1464, 1472));
}

TEST(UdpPayloadPlan, EthernetOverIpv6LeavesFortyEightBytesOfHeaders) {
  const auto plan = plan_udp_payload(0, 1500, true, false);
  EXPECT_EQ(plan.max_payload, 1452u);
  EXPECT_THAT(plan.probes, ElementsAre(1252, 1444, 1452));
}

TEST(UdpPayloadPlan, AJumboRouteIsDiscoveredThroughTheCommonSizes) {
  const auto plan = plan_udp_payload(0, 9000, false, false);
  EXPECT_EQ(plan.max_payload, 8972u);
  EXPECT_THAT(plan.probes, ElementsAre(1252, 1444, 1452, 1464, 1472, 8952, 8972));
}

TEST(UdpPayloadPlan, AConfiguredSizeCapsTheRouteAndIsTheLastProbe) {
  const auto plan = plan_udp_payload(4000, 9000, false, false);
  EXPECT_EQ(plan.max_payload, 4000u);
  EXPECT_THAT(plan.probes, ElementsAre(1252, 1444, 1452, 1464, 1472, 4000));
  EXPECT_EQ(plan_udp_payload(4096, 65536, false, true).max_payload, 4096u);
}

TEST(UdpPayloadPlan, NeverBelowQuicsMinimumNorAboveTheRoute) {
  // A route MTU under QUIC's minimum (a broken tunnel) still gets 1200: QUIC cannot go lower.
  const auto tiny = plan_udp_payload(0, 1000, false, false);
  EXPECT_EQ(tiny.max_payload, 1200u);
  EXPECT_THAT(tiny.probes, IsEmpty());
  EXPECT_EQ(plan_udp_payload(65527, 1500, false, false).max_payload, 1472u);
}

TEST(UdpPayloadPlan, AnUnknownRouteDiscoversUpToWhatNgtcp2Assumes) {
  const auto plan = plan_udp_payload(0, std::nullopt, false, false);
  EXPECT_EQ(plan.max_payload, 1452u);
  EXPECT_FALSE(plan.skip_discovery);
  // A loopback address without a known route is not trusted to skip discovery either.
  EXPECT_FALSE(plan_udp_payload(0, std::nullopt, false, true).skip_discovery);
}

TEST(RouteMtu, TheLoopbackRouteHasTheLoopbackInterfacesMtu) {
  std::ifstream file("/sys/class/net/lo/mtu");
  std::size_t lo_mtu = 0;
  ASSERT_TRUE(file >> lo_mtu) << "no /sys/class/net/lo/mtu";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(9);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto mtu = runtime::route_mtu(reinterpret_cast<const sockaddr*>(&address));
  ASSERT_TRUE(mtu.has_value());
  // An IPv4 packet cannot exceed 65535 bytes, whatever the interface allows.
  EXPECT_EQ(*mtu, std::min<std::size_t>(lo_mtu, 65535));
}

TEST(RouteMtu, AnAddressOfAnotherFamilyHasNoRoute) {
  sockaddr unknown{};
  unknown.sa_family = AF_UNIX;
  EXPECT_FALSE(runtime::route_mtu(&unknown).has_value());
}

}  // namespace
}  // namespace rpcnet::quic

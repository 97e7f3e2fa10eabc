// parse_socket_address / to_string for "ip:port", "[v6]:port" and "localhost:port".
#include "rpcnet/address.h"
#include "support/error_matchers.h"

#include <gtest/gtest.h>

#include <string>

namespace rpcnet {
namespace {

TEST(ParseSocketAddress, AcceptsIpv4WithPortZero) {
  const auto addr = parse_socket_address("127.0.0.1:0");
  ASSERT_TRUE(addr.ok()) << addr.error();
  EXPECT_TRUE(addr->address().is_v4());
  EXPECT_EQ(addr->address().to_string(), "127.0.0.1");
  EXPECT_EQ(addr->port(), 0);
}

TEST(ParseSocketAddress, AcceptsABracketedIpv6Address) {
  const auto addr = parse_socket_address("[::1]:8080");
  ASSERT_TRUE(addr.ok()) << addr.error();
  EXPECT_TRUE(addr->address().is_v6());
  EXPECT_TRUE(addr->address().is_loopback());
  EXPECT_EQ(addr->port(), 8080);
}

TEST(ParseSocketAddress, MapsLocalhostToIpv4Loopback) {
  const auto addr = parse_socket_address("localhost:9");
  ASSERT_TRUE(addr.ok()) << addr.error();
  EXPECT_EQ(addr->address().to_string(), "127.0.0.1");
  EXPECT_EQ(addr->port(), 9);
}

TEST(ParseSocketAddress, AcceptsTheHighestPort) {
  const auto addr = parse_socket_address("10.1.2.3:65535");
  ASSERT_TRUE(addr.ok()) << addr.error();
  EXPECT_EQ(addr->port(), 65535);
  EXPECT_EQ(addr->address().to_string(), "10.1.2.3");
}

TEST(ParseSocketAddress, RejectsMalformedTextWithAConfigErrorNamingIt) {
  for (const std::string text : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1",
                                 "host:80", "[::1]", "1.2.3.4:80x", "1.2.3.4: 80", ":80",
                                 "1.2.3.4:99999999999999999999"}) {
    const auto addr = parse_socket_address(text);
    ASSERT_FALSE(addr.ok()) << '"' << text << "\" was accepted";
    EXPECT_THAT(addr, rpcnet::testing::ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument)) << text;
    EXPECT_NE(addr.error().message().find('"' + text + '"'), std::string::npos)
        << addr.error().message();
  }
}

TEST(SocketAddressToString, FormatsIpv4AsIpColonPort) {
  const auto addr = parse_socket_address("192.168.0.1:443");
  ASSERT_TRUE(addr.ok());
  EXPECT_EQ(to_string(*addr), "192.168.0.1:443");
}

TEST(SocketAddressToString, BracketsIpv6) {
  const auto addr = parse_socket_address("[::1]:8080");
  ASSERT_TRUE(addr.ok());
  EXPECT_EQ(to_string(*addr), "[::1]:8080");
}

TEST(SocketAddressToString, RoundTripsThroughParse) {
  for (const char* text : {"127.0.0.1:0", "[::1]:1", "[fe80::1]:65535", "8.8.8.8:53"}) {
    const auto addr = parse_socket_address(text);
    ASSERT_TRUE(addr.ok()) << text;
    EXPECT_EQ(to_string(*addr), text);
    const auto again = parse_socket_address(to_string(*addr));
    ASSERT_TRUE(again.ok()) << text;
    EXPECT_EQ(*again, *addr);
  }
}

}  // namespace
}  // namespace rpcnet

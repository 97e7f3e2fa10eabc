// Admission (quic/admission.h) in virtual time: the order of its checks, the counts it keeps,
// and the per-source token bucket, with time given as a number.
#include "quic/admission.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

namespace rpcnet::quic {
namespace {

using Decision = Admission::Decision;
constexpr std::uint64_t kSecond = 1'000'000'000;

sockaddr_storage v4(const char* ip) {
  sockaddr_storage out{};
  auto* in = reinterpret_cast<sockaddr_in*>(&out);
  in->sin_family = AF_INET;
  ::inet_pton(AF_INET, ip, &in->sin_addr);
  return out;
}

sockaddr_storage v6(const char* ip) {
  sockaddr_storage out{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  in6->sin6_family = AF_INET6;
  ::inet_pton(AF_INET6, ip, &in6->sin6_addr);
  return out;
}

const sockaddr* sa(const sockaddr_storage& s) { return reinterpret_cast<const sockaddr*>(&s); }

AdmissionLimits roomy() {
  AdmissionLimits limits;
  limits.max_connections = 1000;
  limits.max_handshakes = 1000;
  limits.retry_threshold = 1000;
  limits.handshakes_per_source_per_second = 1e9;
  limits.handshake_burst_per_source = 1e9;
  return limits;
}

TEST(Admission, CountsAnAcceptedConnectionAndItsHandshakeUntilTheyEnd) {
  Admission admission(roomy(), {1, 2});
  const auto a = v4("10.0.0.1");
  EXPECT_EQ(admission.decide(sa(a), false, 0), Decision::kAccept);
  EXPECT_EQ(admission.connections(), 1u);
  EXPECT_EQ(admission.handshakes(), 1u);
  admission.on_handshake_ended();
  EXPECT_EQ(admission.handshakes(), 0u);
  EXPECT_EQ(admission.connections(), 1u);
  admission.on_connection_finished();
  EXPECT_EQ(admission.connections(), 0u);
  admission.on_connection_finished();  // never below zero
  EXPECT_EQ(admission.connections(), 0u);
}

TEST(Admission, TheConnectionLimitComesFirstEvenForValidatedAddresses) {
  auto limits = roomy();
  limits.max_connections = 2;
  Admission admission(limits, {});
  const auto a = v4("10.0.0.1");
  EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kAccept);
  EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kAccept);
  EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kRefuseConnections);
  EXPECT_EQ(admission.decide(sa(a), false, 0), Decision::kRefuseConnections);
}

TEST(Admission, PastTheRetryThresholdOnlyValidatedAddressesGetThrough) {
  auto limits = roomy();
  limits.retry_threshold = 2;
  Admission admission(limits, {});
  const auto a = v4("10.0.0.1");
  EXPECT_EQ(admission.decide(sa(a), false, 0), Decision::kAccept);
  EXPECT_EQ(admission.decide(sa(a), false, 0), Decision::kAccept);
  EXPECT_EQ(admission.decide(sa(a), false, 0), Decision::kRetry);
  EXPECT_EQ(admission.handshakes(), 2u) << "a Retry holds nothing";
  EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kAccept);
  admission.on_handshake_ended();
  admission.on_handshake_ended();
  EXPECT_EQ(admission.decide(sa(a), false, 0), Decision::kAccept) << "below the threshold again";
}

TEST(Admission, AThresholdOfZeroMeansAlwaysRetry) {
  auto limits = roomy();
  limits.retry_threshold = 0;
  Admission admission(limits, {});
  const auto a = v4("10.0.0.1");
  EXPECT_EQ(admission.decide(sa(a), false, 0), Decision::kRetry);
  EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kAccept);
}

TEST(Admission, TheHandshakeLimitAppliesToValidatedAddressesToo) {
  auto limits = roomy();
  limits.max_handshakes = 1;
  limits.retry_threshold = 0;
  Admission admission(limits, {});
  const auto a = v4("10.0.0.1");
  EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kAccept);
  EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kRefuseHandshakes);
  EXPECT_EQ(admission.decide(sa(a), false, 0), Decision::kRetry) << "Retry is checked before";
}

TEST(Admission, AnIdleServerThrottlesNoSource) {
  auto limits = roomy();
  limits.retry_threshold = 10;
  limits.handshakes_per_source_per_second = 0.001;
  limits.handshake_burst_per_source = 1;
  Admission admission(limits, {});
  const auto a = v4("10.0.0.1");
  // Each handshake finishes before the next starts: never under pressure, never refused.
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(admission.decide(sa(a), false, 0), Decision::kAccept) << i;
    admission.on_handshake_ended();
  }
  EXPECT_EQ(admission.tracked_sources(), 0u) << "no bucket is even kept";
}

TEST(Admission, OneSourceGetsItsBurstThenTheRefillRate) {
  auto limits = roomy();
  limits.retry_threshold = 0;  // under pressure from the start
  limits.handshakes_per_source_per_second = 10;
  limits.handshake_burst_per_source = 5;
  Admission admission(limits, {});
  const auto a = v4("10.0.0.1");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kAccept) << i;
  EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kRefuseSourceRate);
  EXPECT_EQ(admission.decide(sa(a), true, kSecond / 10 - 1), Decision::kRefuseSourceRate);
  EXPECT_EQ(admission.decide(sa(a), true, kSecond / 10), Decision::kAccept) << "one token per 100 ms";
  EXPECT_EQ(admission.decide(sa(a), true, kSecond / 10), Decision::kRefuseSourceRate);
  // A refusal takes no token and counts nothing.
  EXPECT_EQ(admission.connections(), 6u);
  // Another address has its own bucket.
  const auto b = v4("10.0.0.2");
  EXPECT_EQ(admission.decide(sa(b), true, kSecond / 10), Decision::kAccept);
}

TEST(Admission, AnIpv6HostIsCountedByItsSlash64) {
  auto limits = roomy();
  limits.retry_threshold = 0;
  limits.handshakes_per_source_per_second = 0.001;
  limits.handshake_burst_per_source = 2;
  Admission admission(limits, {});
  const auto a = v6("2001:db8:1:2::1");
  const auto b = v6("2001:db8:1:2:ffff::9");  // same /64
  const auto c = v6("2001:db8:1:3::1");       // another /64
  EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kAccept);
  EXPECT_EQ(admission.decide(sa(b), true, 0), Decision::kAccept);
  EXPECT_EQ(admission.decide(sa(a), true, 0), Decision::kRefuseSourceRate);
  EXPECT_EQ(admission.decide(sa(c), true, 0), Decision::kAccept);
}

TEST(Admission, TheSourceTableStaysWithinItsBoundAndForgetsIdleSources) {
  auto limits = roomy();
  limits.retry_threshold = 0;
  limits.handshakes_per_source_per_second = 1;
  limits.handshake_burst_per_source = 1;
  limits.tracked_sources = 8;
  Admission admission(limits, {});
  char ip[32];
  for (int i = 0; i < 8; ++i) {
    std::snprintf(ip, sizeof ip, "10.0.1.%d", i);
    const auto s = v4(ip);
    EXPECT_EQ(admission.decide(sa(s), true, 0), Decision::kAccept);
  }
  EXPECT_EQ(admission.tracked_sources(), 8u);
  // Full of sources that are still refilling: a new one is admitted untracked (fail open).
  const auto fresh = v4("10.0.2.1");
  EXPECT_EQ(admission.decide(sa(fresh), true, 0), Decision::kAccept);
  EXPECT_EQ(admission.tracked_sources(), 8u);
  // Two seconds later all are full again (idle): the next new source sweeps them out.
  EXPECT_EQ(admission.decide(sa(fresh), true, 2 * kSecond), Decision::kAccept);
  EXPECT_EQ(admission.tracked_sources(), 1u);
}

}  // namespace
}  // namespace rpcnet::quic

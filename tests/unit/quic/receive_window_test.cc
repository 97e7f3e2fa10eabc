// StreamReceiveWindow (src/quic/receive_window.h): the window doubles only when the reader
// empties it within two minimum round trips, never past its ceiling, and never without an RTT.
#include "quic/receive_window.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace rpcnet::quic {
namespace {

constexpr std::uint64_t kMiB = 1u << 20;
constexpr std::uint64_t kMinRtt = 100'000;  // 100 µs, in ns

TEST(StreamReceiveWindow, CreditWithinTheWindowIsExactlyWhatWasRead) {
  StreamReceiveWindow window(kMiB, 16 * kMiB);
  EXPECT_EQ(window.on_consumed(4096, 0, kMinRtt), 4096u);
  EXPECT_EQ(window.on_consumed(kMiB - 8192, 1, kMinRtt), kMiB - 8192);
  EXPECT_EQ(window.on_consumed(0, 2, kMinRtt), 0u);
  EXPECT_EQ(window.window(), kMiB);
}

TEST(StreamReceiveWindow, AWindowEmptiedWithinTwoMinimumRoundTripsDoubles) {
  StreamReceiveWindow window(kMiB, 16 * kMiB);
  EXPECT_EQ(window.on_consumed(kMiB / 2, 1'000, kMinRtt), kMiB / 2);
  // The rest of the window, 2 × 100 µs − 1 ns after the first read: the grant carries the growth.
  EXPECT_EQ(window.on_consumed(kMiB / 2, 1'000 + 2 * kMinRtt - 1, kMinRtt), kMiB / 2 + kMiB);
  EXPECT_EQ(window.window(), 2 * kMiB);
}

TEST(StreamReceiveWindow, AWindowTheReaderEmptiesMoreSlowlyStays) {
  StreamReceiveWindow window(kMiB, 16 * kMiB);
  EXPECT_EQ(window.on_consumed(kMiB / 2, 1'000, kMinRtt), kMiB / 2);
  EXPECT_EQ(window.on_consumed(kMiB / 2, 1'000 + 2 * kMinRtt, kMinRtt), kMiB / 2);
  EXPECT_EQ(window.window(), kMiB);
  // The next window is measured afresh from its own first read: fast this time.
  EXPECT_EQ(window.on_consumed(kMiB, 10'000'000, kMinRtt), kMiB + kMiB);
  EXPECT_EQ(window.window(), 2 * kMiB);
}

TEST(StreamReceiveWindow, AReaderSlowerThanThePathKeepsTheInitialWindowForever) {
  // 1 GB/s into a path whose minimum RTT is 50 µs: a megabyte takes 1 ms, twenty round trips.
  StreamReceiveWindow window(kMiB, 16 * kMiB);
  std::uint64_t now = 0;
  std::uint64_t granted = 0;
  for (int chunk = 0; chunk < 1024; ++chunk) {  // 64 MiB in 64 KiB reads
    now += 65'536;                              // ns per 64 KiB at 1 GB/s
    granted += window.on_consumed(64 * 1024, now, 50'000);
  }
  EXPECT_EQ(window.window(), kMiB);
  EXPECT_EQ(granted, 64 * kMiB);
}

TEST(StreamReceiveWindow, GrowsByDoublingUpToTheCeilingAndNoFurther) {
  StreamReceiveWindow window(kMiB, 5 * kMiB);
  std::uint64_t now = 0;
  EXPECT_EQ(window.on_consumed(kMiB, now += 10, kMinRtt), kMiB + kMiB);          // 2 MiB
  EXPECT_EQ(window.on_consumed(2 * kMiB, now += 10, kMinRtt), 2 * kMiB + 2 * kMiB);  // 4 MiB
  EXPECT_EQ(window.on_consumed(4 * kMiB, now += 10, kMinRtt), 4 * kMiB + kMiB);  // capped: 5 MiB
  EXPECT_EQ(window.window(), 5 * kMiB);
  EXPECT_EQ(window.on_consumed(5 * kMiB, now += 10, kMinRtt), 5 * kMiB);
  EXPECT_EQ(window.window(), 5 * kMiB);
}

TEST(StreamReceiveWindow, NeverGrowsWithoutAnRttSample) {
  for (const std::uint64_t unknown : {std::uint64_t{0}, std::numeric_limits<std::uint64_t>::max()}) {
    StreamReceiveWindow window(kMiB, 16 * kMiB);
    EXPECT_EQ(window.on_consumed(kMiB, 1, unknown), kMiB);
    EXPECT_EQ(window.window(), kMiB);
  }
}

TEST(StreamReceiveWindow, ACeilingBelowTheInitialWindowKeepsTheInitialWindow) {
  StreamReceiveWindow window(kMiB, kMiB / 2);
  EXPECT_EQ(window.on_consumed(kMiB, 1, kMinRtt), kMiB);
  EXPECT_EQ(window.window(), kMiB);
}

TEST(StreamReceiveWindow, AClockThatSeemsToGoBackCountsAsNoTimeAtAll) {
  StreamReceiveWindow window(kMiB, 16 * kMiB);
  EXPECT_EQ(window.on_consumed(kMiB / 2, 5'000'000, kMinRtt), kMiB / 2);
  EXPECT_EQ(window.on_consumed(kMiB / 2, 4'000'000, kMinRtt), kMiB / 2 + kMiB);
}

TEST(StreamReceiveWindow, AHugeMinimumRttDoesNotOverflowTheLimit) {
  StreamReceiveWindow window(kMiB, 16 * kMiB);
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max() - 1;
  EXPECT_EQ(window.on_consumed(kMiB, 1'000, huge), kMiB + kMiB);
}

}  // namespace
}  // namespace rpcnet::quic

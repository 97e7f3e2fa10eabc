// ManualClock and SeededRng: the two small pieces of the testing kit.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <vector>

#include "rpcnet/testing/manual_clock.h"
#include "rpcnet/testing/seeded_rng.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using std::chrono::milliseconds;

TEST(ManualClock, StartsAtTheGivenTimeAndMovesOnlyWhenTold) {
  ManualClock clock;
  EXPECT_EQ(clock.now(), ManualClock::kDefaultStart);
  EXPECT_TRUE(clock.advance(milliseconds(1500)));
  EXPECT_EQ(clock.now(), ManualClock::kDefaultStart + milliseconds(1500));
  EXPECT_TRUE(clock.set(ManualClock::kDefaultStart + milliseconds(2000)));
  EXPECT_EQ(clock.now(), ManualClock::kDefaultStart + milliseconds(2000));
}

TEST(ManualClock, RefusesToGoBackwards) {
  ManualClock clock(ManualClock::time_point{} + milliseconds(10));
  EXPECT_THAT(clock.advance(milliseconds(-1)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(clock.set(ManualClock::time_point{} + milliseconds(9)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(clock.now(), ManualClock::time_point{} + milliseconds(10));
  EXPECT_TRUE(clock.set(clock.now()));  // standing still is fine
}

// Golden values from an independent implementation of splitmix64-seeded xoshiro256**.
TEST(SeededRng, ProducesTheSpecifiedSequence) {
  SeededRng zero(0);
  EXPECT_EQ(zero.next(), 0x99ec5f36cb75f2b4ULL);
  EXPECT_EQ(zero.next(), 0xbf6e1f784956452aULL);
  EXPECT_EQ(zero.next(), 0x1a5f849d4933e6e0ULL);
  SeededRng answer(42);
  EXPECT_EQ(answer(), 0x15780b2e0c2ec716ULL);
  EXPECT_EQ(answer(), 0x6104d9866d113a7eULL);
  EXPECT_EQ(answer.seed(), 42u);
}

TEST(SeededRng, SameSeedSameStreamDifferentSeedDifferentStream) {
  SeededRng a(7), b(7), c(8);
  int differing = 0;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    EXPECT_EQ(x, b.next());
    differing += x != c.next();
  }
  EXPECT_EQ(differing, 100);
}

TEST(SeededRng, ForkDependsOnlyOnSeedAndStream) {
  SeededRng a(7);
  const auto before = a.fork(3).next();
  a.next();  // consuming from the parent does not move its forks
  EXPECT_EQ(a.fork(3).next(), before);
  EXPECT_NE(a.fork(4).next(), before);
  EXPECT_NE(SeededRng(8).fork(3).next(), before);
}

TEST(SeededRng, UniformStaysInRangeAndCoversIt) {
  SeededRng rng(1);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto v = rng.uniform(6);
    ASSERT_LT(v, 6u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(rng.uniform(0), 0u);
  EXPECT_EQ(rng.uniform(1), 0u);
  for (int i = 0; i < 1000; ++i) {
    const double d = rng.uniform_double();
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
  }
}

TEST(SeededRng, BernoulliExtremesAreExactAndTheMiddleIsFair) {
  SeededRng rng(2);
  int hits = 0;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(rng.bernoulli(0.0));
    ASSERT_TRUE(rng.bernoulli(1.0));
    hits += rng.bernoulli(0.5);
  }
  // Binomial(1000, 0.5): sd 15.8; 5 sd either side.
  EXPECT_GT(hits, 420);
  EXPECT_LT(hits, 580);
}

}  // namespace
}  // namespace rpcnet::testing

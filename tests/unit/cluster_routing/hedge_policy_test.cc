// The hedge delay: which attempts feed it (successes and failures, not abandoned ones), the
// exact percentile rank, the minimum sample count and delay, and the window's bound.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include "rpcnet/cluster/hedge_policy.h"

namespace rpcnet::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

void record(HedgePolicy& policy, int count, milliseconds latency, AttemptOutcome outcome) {
  for (int i = 0; i < count; ++i) policy.on_attempt_ended(latency, outcome);
}

TEST(HedgePolicy, SlowFailuresInABrownoutRaiseTheDelay) {
  HedgePolicy policy(0.95, milliseconds(1));
  record(policy, 100, milliseconds(2), AttemptOutcome::kSucceeded);
  ASSERT_EQ(policy.delay(), std::optional<nanoseconds>(milliseconds(2)));
  // The brownout: calls now fail after 500 ms. 20 of 120 samples are slow, so rank
  // floor(0.95 × 119) = 113 falls among them.
  record(policy, 20, milliseconds(500), AttemptOutcome::kFailed);
  EXPECT_EQ(policy.delay(), std::optional<nanoseconds>(milliseconds(500)));
}

TEST(HedgePolicy, AbandonedAttemptsAreNotSamples) {
  HedgePolicy policy(0.5, milliseconds(1));
  record(policy, 15, milliseconds(3), AttemptOutcome::kSucceeded);
  record(policy, 100, milliseconds(900), AttemptOutcome::kAbandoned);
  EXPECT_EQ(policy.samples(), 15u);
  EXPECT_EQ(policy.delay(), std::nullopt);
  record(policy, 1, milliseconds(7), AttemptOutcome::kFailed);
  EXPECT_EQ(policy.samples(), 16u);
  EXPECT_EQ(policy.delay(), std::optional<nanoseconds>(milliseconds(3)));
}

TEST(HedgePolicy, TooFewSamplesMeansNoHedging) {
  HedgePolicy policy(0.95, milliseconds(1));
  record(policy, static_cast<int>(HedgePolicy::kMinSamples) - 1, milliseconds(10), AttemptOutcome::kFailed);
  EXPECT_EQ(policy.delay(), std::nullopt);
  record(policy, 1, milliseconds(10), AttemptOutcome::kSucceeded);
  EXPECT_EQ(policy.delay(), std::optional<nanoseconds>(milliseconds(10)));
}

TEST(HedgePolicy, NoPercentileMeansNoHedging) {
  HedgePolicy policy(std::nullopt, milliseconds(1));
  record(policy, 50, milliseconds(10), AttemptOutcome::kSucceeded);
  EXPECT_EQ(policy.delay(), std::nullopt);
}

TEST(HedgePolicy, DelayIsTheLowerNearestRankNeverBelowTheMinimum) {
  HedgePolicy policy(0.95, milliseconds(1));
  for (int ms = 100; ms >= 1; --ms) policy.on_attempt_ended(milliseconds(ms), AttemptOutcome::kSucceeded);
  EXPECT_EQ(policy.delay(), std::optional<nanoseconds>(milliseconds(95)));  // sorted[floor(0.95 × 99)]
  HedgePolicy floored(0.95, milliseconds(40));
  record(floored, 20, milliseconds(5), AttemptOutcome::kSucceeded);
  EXPECT_EQ(floored.delay(), std::optional<nanoseconds>(milliseconds(40)));
}

TEST(HedgePolicy, WindowHoldsOnlyTheLatestAttempts) {
  HedgePolicy policy(1.0, milliseconds(1));
  record(policy, static_cast<int>(HedgePolicy::kWindow), milliseconds(800), AttemptOutcome::kFailed);
  record(policy, static_cast<int>(HedgePolicy::kWindow) - 1, milliseconds(4), AttemptOutcome::kSucceeded);
  EXPECT_EQ(policy.samples(), HedgePolicy::kWindow);
  EXPECT_EQ(policy.delay(), std::optional<nanoseconds>(milliseconds(800)));  // one slow sample left
  record(policy, 1, milliseconds(4), AttemptOutcome::kSucceeded);
  EXPECT_EQ(policy.delay(), std::optional<nanoseconds>(milliseconds(4)));
}

TEST(HedgePolicy, OnlyALocalCancellationMakesAnAttemptAbandoned) {
  EXPECT_EQ(attempt_outcome(RpcError::cancelled()), AttemptOutcome::kAbandoned);
  EXPECT_EQ(attempt_outcome(RpcError::timeout()), AttemptOutcome::kFailed);
  EXPECT_EQ(attempt_outcome(RpcError::connection("reset")), AttemptOutcome::kFailed);
  EXPECT_EQ(attempt_outcome(RpcError::remote(StatusCode::kCancelled, "handler gave up")), AttemptOutcome::kFailed);
  EXPECT_EQ(attempt_outcome(RpcError::stream("peer stopped reading", StatusCode::kCancelled)), AttemptOutcome::kFailed);
  EXPECT_EQ(attempt_outcome(RpcError::remote(StatusCode::kUnavailable, "overloaded")), AttemptOutcome::kFailed);
}

}  // namespace
}  // namespace rpcnet::cluster

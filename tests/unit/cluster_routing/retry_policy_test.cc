// Retry policy arithmetic: classify() table, deadlines across attempts, jittered backoff, the
// retry budget's exact token counts over a scripted timeline, and plan_retry's order of checks.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "rpcnet/cluster/retry_policy.h"

namespace rpcnet::cluster {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const Time kStart = Time{} + seconds(1000);
constexpr std::uint64_t kAllOnes = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kHalf = std::uint64_t{1} << 63;

struct ClassifyCase {
  const char* name;
  RpcError error;
  bool idempotent;
  bool not_started;
  RetryDecision expected;
};

TEST(RetryClassify, Table) {
  constexpr auto kRetry = RetryDecision::kRetryOtherWorker;
  constexpr auto kNo = RetryDecision::kDoNotRetry;
  const ClassifyCase cases[] = {
      // Never reached a handler: retry anywhere, idempotent or not.
      {"connect refused, not idempotent", RpcError::connection("refused"), false, true, kRetry},
      {"refused unstarted by server", RpcError::remote(StatusCode::kUnavailable, "draining"), false, true, kRetry},
      {"internal but not started", RpcError::remote(StatusCode::kInternal, "x"), false, true, kRetry},
      {"exhausted but not started", RpcError::status(StatusCode::kResourceExhausted, "x"), false, true, kRetry},
      {"timeout before start", RpcError::timeout(), false, true, kRetry},
      {"peer stopped reading before start", RpcError::stream("stopped", StatusCode::kCancelled), false, true, kRetry},
      // ...except local, deterministic or caller-initiated failures.
      {"cancelled", RpcError::cancelled(), true, true, kNo},
      {"cancelled, not started", RpcError::cancelled(), false, true, kNo},
      {"config", RpcError::config("bad"), true, true, kNo},
      {"serialization", RpcError::serialization("bad"), true, true, kNo},
      // Started, idempotent: UNAVAILABLE and timeouts retry.
      {"connection lost, idempotent", RpcError::connection("closed"), true, false, kRetry},
      {"remote unavailable, idempotent", RpcError::remote(StatusCode::kUnavailable, "x"), true, false, kRetry},
      {"io, idempotent", RpcError::io("sendmsg"), true, false, kRetry},
      {"tls, idempotent", RpcError::tls("untrusted"), true, false, kRetry},
      {"stream reset unavailable", RpcError::stream("reset", StatusCode::kUnavailable), true, false, kRetry},
      {"local timeout, idempotent", RpcError::timeout(), true, false, kRetry},
      {"remote deadline, idempotent", RpcError::remote(StatusCode::kDeadlineExceeded, "x"), true, false, kRetry},
      {"remote internal, idempotent", RpcError::remote(StatusCode::kInternal, "x"), true, false, kNo},
      {"remote not found, idempotent", RpcError::remote(StatusCode::kNotFound, "x"), true, false, kNo},
      {"remote exhausted, idempotent", RpcError::remote(StatusCode::kResourceExhausted, "x"), true, false, kNo},
      {"stream reset internal", RpcError::stream("reset"), true, false, kNo},
      // Started, not idempotent: never.
      {"connection lost, not idempotent", RpcError::connection("closed"), false, false, kNo},
      {"remote unavailable, not idempotent", RpcError::remote(StatusCode::kUnavailable, "x"), false, false, kNo},
      {"timeout, not idempotent", RpcError::timeout(), false, false, kNo},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(classify(c.error, c.idempotent, c.not_started), c.expected) << c.name;
  }
}

TEST(RetryDeadline, EveryAttemptGetsTheRemainingTimeDownToTheMinimum) {
  const Time overall = kStart + milliseconds(100);
  const nanoseconds min = milliseconds(5);
  EXPECT_EQ(attempt_deadline(overall, kStart, min), overall);
  EXPECT_EQ(*attempt_deadline(overall, kStart, min) - kStart, milliseconds(100));
  EXPECT_EQ(*attempt_deadline(overall, kStart + milliseconds(30), min) - (kStart + milliseconds(30)), milliseconds(70));
  EXPECT_EQ(attempt_deadline(overall, kStart + milliseconds(95), min), overall);  // exactly the minimum
  EXPECT_EQ(attempt_deadline(overall, kStart + milliseconds(95) + nanoseconds(1), min), std::nullopt);
  EXPECT_EQ(attempt_deadline(overall, overall, min), std::nullopt);
  EXPECT_EQ(attempt_deadline(overall, overall + seconds(1), min), std::nullopt);
  EXPECT_EQ(attempt_deadline(overall, overall - nanoseconds(1), nanoseconds(0)), overall);
  EXPECT_EQ(attempt_deadline(Time::max(), kStart, min), Time::max());  // no deadline
}

TEST(RetryBackoff, CeilingDoublesUpToTheMax) {
  RetryPolicy p;  // 10 ms initial, 200 ms max
  const std::pair<int, nanoseconds> table[] = {
      {0, milliseconds(10)},  {1, milliseconds(10)},   {2, milliseconds(20)},   {3, milliseconds(40)},
      {4, milliseconds(80)},  {5, milliseconds(160)},  {6, milliseconds(200)},  {7, milliseconds(200)},
      {1000, milliseconds(200)}, {std::numeric_limits<int>::max(), milliseconds(200)},
  };
  for (const auto& [retry, ceiling] : table) EXPECT_EQ(backoff_ceiling(p, retry), ceiling) << retry;

  RetryPolicy odd;
  odd.backoff_initial = milliseconds(300);  // above the max: clamped
  odd.backoff_max = milliseconds(200);
  EXPECT_EQ(backoff_ceiling(odd, 1), milliseconds(200));
  odd.backoff_initial = milliseconds(0);
  EXPECT_EQ(backoff_ceiling(odd, 5), nanoseconds(0));
  odd.backoff_initial = milliseconds(-5);
  odd.backoff_max = milliseconds(-1);
  EXPECT_EQ(backoff_ceiling(odd, 3), nanoseconds(0));
}

TEST(RetryBackoff, FullJitterFromTheRandomBits) {
  RetryPolicy p;
  EXPECT_EQ(backoff_delay(p, 1, 0), nanoseconds(0));
  EXPECT_EQ(backoff_delay(p, 1, kAllOnes), milliseconds(10));
  EXPECT_EQ(backoff_delay(p, 1, kHalf), nanoseconds(5'000'000));  // floor((10^7 + 1) / 2)
  EXPECT_EQ(backoff_delay(p, 2, kHalf), nanoseconds(10'000'000));
  EXPECT_EQ(backoff_delay(p, 3, kHalf >> 1), nanoseconds(10'000'000));  // a quarter of 40 ms
  EXPECT_EQ(backoff_delay(p, 9, kAllOnes), milliseconds(200));
  // Spread: 4096 evenly spaced draws land evenly in the 16 sixteenths of [0, 10 ms].
  std::array<int, 16> buckets{};
  for (std::uint64_t i = 0; i < 4096; ++i) {
    const auto d = backoff_delay(p, 1, i << 52);
    ASSERT_LE(d, milliseconds(10));
    ++buckets[static_cast<std::size_t>(d.count() * 16 / 10'000'000)];
  }
  for (int count : buckets) EXPECT_EQ(count, 256);
}

TEST(RetryBudget, ScriptedTimeline) {
  RetryPolicy p;  // ratio 0.2, 10/s floor, cap 100 tokens
  RetryBudget b(p, kStart);
  EXPECT_EQ(b.balance_milli(kStart), 10'000);  // starts with one second of floor
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(b.try_withdraw(kStart)) << i;
  EXPECT_FALSE(b.try_withdraw(kStart));
  EXPECT_EQ(b.balance_milli(kStart), 0);

  for (int i = 0; i < 5; ++i) b.deposit(kStart);  // 5 first attempts x 0.2 = one retry
  EXPECT_EQ(b.balance_milli(kStart), 1'000);
  EXPECT_TRUE(b.try_withdraw(kStart));
  b.deposit(kStart);
  b.deposit(kStart);
  EXPECT_EQ(b.balance_milli(kStart), 400);
  EXPECT_FALSE(b.try_withdraw(kStart));  // a refusal costs nothing
  EXPECT_EQ(b.balance_milli(kStart), 400);

  // Floor refill: 10 tokens/s = 1 milli-token per 100 us.
  Time t = kStart + milliseconds(60);
  EXPECT_EQ(b.balance_milli(t), 1'000);  // 400 + 600
  EXPECT_TRUE(b.try_withdraw(t));
  EXPECT_EQ(b.balance_milli(t), 0);

  // Fractions carry over: three 33.333 us steps are 0.99999 milli-tokens, one more ns makes 1.
  for (int i = 0; i < 3; ++i) {
    t += nanoseconds(33'333);
    EXPECT_FALSE(b.try_withdraw(t));
    EXPECT_EQ(b.balance_milli(t), 0);
  }
  t += nanoseconds(1);
  EXPECT_EQ(b.balance_milli(t), 1);
  EXPECT_FALSE(b.try_withdraw(t));
  EXPECT_EQ(b.balance_milli(t + milliseconds(100)), 1'001);

  // Looking back in time does not refund or drain anything.
  EXPECT_EQ(b.balance_milli(kStart), 1);

  // A long quiet spell fills the bucket to the cap and no further, deposits included.
  t += hours(1);
  EXPECT_EQ(b.balance_milli(t), 100'000);
  b.deposit(t);
  EXPECT_EQ(b.balance_milli(t), 100'000);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(b.try_withdraw(t)) << i;
  EXPECT_FALSE(b.try_withdraw(t));
  // Refill restarts from the moment the bucket left the cap: 250 ms later, 2.5 tokens.
  EXPECT_EQ(b.balance_milli(t + milliseconds(250)), 2'500);
}

TEST(RetryBudget, TimeSpentAtTheCapIsLost) {
  RetryPolicy p;
  p.budget_max_tokens = 12;
  RetryBudget b(p, kStart);
  EXPECT_EQ(b.balance_milli(kStart + milliseconds(200)), 12'000);  // 10 + 2 = cap
  EXPECT_EQ(b.balance_milli(kStart + seconds(5)), 12'000);
  EXPECT_TRUE(b.try_withdraw(kStart + seconds(5)));
  EXPECT_EQ(b.balance_milli(kStart + seconds(5)), 11'000);
  EXPECT_EQ(b.balance_milli(kStart + seconds(5) + milliseconds(50)), 11'500);
}

TEST(RetryBudget, RatioAloneBoundsRetriesWithoutAFloor) {
  RetryPolicy p;
  p.budget_min_per_second = 0;
  p.budget_ratio = 0.25;
  RetryBudget b(p, kStart);
  EXPECT_EQ(b.balance_milli(kStart + hours(1)), 0);  // nothing without traffic
  int retries = 0;
  for (int call = 0; call < 1000; ++call) {
    const Time t = kStart + milliseconds(call);
    b.deposit(t);
    while (b.try_withdraw(t)) ++retries;  // a fully failing cluster retries all it may
  }
  EXPECT_EQ(retries, 250);
}

TEST(RetryBudget, DegenerateSettingsAreClamped) {
  RetryPolicy none;
  none.budget_ratio = 0;
  none.budget_min_per_second = 0;
  RetryBudget zero(none, kStart);
  zero.deposit(kStart);
  EXPECT_FALSE(zero.try_withdraw(kStart + hours(5)));

  RetryPolicy wild;
  wild.budget_ratio = -3;
  wild.budget_min_per_second = -10;
  wild.budget_max_tokens = -1;
  RetryBudget clamped(wild, kStart);
  clamped.deposit(kStart);
  EXPECT_EQ(clamped.balance_milli(kStart + hours(1)), 0);

  RetryPolicy nan;
  nan.budget_ratio = std::numeric_limits<double>::quiet_NaN();
  nan.budget_min_per_second = 0;
  RetryBudget no_nan(nan, kStart);
  no_nan.deposit(kStart);
  EXPECT_EQ(no_nan.balance_milli(kStart), 0);

  RetryPolicy huge;
  huge.budget_min_per_second = std::numeric_limits<int>::max();
  huge.budget_max_tokens = std::numeric_limits<int>::max();
  RetryBudget big(huge, kStart);
  EXPECT_EQ(big.balance_milli(kStart), 1'000'000'000);  // clamped to 10^6 tokens
  EXPECT_TRUE(big.try_withdraw(kStart + hours(24 * 365)));
}

TEST(RetryPlanTest, AttemptsShareOneDeadline) {
  RetryPolicy p;  // 3 attempts, min attempt time 5 ms
  RetryBudget budget(p, kStart);
  budget.deposit(kStart);
  const Time overall = kStart + milliseconds(100);
  const RpcError unavailable = RpcError::remote(StatusCode::kUnavailable, "x");

  // Attempt 1 fails at 30 ms; zero jitter: retry at once with the 70 ms left.
  RetryPlan plan = plan_retry(p, budget, unavailable, true, false, 1, overall, kStart + milliseconds(30), 0);
  ASSERT_EQ(plan.verdict, RetryVerdict::kRetry);
  EXPECT_EQ(plan.start, kStart + milliseconds(30));
  EXPECT_EQ(plan.deadline, overall);
  EXPECT_EQ(plan.deadline - plan.start, milliseconds(70));
  EXPECT_EQ(budget.balance_milli(kStart + milliseconds(30)), 10'200 - 1'000 + 300);

  // Attempt 2 fails at 80 ms. A full 20 ms backoff would start at 100 ms: no time.
  const std::int64_t before = budget.balance_milli(kStart + milliseconds(80));
  plan = plan_retry(p, budget, unavailable, true, false, 2, overall, kStart + milliseconds(80), kAllOnes);
  EXPECT_EQ(plan.verdict, RetryVerdict::kNoTimeLeft);
  EXPECT_EQ(budget.balance_milli(kStart + milliseconds(80)), before);  // no token spent
  // Half the ceiling (10 ms) leaves exactly 10 ms: retry at 90 ms.
  plan = plan_retry(p, budget, unavailable, true, false, 2, overall, kStart + milliseconds(80), kHalf);
  ASSERT_EQ(plan.verdict, RetryVerdict::kRetry);
  EXPECT_EQ(plan.start, kStart + milliseconds(90));
  EXPECT_EQ(plan.deadline - plan.start, milliseconds(10));
  // 4 ms before the deadline: below the 5 ms minimum even with no backoff.
  plan = plan_retry(p, budget, unavailable, true, false, 2, overall, kStart + milliseconds(96), 0);
  EXPECT_EQ(plan.verdict, RetryVerdict::kNoTimeLeft);
  // Attempt 3 fails: max_attempts (3) reached.
  plan = plan_retry(p, budget, unavailable, true, false, 3, overall, kStart + milliseconds(91), 0);
  EXPECT_EQ(plan.verdict, RetryVerdict::kAttemptsExhausted);
}

TEST(RetryPlanTest, ChecksInOrderAndSpendsOnlyOnRetry) {
  RetryPolicy p;
  p.budget_min_per_second = 1;
  RetryBudget budget(p, kStart);  // one token
  const Time far = kStart + seconds(10);
  const RpcError internal = RpcError::remote(StatusCode::kInternal, "x");
  const RpcError refused = RpcError::connection("refused");

  EXPECT_EQ(plan_retry(p, budget, internal, true, false, 1, far, kStart, 0).verdict, RetryVerdict::kNotRetryable);
  EXPECT_EQ(plan_retry(p, budget, refused, false, true, 3, far, kStart, 0).verdict,
            RetryVerdict::kAttemptsExhausted);
  EXPECT_EQ(budget.balance_milli(kStart), 1'000);
  EXPECT_EQ(plan_retry(p, budget, refused, false, true, 1, far, kStart, 0).verdict, RetryVerdict::kRetry);
  EXPECT_EQ(plan_retry(p, budget, refused, false, true, 1, far, kStart, 0).verdict, RetryVerdict::kBudgetExhausted);
  // The timeout case "only if time remains": a local timeout at the overall deadline never retries.
  RetryBudget rich(RetryPolicy{}, kStart);
  EXPECT_EQ(plan_retry(p, rich, RpcError::timeout(), true, false, 1, far, far, 0).verdict, RetryVerdict::kNoTimeLeft);
  EXPECT_EQ(plan_retry(p, rich, RpcError::timeout(), true, false, 1, far, kStart, 0).verdict, RetryVerdict::kRetry);

  RetryPolicy once;
  once.max_attempts = 1;
  EXPECT_EQ(plan_retry(once, rich, refused, true, true, 1, far, kStart, 0).verdict, RetryVerdict::kAttemptsExhausted);
  EXPECT_EQ(retry_verdict_name(RetryVerdict::kBudgetExhausted), "budget_exhausted");
}

}  // namespace
}  // namespace rpcnet::cluster

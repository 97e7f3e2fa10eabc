// rpcnet/cluster/retry_policy.h — when a failed cluster call may be tried again, and when not.
//
// Contract: everything here is sans-I/O arithmetic (time and random bits are arguments); the
// cluster client strings it together per call:
//
//   1. budget.deposit(now) once per logical call (its first attempt);
//   2. each attempt runs until attempt_deadline(overall, now, ...): every attempt gets ALL the
//      time left before the caller's one overall deadline — retries never extend it;
//   3. on failure, plan_retry(...) says whether to retry and when: the error must be retryable
//      (classify), attempts must remain (max_attempts counts the first), a full jittered backoff
//      must still leave min_attempt_time before the deadline, and the retry budget must have a
//      token. The retry goes to another worker (WorkerSet::select with the tried ids excluded).
//
// Retry budget (a token bucket in the spirit of Finagle's RetryBudget and Envoy's retry
// budgets), so retries cannot multiply load when a whole cluster is failing. Hedges (the second
// attempt of a hedged call, hedge_policy.h) spend from the same budget, so hedging cannot
// multiply it in a brownout either. Exact arithmetic, in integer milli-tokens:
//   - it starts with min(budget_min_per_second, budget_max_tokens) tokens;
//   - deposit() adds round(budget_ratio × 1000) milli-tokens;
//   - time adds budget_min_per_second tokens per second, i.e. elapsed_ns × rate / 10^6
//     milli-tokens, the remainder carried so that many small steps add up exactly;
//   - the balance never exceeds budget_max_tokens (the largest retry burst after a quiet spell);
//     refill time spent at the cap is lost;
//   - try_withdraw() takes 1000 milli-tokens if the balance holds at least that much.
// So over any period retries + hedges ≤ budget_ratio × first attempts + budget_min_per_second × seconds
// + budget_max_tokens. Out-of-range settings are clamped: ratio to [0, 100], rate to
// [0, 10^6]/s, cap to [0, 10^6] tokens.
//
// Example (fragment):
//   RetryBudget budget(policy, now);
//   budget.deposit(now);
//   auto deadline = attempt_deadline(overall, now, policy.min_attempt_time);
//   ... attempt fails with `err` at `now` ...
//   RetryPlan plan = plan_retry(policy, budget, err, idempotent, err.not_started(),
//                               /*attempts_made=*/1, overall, now, rng());
//   if (plan.verdict == RetryVerdict::kRetry) { wait until plan.start; try another worker
//                                               until plan.deadline; }
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "rpcnet/error.h"

namespace rpcnet::cluster {

// Same alias as rpcnet/cluster/member.h: the injected "now".
using Time = std::chrono::steady_clock::time_point;

struct RetryPolicy {
  int max_attempts = 3;  // attempts per call including the first; 1 disables retries
  double budget_ratio = 0.2;  // retry tokens earned per first attempt
  int budget_min_per_second = 10;  // retries allowed per second even without traffic
  std::chrono::milliseconds backoff_initial{10};  // ceiling of the first retry's jittered wait
  std::chrono::milliseconds backoff_max{200};  // the ceiling doubles per retry up to this
  int budget_max_tokens = 100;  // bucket cap: bounds a burst of retries
  std::chrono::milliseconds min_attempt_time{5};  // no attempt starts with less time left
};

// Not a wire enum; append-only all the same, so logs and metrics stay comparable.
enum class RetryDecision : std::uint8_t { kDoNotRetry, kRetryOtherWorker };

// Whether an attempt that failed with `error` may be retried on another worker:
//   - not_started (the call never reached a handler: connect failure, refused unstarted) ->
//     retry, whatever `idempotent` says — the handler did not run, so nothing can happen twice;
//   - idempotent, and the code is kUnavailable or kDeadlineExceeded -> retry (plan_retry adds
//     "only if time remains");
//   - anything else -> do not retry.
// Exceptions even when not_started: a cancellation on this side (kind kCall, code kCancelled: the
// caller gave up), kinds kConfig and kSerialization
// (local and deterministic — another worker would fail the same way).
// `not_started` is a parameter (normally error.not_started()) so callers can add knowledge the
// error lacks.
RetryDecision classify(const RpcError& error, bool idempotent, bool not_started) noexcept;

// The deadline of an attempt starting at `now`: the overall deadline itself (each attempt gets
// all the remaining time), or nullopt when less than `min_attempt_time` remains. Pass
// Time::max() for "no deadline".
std::optional<Time> attempt_deadline(Time overall_deadline, Time now,
                                     std::chrono::nanoseconds min_attempt_time) noexcept;

// The wait before retry number `retry` (1 = the first retry), "full jitter": uniform in
// [0, min(backoff_max, backoff_initial × 2^(retry-1))], drawn from `random_bits` (64 uniformly
// random bits from the caller's RNG; 0 gives 0, ~0 gives the ceiling).
std::chrono::nanoseconds backoff_delay(const RetryPolicy& policy, int retry,
                                       std::uint64_t random_bits) noexcept;
// The ceiling above, without jitter.
std::chrono::nanoseconds backoff_ceiling(const RetryPolicy& policy, int retry) noexcept;

class RetryBudget {
 public:
  RetryBudget(const RetryPolicy& policy, Time now) noexcept;

  // Once per logical call (its first attempt).
  void deposit(Time now) noexcept;
  // Before each retry or hedge: true (and one token spent) if the budget allows it.
  bool try_withdraw(Time now) noexcept;

  // The balance at `now` in milli-tokens (1000 = one retry), refill included; no side effect.
  std::int64_t balance_milli(Time now) const noexcept;

 private:
  struct Bucket {
    std::int64_t milli = 0;
    std::int64_t carry = 0;  // refill remainder, in units of 1/10^6 milli-token
    Time at;
  };
  Bucket refilled(Time now) const noexcept;

  std::int64_t deposit_milli_;
  std::int64_t rate_per_second_;
  std::int64_t cap_milli_;
  Bucket bucket_;
};

enum class RetryVerdict : std::uint8_t {
  kRetry,
  kNotRetryable,       // classify() said no
  kAttemptsExhausted,  // attempts_made >= max_attempts
  kNoTimeLeft,         // after the backoff less than min_attempt_time would remain
  kBudgetExhausted,    // the retry budget had no token
};
std::string_view retry_verdict_name(RetryVerdict verdict) noexcept;

struct RetryPlan {
  RetryVerdict verdict = RetryVerdict::kNotRetryable;
  Time start{};     // kRetry only: when to start the next attempt (now + jittered backoff)
  Time deadline{};  // kRetry only: that attempt's deadline (the overall deadline)
};

// Decides the next step after attempt number `attempts_made` failed at `now`. Checks in the
// order of RetryVerdict and spends a budget token only when everything else allows the retry.
RetryPlan plan_retry(const RetryPolicy& policy, RetryBudget& budget, const RpcError& error, bool idempotent,
                     bool not_started, int attempts_made, Time overall_deadline, Time now,
                     std::uint64_t random_bits) noexcept;

}  // namespace rpcnet::cluster

// Retry classification, deadlines across attempts, jittered backoff and the retry budget (see
// rpcnet/cluster/retry_policy.h for the exact arithmetic).
#include "rpcnet/cluster/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace rpcnet::cluster {
namespace {

using std::chrono::nanoseconds;

constexpr std::int64_t kMilliPerToken = 1000;
constexpr std::int64_t kMaxRatePerSecond = 1'000'000;
constexpr std::int64_t kMaxTokens = 1'000'000;
// Refill adds elapsed_ns × rate / kRefillDivisor milli-tokens: tokens/s × 1000 milli / 10^9 ns.
constexpr std::int64_t kRefillDivisor = 1'000'000;

// High 64 bits of a × b: maps 64 random bits onto [0, b) without modulo bias worth the name.
std::uint64_t mul_high(std::uint64_t a, std::uint64_t b) noexcept {
  const std::uint64_t a_lo = a & 0xffffffffu;
  const std::uint64_t a_hi = a >> 32;
  const std::uint64_t b_lo = b & 0xffffffffu;
  const std::uint64_t b_hi = b >> 32;
  const std::uint64_t lo_lo = a_lo * b_lo;
  const std::uint64_t hi_lo = a_hi * b_lo;
  const std::uint64_t lo_hi = a_lo * b_hi;
  const std::uint64_t hi_hi = a_hi * b_hi;
  const std::uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
  return hi_hi + (hi_lo >> 32) + (cross >> 32);
}

}  // namespace

RetryDecision classify(const RpcError& error, bool idempotent, bool not_started) noexcept {
  // Our own cancellation and our own bad input fail the same way on every worker.
  const bool cancelled_here = error.kind() == ErrorKind::kCall && error.code() == StatusCode::kCancelled;
  if (cancelled_here || error.kind() == ErrorKind::kConfig || error.kind() == ErrorKind::kSerialization) {
    return RetryDecision::kDoNotRetry;
  }
  if (not_started) return RetryDecision::kRetryOtherWorker;
  if (!idempotent) return RetryDecision::kDoNotRetry;
  if (error.code() == StatusCode::kUnavailable || error.code() == StatusCode::kDeadlineExceeded) {
    return RetryDecision::kRetryOtherWorker;
  }
  return RetryDecision::kDoNotRetry;
}

std::optional<Time> attempt_deadline(Time overall_deadline, Time now, nanoseconds min_attempt_time) noexcept {
  if (now >= overall_deadline) return std::nullopt;
  if (overall_deadline - now < min_attempt_time) return std::nullopt;
  return overall_deadline;
}

nanoseconds backoff_ceiling(const RetryPolicy& policy, int retry) noexcept {
  const nanoseconds max = std::max(nanoseconds(policy.backoff_max), nanoseconds::zero());
  nanoseconds ceiling = std::min(std::max(nanoseconds(policy.backoff_initial), nanoseconds::zero()), max);
  for (int i = 1; i < retry && ceiling < max; ++i) {
    ceiling = ceiling > max / 2 ? max : ceiling * 2;
    if (ceiling == nanoseconds::zero()) break;  // 0 doubles to 0 forever
  }
  return ceiling;
}

nanoseconds backoff_delay(const RetryPolicy& policy, int retry, std::uint64_t random_bits) noexcept {
  const auto ceiling = static_cast<std::uint64_t>(backoff_ceiling(policy, retry).count());
  return nanoseconds(static_cast<std::int64_t>(mul_high(random_bits, ceiling + 1)));
}

RetryBudget::RetryBudget(const RetryPolicy& policy, Time now) noexcept {
  const double ratio = std::isfinite(policy.budget_ratio) ? std::clamp(policy.budget_ratio, 0.0, 100.0) : 0.0;
  deposit_milli_ = std::llround(ratio * static_cast<double>(kMilliPerToken));
  rate_per_second_ = std::clamp<std::int64_t>(policy.budget_min_per_second, 0, kMaxRatePerSecond);
  cap_milli_ = std::clamp<std::int64_t>(policy.budget_max_tokens, 0, kMaxTokens) * kMilliPerToken;
  bucket_.milli = std::min(rate_per_second_ * kMilliPerToken, cap_milli_);
  bucket_.at = now;
}

RetryBudget::Bucket RetryBudget::refilled(Time now) const noexcept {
  Bucket b = bucket_;
  if (now <= b.at) return b;  // time never runs backwards for the budget
  const std::int64_t elapsed = nanoseconds(now - b.at).count();
  b.at = now;
  if (rate_per_second_ == 0 || b.milli >= cap_milli_) {
    b.carry = 0;
    return b;
  }
  // Time to fill the gap, in ns (rounded up); beyond it the bucket is simply full. Checking this
  // first keeps elapsed × rate far from overflow.
  const std::int64_t gap_units = (cap_milli_ - b.milli) * kRefillDivisor - b.carry;
  const std::int64_t to_full = (gap_units + rate_per_second_ - 1) / rate_per_second_;
  if (elapsed >= to_full) {
    b.milli = cap_milli_;
    b.carry = 0;
    return b;
  }
  const std::int64_t units = elapsed * rate_per_second_ + b.carry;
  b.milli += units / kRefillDivisor;
  b.carry = units % kRefillDivisor;
  return b;
}

void RetryBudget::deposit(Time now) noexcept {
  bucket_ = refilled(now);
  bucket_.milli = std::min(cap_milli_, bucket_.milli + deposit_milli_);
  if (bucket_.milli == cap_milli_) bucket_.carry = 0;
}

bool RetryBudget::try_withdraw(Time now) noexcept {
  bucket_ = refilled(now);
  if (bucket_.milli < kMilliPerToken) return false;
  bucket_.milli -= kMilliPerToken;
  return true;
}

std::int64_t RetryBudget::balance_milli(Time now) const noexcept { return refilled(now).milli; }

std::string_view retry_verdict_name(RetryVerdict verdict) noexcept {
  switch (verdict) {
    case RetryVerdict::kRetry: return "retry";
    case RetryVerdict::kNotRetryable: return "not_retryable";
    case RetryVerdict::kAttemptsExhausted: return "attempts_exhausted";
    case RetryVerdict::kNoTimeLeft: return "no_time_left";
    case RetryVerdict::kBudgetExhausted: return "budget_exhausted";
  }
  return "unknown";
}

RetryPlan plan_retry(const RetryPolicy& policy, RetryBudget& budget, const RpcError& error, bool idempotent,
                     bool not_started, int attempts_made, Time overall_deadline, Time now,
                     std::uint64_t random_bits) noexcept {
  RetryPlan plan;
  if (classify(error, idempotent, not_started) != RetryDecision::kRetryOtherWorker) {
    plan.verdict = RetryVerdict::kNotRetryable;
    return plan;
  }
  if (attempts_made >= policy.max_attempts) {
    plan.verdict = RetryVerdict::kAttemptsExhausted;
    return plan;
  }
  const Time start = now + backoff_delay(policy, attempts_made, random_bits);
  const auto deadline = attempt_deadline(overall_deadline, start, policy.min_attempt_time);
  if (!deadline) {
    plan.verdict = RetryVerdict::kNoTimeLeft;
    return plan;
  }
  if (!budget.try_withdraw(now)) {
    plan.verdict = RetryVerdict::kBudgetExhausted;
    return plan;
  }
  plan.verdict = RetryVerdict::kRetry;
  plan.start = start;
  plan.deadline = *deadline;
  return plan;
}

}  // namespace rpcnet::cluster

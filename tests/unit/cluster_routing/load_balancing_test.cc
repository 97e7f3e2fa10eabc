// WorkerSet: eligibility (filter, health class, exclude), the four strategies with exact picks,
// the uniformity of kRandom, and the peak-EWMA arithmetic.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "rpcnet/cluster/load_balancing.h"
#include "support/error_matchers.h"

namespace rpcnet::cluster {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const Time kT0 = Time{} + seconds(1000);

WorkerInfo worker(std::string id, std::map<std::string, std::string> tags = {{"role", "worker"}},
                  WorkerHealth health = WorkerHealth::kHealthy) {
  WorkerInfo w;
  w.id = std::move(id);
  w.address = SocketAddress(asio::ip::make_address("127.0.0.1"), 7000);
  w.tags = std::move(tags);
  w.health = health;
  return w;
}

TagFilter filter(std::string_view text) {
  auto f = TagFilter::parse(text);
  EXPECT_TRUE(f.ok());
  return f.ok() ? *f : TagFilter();
}

LoadBalancerConfig with(LoadBalancingStrategy s) {
  LoadBalancerConfig c;
  c.strategy = s;
  return c;
}

// Returns the scripted values in order, then repeats the last one.
WorkerSet::Rng scripted(std::vector<std::uint64_t> values) {
  return [values = std::move(values), i = std::size_t{0}]() mutable -> std::uint64_t {
    if (values.empty()) {
      ADD_FAILURE() << "unexpected random draw";
      return 0;
    }
    const std::uint64_t v = values[std::min(i, values.size() - 1)];
    ++i;
    return v;
  };
}

std::string pick(WorkerSet& set, const TagFilter& f = TagFilter(), const std::set<std::string>& exclude = {}) {
  auto w = set.select(f, kT0, exclude);
  return w ? w->id : "-";
}

std::vector<std::string> picks(WorkerSet& set, int n, const TagFilter& f = TagFilter()) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(pick(set, f));
  return out;
}

using Ids = std::vector<std::string>;

TEST(WorkerSetRoundRobin, RotatesInIdOrder) {
  WorkerSet set(with(LoadBalancingStrategy::kRoundRobin), 1);
  set.upsert(worker("c"));
  set.upsert(worker("a"));
  set.upsert(worker("b"));
  EXPECT_EQ(picks(set, 7), (Ids{"a", "b", "c", "a", "b", "c", "a"}));
}

TEST(WorkerSetRoundRobin, JoinTakesItsTurnAndLeaveDoesNotRestart) {
  WorkerSet set(with(LoadBalancingStrategy::kRoundRobin), 1);
  for (const char* id : {"a", "b", "c"}) set.upsert(worker(id));
  EXPECT_EQ(picks(set, 2), (Ids{"a", "b"}));
  set.upsert(worker("bb"));  // joins between b and c
  EXPECT_EQ(picks(set, 5), (Ids{"bb", "c", "a", "b", "bb"}));
  EXPECT_TRUE(set.remove("c"));  // the next one in line leaves
  EXPECT_EQ(picks(set, 2), (Ids{"a", "b"}));
  EXPECT_TRUE(set.remove("b"));  // the one just served leaves
  EXPECT_EQ(picks(set, 3), (Ids{"bb", "a", "bb"}));
  set.upsert(worker("0"));  // joins before everyone, after the cursor wrapped past it
  EXPECT_EQ(picks(set, 4), (Ids{"0", "a", "bb", "0"}));
}

TEST(WorkerSetRoundRobin, EachFilterHasItsOwnRotation) {
  WorkerSet set(with(LoadBalancingStrategy::kRoundRobin), 1);
  set.upsert(worker("a"));
  set.upsert(worker("b"));
  set.upsert(worker("c", {{"role", "worker"}, {"gpu", "1"}}));
  const TagFilter all = filter("role=worker");
  const TagFilter gpu = filter("gpu");
  Ids seen;
  for (int i = 0; i < 4; ++i) {
    seen.push_back(pick(set, all));
    seen.push_back(pick(set, gpu));
  }
  // With one shared cursor the gpu picks would drag "all" back to "a" every time.
  EXPECT_EQ(seen, (Ids{"a", "c", "b", "c", "c", "c", "a", "c"}));
}

TEST(WorkerSetRoundRobin, ExcludedWorkerIsSkippedAndRotationGoesOn) {
  WorkerSet set(with(LoadBalancingStrategy::kRoundRobin), 1);
  for (const char* id : {"a", "b", "c"}) set.upsert(worker(id));
  EXPECT_EQ(pick(set), "a");
  EXPECT_EQ(pick(set, TagFilter(), {"b"}), "c");
  EXPECT_EQ(pick(set), "a");
  EXPECT_EQ(pick(set, TagFilter(), {"a", "b", "c"}), "-");
  EXPECT_EQ(pick(set), "b");
}

TEST(WorkerSetEligibility, FilterHealthAndExclude) {
  WorkerSet set(with(LoadBalancingStrategy::kRoundRobin), 1);
  set.upsert(worker("a"));
  set.upsert(worker("b", {{"role", "worker"}}, WorkerHealth::kSuspect));
  set.upsert(worker("g", {{"role", "worker"}, {"gpu", "1"}}, WorkerHealth::kSuspect));
  set.upsert(worker("r", {{"role", "router"}}));
  const TagFilter workers = filter("role=worker");

  // Suspects are never chosen while a healthy match exists.
  EXPECT_EQ(picks(set, 4, workers), (Ids{"a", "a", "a", "a"}));
  // Only suspects match: they are used rather than failing the call.
  EXPECT_EQ(picks(set, 2, filter("gpu")), (Ids{"g", "g"}));
  // Excluding the healthy one falls back to the suspects, in rotation.
  EXPECT_EQ(pick(set, workers, {"a"}), "b");
  EXPECT_EQ(pick(set, workers, {"a"}), "g");
  EXPECT_EQ(pick(set, workers, {"a", "b"}), "g");
  EXPECT_EQ(pick(set, workers, {"a", "b", "g"}), "-");
  EXPECT_EQ(pick(set, filter("role=none")), "-");

  // set_suspect moves workers between the classes.
  EXPECT_TRUE(set.set_suspect("a", true));
  EXPECT_TRUE(set.set_suspect("b", false));
  EXPECT_EQ(picks(set, 3, workers), (Ids{"b", "b", "b"}));
  EXPECT_FALSE(set.set_suspect("nobody", true));

  WorkerSet empty(with(LoadBalancingStrategy::kPowerOfTwoChoices), 1);
  EXPECT_EQ(pick(empty), "-");
}

TEST(WorkerSetEligibility, EveryStrategyHonoursHealthAndExclude) {
  for (const auto s : {LoadBalancingStrategy::kRoundRobin, LoadBalancingStrategy::kRandom,
                       LoadBalancingStrategy::kLeastConnections, LoadBalancingStrategy::kPowerOfTwoChoices}) {
    SCOPED_TRACE(load_balancing_strategy_name(s));
    WorkerSet set(with(s), 7);
    set.upsert(worker("a"));
    set.upsert(worker("b"));
    set.upsert(worker("s", {{"role", "worker"}}, WorkerHealth::kSuspect));
    for (int i = 0; i < 200; ++i) {
      const std::string p = pick(set);
      EXPECT_TRUE(p == "a" || p == "b") << p;
      EXPECT_EQ(pick(set, TagFilter(), {"a"}), "b");
      EXPECT_EQ(pick(set, TagFilter(), {"a", "b"}), "s");
    }
  }
}

TEST(WorkerSetRandom, SameSeedSameSequenceOtherSeedOtherSequence) {
  auto run = [](std::uint64_t seed) {
    WorkerSet set(with(LoadBalancingStrategy::kRandom), seed);
    for (const char* id : {"a", "b", "c", "d"}) set.upsert(worker(id));
    return picks(set, 64);
  };
  EXPECT_EQ(run(11), run(11));
  EXPECT_NE(run(11), run(12));
}

// Pearson's chi-square over 4 workers x 40000 picks; 3 degrees of freedom, critical value at
// p = 0.001 is 16.266. A biased picker (e.g. modulo over a 3-bit draw) lands far above it.
double chi_square_of_random_picks(std::uint64_t seed) {
  WorkerSet set(with(LoadBalancingStrategy::kRandom), seed);
  const Ids ids{"a", "b", "c", "d"};
  for (const auto& id : ids) set.upsert(worker(id));
  std::map<std::string, int> counts;
  constexpr int kPicks = 40000;
  for (int i = 0; i < kPicks; ++i) ++counts[pick(set)];
  EXPECT_EQ(counts.size(), 4u);
  const double expected = kPicks / 4.0;
  double chi2 = 0;
  for (const auto& id : ids) chi2 += (counts[id] - expected) * (counts[id] - expected) / expected;
  return chi2;
}

TEST(WorkerSetRandom, UniformByChiSquare) {
  EXPECT_LT(chi_square_of_random_picks(1), 16.266);
  EXPECT_LT(chi_square_of_random_picks(20261126), 16.266);
}

TEST(WorkerSetRandom, UsesTheInjectedRng) {
  WorkerSet set(with(LoadBalancingStrategy::kRandom), scripted({2, 0, 3, 1}));
  for (const char* id : {"a", "b", "c", "d"}) set.upsert(worker(id));
  EXPECT_EQ(picks(set, 4), (Ids{"c", "a", "d", "b"}));
}

TEST(WorkerSetLeastConnections, PrefersIdleWorkers) {
  WorkerSet set(with(LoadBalancingStrategy::kLeastConnections), 3);
  for (const char* id : {"a", "b", "c"}) set.upsert(worker(id));
  set.on_call_started("a");
  set.on_call_started("a");
  set.on_call_started("c");
  // in flight: a=2 b=0 c=1
  EXPECT_EQ(picks(set, 5), (Ids{"b", "b", "b", "b", "b"}));
  set.on_call_started("b");
  set.on_call_started("b");
  // a=2 b=2 c=1
  EXPECT_EQ(pick(set), "c");
  set.on_call_finished("a", milliseconds(1), kT0, false);
  set.on_call_finished("a", milliseconds(1), kT0, false);
  // a=0 b=2 c=1
  EXPECT_EQ(pick(set), "a");
  EXPECT_EQ(set.load("a")->in_flight, 0u);
  EXPECT_EQ(set.load("b")->in_flight, 2u);
  EXPECT_EQ(set.load("c")->in_flight, 1u);
}

TEST(WorkerSetLeastConnections, TiesAreBrokenByTheRng) {
  WorkerSet set(with(LoadBalancingStrategy::kLeastConnections), scripted({1, 0, 1, 1, 0}));
  for (const char* id : {"a", "b", "c"}) set.upsert(worker(id));
  for (int i = 0; i < 5; ++i) set.on_call_started("c");
  // a and b tie at 0: the draw picks among them, c (5 in flight) is never a candidate.
  EXPECT_EQ(picks(set, 5), (Ids{"b", "a", "b", "b", "a"}));
}

TEST(WorkerSetLeastConnections, TiesSpreadOverAllIdleWorkers) {
  WorkerSet set(with(LoadBalancingStrategy::kLeastConnections), 5);
  for (const char* id : {"a", "b", "c", "d"}) set.upsert(worker(id));
  set.on_call_started("d");
  std::map<std::string, int> counts;
  for (int i = 0; i < 3000; ++i) ++counts[pick(set)];
  EXPECT_EQ(counts.count("d"), 0u);
  for (const char* id : {"a", "b", "c"}) {
    EXPECT_GT(counts[id], 850) << id;  // 1000 expected; binomial sd ~26
    EXPECT_LT(counts[id], 1150) << id;
  }
}

TEST(WorkerSetP2C, TwoDistinctCandidatesLowerScoreWins) {
  // Draws: i = v0 % 3, j = v1 % 2 (+1 when j >= i).
  WorkerSet set(with(LoadBalancingStrategy::kPowerOfTwoChoices), scripted({0, 0, 0, 0, 2, 1, 1, 0}));
  for (const char* id : {"a", "b", "c"}) set.upsert(worker(id));
  set.on_call_started("a");
  set.on_call_finished("a", milliseconds(10), kT0, false);
  set.on_call_started("b");
  set.on_call_finished("b", milliseconds(1), kT0, false);
  set.on_call_started("c");
  set.on_call_finished("c", milliseconds(4), kT0, false);
  EXPECT_EQ(pick(set), "b");  // {a, b}: 10 ms vs 1 ms
  for (int i = 0; i < 20; ++i) set.on_call_started("b");  // b: 21 x 1 ms = 21 ms
  EXPECT_EQ(pick(set), "a");  // {a, b}: 10 ms vs 21 ms
  EXPECT_EQ(pick(set), "c");  // i = 2, j = 1: {c, b}: 4 ms vs 21 ms
  EXPECT_EQ(pick(set), "a");  // i = 1, j = 0: {b, a}: 21 ms vs 10 ms
}

TEST(WorkerSetP2C, EqualScoresKeepTheFirstDrawAndOneCandidateNeedsNoDraw) {
  WorkerSet set(with(LoadBalancingStrategy::kPowerOfTwoChoices), scripted({1, 0}));
  set.upsert(worker("a"));
  set.upsert(worker("b"));
  // Both unsampled: 1 ms initial guess, nothing in flight. i = 1 (b), j = 0 (a): tie -> b.
  EXPECT_EQ(pick(set), "b");
  WorkerSet single(with(LoadBalancingStrategy::kPowerOfTwoChoices), scripted({}));
  single.upsert(worker("only"));
  EXPECT_EQ(pick(single), "only");  // the empty script fails the test if it is drawn from
}

TEST(WorkerSetP2C, TheTwoChoicesAreAlwaysDistinct) {
  // With two workers every pick must compare both; drawing the same one twice would sometimes
  // send a call to the loaded worker alone.
  WorkerSet set(with(LoadBalancingStrategy::kPowerOfTwoChoices), 99);
  set.upsert(worker("busy"));
  set.upsert(worker("idle"));
  for (int i = 0; i < 50; ++i) set.on_call_started("busy");
  EXPECT_EQ(picks(set, 500), Ids(500, "idle"));
}

TEST(WorkerSetRoundRobin, ManyFiltersKeepWorkingPastTheCursorCap) {
  WorkerSet set(with(LoadBalancingStrategy::kRoundRobin), 1);
  for (const char* id : {"a", "b"}) set.upsert(worker(id));
  const TagFilter role = filter("role=worker");
  EXPECT_EQ(pick(set, role), "a");
  // 300 other filters (no worker matches them): the cursor table is cleared once, never grows
  // beyond its bound, and selection goes on.
  for (int i = 0; i < 300; ++i) EXPECT_EQ(pick(set, filter("x" + std::to_string(i))), "-");
  for (int i = 0; i < 300; ++i) {
    set.upsert(worker("z" + std::to_string(i), {{"x" + std::to_string(i), ""}}));
    EXPECT_EQ(pick(set, filter("x" + std::to_string(i))), "z" + std::to_string(i));
  }
  const std::string next = pick(set, role);  // the role cursor may have been cleared: restart or go on
  EXPECT_TRUE(next == "a" || next == "b") << next;
  EXPECT_NE(pick(set, role), next);
}

TEST(WorkerSetP2C, SlowIdleWorkerIsProbedAgainAfterItsEstimateDecays) {
  WorkerSet set(with(LoadBalancingStrategy::kPowerOfTwoChoices), scripted({0, 0}));
  set.upsert(worker("fast"));
  set.upsert(worker("slow"));
  set.on_call_finished("fast", milliseconds(2), kT0, false);
  set.on_call_finished("slow", milliseconds(100), kT0, false);
  EXPECT_EQ(set.select(TagFilter(), kT0)->id, "fast");
  // fast keeps being sampled at 2 ms; slow is not: 100 ms x e^(-t/10s) drops below 2 ms after
  // 10 s x ln 50 = 39.1 s.
  const Time later = kT0 + seconds(40);
  set.on_call_finished("fast", milliseconds(2), later, false);
  EXPECT_EQ(set.select(TagFilter(), later)->id, "slow");
}

TEST(WorkerSetPeakEwma, ExactArithmetic) {
  LoadBalancerConfig config;
  config.initial_latency = milliseconds(1);
  config.ewma_tau = seconds(10);
  config.failure_penalty = milliseconds(100);
  WorkerSet set(config, 1);
  set.upsert(worker("w"));
  EXPECT_EQ(*set.latency_estimate("w", kT0), milliseconds(1));  // the guess, never decays
  EXPECT_EQ(*set.latency_estimate("w", kT0 + seconds(100)), milliseconds(1));
  EXPECT_FALSE(set.load("w")->sampled);

  set.on_call_finished("w", microseconds(500), kT0, false);  // the first sample replaces the guess
  EXPECT_EQ(set.load("w")->latency_estimate, microseconds(500));
  EXPECT_TRUE(set.load("w")->sampled);

  set.on_call_finished("w", milliseconds(20), kT0 + seconds(1), false);  // peak: jump
  EXPECT_EQ(set.load("w")->latency_estimate, milliseconds(20));

  // 10 s (one tau) later a lower sample: 20 e^-1 + 10 (1 - e^-1) = 13.678794 ms.
  set.on_call_finished("w", milliseconds(10), kT0 + seconds(11), false);
  const double expected = 20e6 * std::exp(-1.0) + 10e6 * (1 - std::exp(-1.0));
  EXPECT_NEAR(static_cast<double>(set.load("w")->latency_estimate.count()), expected, 1.0);
  EXPECT_EQ(set.load("w")->latency_estimate, nanoseconds(13678794));

  // Read between samples: decayed toward zero by e^(-elapsed/tau); the stored value is unchanged.
  EXPECT_EQ(*set.latency_estimate("w", kT0 + seconds(11)), nanoseconds(13678794));
  EXPECT_EQ(*set.latency_estimate("w", kT0 + seconds(21)), nanoseconds(std::llround(expected * std::exp(-1.0))));
  EXPECT_EQ(set.load("w")->latency_estimate, nanoseconds(13678794));

  // A fast failure counts as the 100 ms penalty; a slow failure at its real latency.
  set.on_call_finished("w", milliseconds(2), kT0 + seconds(11), true);
  EXPECT_EQ(set.load("w")->latency_estimate, milliseconds(100));
  set.on_call_finished("w", milliseconds(300), kT0 + seconds(11), true);
  EXPECT_EQ(set.load("w")->latency_estimate, milliseconds(300));
  EXPECT_EQ(set.load("w")->failures, 2u);

  // A sample equal in time to the last one (Δ = 0) has weight 0: the estimate stays.
  set.on_call_finished("w", milliseconds(1), kT0 + seconds(11), false);
  EXPECT_EQ(set.load("w")->latency_estimate, milliseconds(300));
}

TEST(WorkerSetStats, SurviveUpdatesNotRemovalAndNeverUnderflow) {
  WorkerSet set(with(LoadBalancingStrategy::kLeastConnections), 1);
  set.upsert(worker("w"));
  set.on_call_started("w");
  set.on_call_started("w");
  set.on_call_finished("w", milliseconds(7), kT0, false);
  WorkerInfo moved = worker("w", {{"role", "worker"}, {"zone", "b"}}, WorkerHealth::kSuspect);
  set.upsert(moved);
  EXPECT_EQ(*set.find("w"), moved);
  EXPECT_EQ(set.load("w")->in_flight, 1u);
  EXPECT_EQ(set.load("w")->calls, 2u);
  EXPECT_EQ(set.load("w")->latency_estimate, milliseconds(7));

  set.on_call_finished("w", milliseconds(7), kT0, false);
  set.on_call_finished("w", milliseconds(7), kT0, false);  // one too many: stays at 0
  EXPECT_EQ(set.load("w")->in_flight, 0u);

  EXPECT_TRUE(set.remove("w"));
  EXPECT_FALSE(set.remove("w"));
  set.on_call_started("w");  // unknown ids are ignored
  set.on_call_finished("w", milliseconds(1), kT0, true);
  EXPECT_FALSE(set.load("w").has_value());
  set.upsert(worker("w"));
  EXPECT_EQ(set.load("w")->calls, 0u);
  EXPECT_EQ(set.load("w")->latency_estimate, milliseconds(1));
  EXPECT_EQ(set.size(), 1u);
  EXPECT_EQ(set.workers(), std::vector<WorkerInfo>{worker("w")});
}

TEST(WorkerHealthOfMember, MapsStateAndLocalHealth) {
  Member m;
  m.id = "n";
  m.state = MemberState::kAlive;
  m.healthy = true;
  EXPECT_EQ(worker_health(m), WorkerHealth::kHealthy);
  m.healthy = false;
  EXPECT_EQ(worker_health(m), WorkerHealth::kSuspect);
  m.state = MemberState::kSuspect;
  m.healthy = true;
  EXPECT_EQ(worker_health(m), WorkerHealth::kSuspect);
  m.state = MemberState::kDead;
  EXPECT_EQ(worker_health(m), std::nullopt);
  m.state = MemberState::kLeft;
  EXPECT_EQ(worker_health(m), std::nullopt);
}

TEST(LoadBalancingStrategyNames, RoundTrip) {
  for (const auto s : {LoadBalancingStrategy::kRoundRobin, LoadBalancingStrategy::kRandom,
                       LoadBalancingStrategy::kLeastConnections, LoadBalancingStrategy::kPowerOfTwoChoices}) {
    auto parsed = parse_load_balancing_strategy(load_balancing_strategy_name(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(load_balancing_strategy_name(LoadBalancingStrategy::kPowerOfTwoChoices), "p2c");
  EXPECT_EQ(*parse_load_balancing_strategy("power_of_two_choices"), LoadBalancingStrategy::kPowerOfTwoChoices);
  auto bad = parse_load_balancing_strategy("fastest");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad, rpcnet::testing::ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
  EXPECT_NE(bad.error().message().find("'fastest'"), std::string::npos);
  EXPECT_EQ(LoadBalancerConfig().strategy, LoadBalancingStrategy::kPowerOfTwoChoices);
}

}  // namespace
}  // namespace rpcnet::cluster

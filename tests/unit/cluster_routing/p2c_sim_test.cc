// Power of two choices under load, in a tiny discrete-event simulation (virtual time, seeded).
//
// Five workers, each serving up to kSlots calls at once (FIFO queue behind them), exponential
// service times with a 1 ms mean; in the "slow" scenario one worker's mean is 10 ms. Calls
// arrive as a Poisson stream and are routed by a WorkerSet; latency = queueing + service. The
// issue's criterion: with one 10x slower worker, P2C's p99 stays below twice the p99 of the
// all-healthy cluster. Round robin in the same setup must fail that bound (it keeps feeding the
// slow worker its 1/5 share), which shows the simulation can tell the difference.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <queue>
#include <string>
#include <vector>

#include "cluster/prng.h"
#include "rpcnet/cluster/load_balancing.h"

namespace rpcnet::cluster {
namespace {

using std::chrono::nanoseconds;

constexpr int kWorkers = 5;
constexpr int kSlots = 4;
constexpr int kCalls = 20000;
// Offered loads: 40% of the healthy cluster's 20 calls/ms (round robin then overloads the slow
// worker: 1.6 calls/ms against its 0.4), and 7.5% (the slow worker stays stable at 75% busy
// under round robin, so the difference the test sees is latency, not an exploding queue).
constexpr double kModerateLoadPerMs = 8.0;
constexpr double kLightLoadPerMs = 1.5;
constexpr double kFastMeanMs = 1.0;
constexpr double kSlowMeanMs = 10.0;
constexpr int kSlowWorker = 2;

struct SimResult {
  double p50_ms = 0;
  double p99_ms = 0;
  std::vector<int> served;  // calls per worker
};

double exponential_ms(Prng& rng, double mean_ms) {
  const double u = static_cast<double>(rng.next() >> 11) * 0x1p-53;  // [0, 1)
  return -mean_ms * std::log1p(-u);
}

nanoseconds ms_to_ns(double ms) { return nanoseconds(static_cast<std::int64_t>(ms * 1e6)); }

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(rank, v.size() - 1)];
}

SimResult simulate(LoadBalancingStrategy strategy, bool one_slow, std::uint64_t seed, double arrivals_per_ms) {
  LoadBalancerConfig config;
  config.strategy = strategy;
  WorkerSet set(config, seed);
  Prng rng(seed, "p2c-sim");
  std::vector<std::string> ids;
  for (int w = 0; w < kWorkers; ++w) {
    ids.push_back("w" + std::to_string(w));
    WorkerInfo info;
    info.id = ids.back();
    set.upsert(info);
  }
  std::map<std::string, int> index;
  for (int w = 0; w < kWorkers; ++w) index[ids[static_cast<std::size_t>(w)]] = w;

  struct Completion {
    Time at;
    int worker;
    Time arrived;
    bool operator>(const Completion& o) const { return at > o.at; }
  };
  std::priority_queue<Completion, std::vector<Completion>, std::greater<>> completions;
  std::vector<int> busy(kWorkers, 0);
  std::vector<std::deque<Time>> waiting(kWorkers);
  SimResult result;
  result.served.assign(kWorkers, 0);
  std::vector<double> latencies;
  latencies.reserve(kCalls);

  auto start_service = [&](int w, Time now, Time arrived) {
    ++busy[static_cast<std::size_t>(w)];
    const double mean = one_slow && w == kSlowWorker ? kSlowMeanMs : kFastMeanMs;
    completions.push({now + ms_to_ns(exponential_ms(rng, mean)), w, arrived});
  };
  auto complete = [&](const Completion& c) {
    const auto wi = static_cast<std::size_t>(c.worker);
    --busy[wi];
    set.on_call_finished(ids[wi], c.at - c.arrived, c.at, false);
    latencies.push_back(std::chrono::duration<double, std::milli>(c.at - c.arrived).count());
    if (!waiting[wi].empty()) {
      const Time arrived = waiting[wi].front();
      waiting[wi].pop_front();
      start_service(c.worker, c.at, arrived);
    }
  };

  Time now = Time{} + std::chrono::seconds(1);
  for (int call = 0; call < kCalls; ++call) {
    now += ms_to_ns(exponential_ms(rng, 1.0 / arrivals_per_ms));
    while (!completions.empty() && completions.top().at <= now) {
      const Completion c = completions.top();
      completions.pop();
      complete(c);
    }
    const auto chosen = set.select(TagFilter(), now);
    if (!chosen) {
      ADD_FAILURE() << "no worker selected";
      return result;
    }
    const int w = index[chosen->id];
    ++result.served[static_cast<std::size_t>(w)];
    set.on_call_started(chosen->id);
    if (busy[static_cast<std::size_t>(w)] < kSlots) {
      start_service(w, now, now);
    } else {
      waiting[static_cast<std::size_t>(w)].push_back(now);
    }
  }
  // Drain: every call completes (bounded: each completion either empties a slot or starts one
  // of the finitely many waiting calls).
  while (!completions.empty()) {
    const Completion c = completions.top();
    completions.pop();
    complete(c);
  }
  EXPECT_EQ(latencies.size(), static_cast<std::size_t>(kCalls));
  result.p50_ms = percentile(latencies, 0.50);
  result.p99_ms = percentile(latencies, 0.99);
  return result;
}

void expect_p2c_absorbs_a_slow_worker(double arrivals_per_ms) {
  for (const std::uint64_t seed : {1ULL, 2ULL, 3ULL}) {
    SCOPED_TRACE(seed);
    const SimResult healthy = simulate(LoadBalancingStrategy::kPowerOfTwoChoices, false, seed, arrivals_per_ms);
    const SimResult slow = simulate(LoadBalancingStrategy::kPowerOfTwoChoices, true, seed, arrivals_per_ms);
    const SimResult rr_slow = simulate(LoadBalancingStrategy::kRoundRobin, true, seed, arrivals_per_ms);
    std::printf("load %.1f/ms seed %llu: p99 healthy %.3f ms, P2C with slow %.3f ms (slow served %d), "
                "RR with slow %.3f ms\n",
                arrivals_per_ms, static_cast<unsigned long long>(seed), healthy.p99_ms, slow.p99_ms,
                slow.served[kSlowWorker], rr_slow.p99_ms);
    EXPECT_LT(slow.p99_ms, 2 * healthy.p99_ms);
    // The detector half: round robin sends the slow worker its full share and blows the bound.
    EXPECT_EQ(rr_slow.served[kSlowWorker], kCalls / kWorkers);
    EXPECT_GT(rr_slow.p99_ms, 2 * healthy.p99_ms);
    // P2C steers most traffic away from the slow worker (a fair share would be 4000 calls).
    EXPECT_LT(slow.served[kSlowWorker], kCalls / kWorkers / 4);
  }
}

TEST(P2CSimulation, SlowWorkerBarelyMovesP99AtModerateLoad) { expect_p2c_absorbs_a_slow_worker(kModerateLoadPerMs); }

TEST(P2CSimulation, SlowWorkerBarelyMovesP99AtLightLoad) { expect_p2c_absorbs_a_slow_worker(kLightLoadPerMs); }

TEST(P2CSimulation, LatencyBlindStrategiesSufferInTheSameSetup) {
  // Not a criterion of the issue; pins that the bound above is a property of P2C's latency
  // awareness and not of a lenient setup.
  for (const auto strategy : {LoadBalancingStrategy::kRandom, LoadBalancingStrategy::kLeastConnections}) {
    SCOPED_TRACE(load_balancing_strategy_name(strategy));
    const SimResult healthy = simulate(LoadBalancingStrategy::kPowerOfTwoChoices, false, 9, kLightLoadPerMs);
    const SimResult blind = simulate(strategy, true, 9, kLightLoadPerMs);
    std::printf("%s with slow: p99 %.3f ms vs healthy %.3f ms\n",
                std::string(load_balancing_strategy_name(strategy)).c_str(), blind.p99_ms, healthy.p99_ms);
    EXPECT_GT(blind.p99_ms, 2 * healthy.p99_ms);
  }
}

}  // namespace
}  // namespace rpcnet::cluster

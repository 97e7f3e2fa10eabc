// The simulator against SWIM's analytic result (research/membership.md §1.2, §10.6 check 1):
// with every live member pinging one uniformly random other member per protocol period, the
// expected number of periods until a crashed member is first pinged is
//   1 / (1 - (1 - 1/(n-1))^(n-1)),
// which tends to e/(e-1) ≈ 1.582 as n grows (1.567 at n = 32). If the simulator's timers,
// delivery or seeded randomness were skewed, membench's numbers would not count; this pins them
// to the formula with toy nodes, independently of our own SWIM core (which probes in shuffled
// round-robin order, so its first probe comes sooner; membench measures that).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "rpcnet/testing/seeded_rng.h"
#include "rpcnet/testing/sim_network.h"
#include "sim/toy_nodes.h"

namespace rpcnet::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

SocketAddress member_address(std::size_t i) {
  return SocketAddress(asio::ip::make_address_v4(static_cast<asio::ip::address_v4::uint_type>(
                           0x0A000000u + 1u + static_cast<std::uint32_t>(i))),
                       7946);
}

// Pings one uniformly random member of `peers` (itself excluded) at every multiple of `period`.
class RandomPinger : public SimNode {
 public:
  RandomPinger(SimNetwork& net, std::size_t self, std::size_t n, SimDuration period, SeededRng rng)
      : net_(net), self_(self), n_(n), period_(period), deadline_(net.now() + period), rng_(rng) {}

  void on_datagram(const SocketAddress&, std::span<const std::byte>, SimTime) override {}
  void on_timer(SimTime) override {
    std::size_t target = rng_.uniform(n_ - 1);
    if (target >= self_) ++target;
    net_.send(member_address(self_), member_address(target), toy::packet('P', 0));
    deadline_ += period_;
  }
  SimTime next_deadline() const override { return deadline_; }

 private:
  SimNetwork& net_;
  std::size_t self_;
  std::size_t n_;
  SimDuration period_;
  SimTime deadline_;
  SeededRng rng_;
};

// Periods until the crashed member 0 is first pinged (a packet to it is dropped as unreachable),
// or 0 when it is not pinged within `max_periods`.
int periods_to_first_ping(std::size_t n, std::uint64_t seed, int max_periods) {
  const SimDuration period = seconds(1);
  SimNetwork net({.seed = seed, .link = {.delay = milliseconds(1)}});
  const SeededRng rng(seed);
  std::vector<std::unique_ptr<RandomPinger>> nodes;
  for (std::size_t i = 0; i < n; ++i) {
    nodes.push_back(std::make_unique<RandomPinger>(net, i, n, period, rng.fork(i)));
    EXPECT_TRUE(net.add_node(member_address(i), *nodes.back()));
  }
  EXPECT_TRUE(net.crash(member_address(0)));
  const SimTime start = net.now();
  for (int k = 1; k <= max_periods; ++k) {
    // Period k's pings leave at k·T and arrive 1 ms later, long before k·T + T/2.
    EXPECT_TRUE(net.run_until(start + k * period + period / 2));
    if (net.totals().dropped_unreachable > 0) return k;
  }
  return 0;
}

TEST(SwimModel, FirstPingOfACrashedMemberMatchesTheAnalyticExpectation) {
  constexpr std::size_t n = 32;
  constexpr int trials = 4000;
  const double miss = std::pow(1.0 - 1.0 / static_cast<double>(n - 1), static_cast<double>(n - 1));
  const double expected = 1.0 / (1.0 - miss);  // 1.567
  double sum = 0;
  int in_first_period = 0;
  for (int t = 0; t < trials; ++t) {
    const int k = periods_to_first_ping(n, 1000 + static_cast<std::uint64_t>(t), 40);
    ASSERT_GT(k, 0) << "trial " << t << " never pinged the crashed member";
    sum += k;
    if (k == 1) ++in_first_period;
  }
  // The periods are geometric with p = 1 - miss: standard deviation sqrt(miss)/p ≈ 0.94, so the
  // mean of 4000 trials has a standard error of 0.015 and ±0.05 (§10.6) is more than 3 of them.
  EXPECT_NEAR(sum / trials, expected, 0.05);
  EXPECT_NEAR(static_cast<double>(in_first_period) / trials, 1.0 - miss, 0.025);
  // And the large-n limit the paper states.
  EXPECT_NEAR(1.0 / (1.0 - std::exp(-1.0)), 1.582, 0.001);
}

}  // namespace
}  // namespace rpcnet::testing

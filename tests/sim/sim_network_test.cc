// SimNetwork: loss, delay and jitter, per-link overrides, partitions, crash/restart, slow
// nodes, event ordering, the event budget, and determinism via the transcript hash.
#include "rpcnet/testing/sim_network.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "sim/toy_nodes.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using toy::packet;
using toy::Pinger;
using toy::Ponger;

SocketAddress addr(int i) {
  return SocketAddress(asio::ip::make_address_v4("10.0.0." + std::to_string(i)), 7946);
}

// Sends `count` packets from a to b (b registered as a silent sink) and runs to completion.
std::size_t delivered_out_of(std::uint64_t seed, double loss, int count) {
  SimNetwork net({.seed = seed});
  net.set_loss(loss);
  Ponger b(net, addr(2));
  EXPECT_TRUE(net.add_node(addr(2), b));
  for (int i = 0; i < count; ++i) net.send(addr(1), addr(2), packet('X', static_cast<std::uint32_t>(i)));
  EXPECT_TRUE(net.run_for(seconds(1)));
  return b.seen.size();
}

TEST(SimNetwork, NoLossDeliversEveryPacket) {
  EXPECT_EQ(delivered_out_of(1, 0.0, 1000), 1000u);
}

TEST(SimNetwork, FullLossDeliversNothing) { EXPECT_EQ(delivered_out_of(1, 1.0, 1000), 0u); }

TEST(SimNetwork, TenPercentLossStaysWithinTheBinomialBound) {
  // Binomial(10000, 0.9): mean 9000, sd 30. Five sd either side, for three seeds.
  for (std::uint64_t seed : {1, 2, 3}) {
    const auto got = static_cast<double>(delivered_out_of(seed, 0.1, 10000));
    EXPECT_NEAR(got, 9000.0, 150.0) << "seed " << seed;
  }
}

TEST(SimNetwork, LossIsCountedAtTheSender) {
  SimNetwork net({.seed = 4});
  net.set_loss(1.0);
  Ponger a(net, addr(1)), b(net, addr(2));
  ASSERT_TRUE(net.add_node(addr(1), a));
  ASSERT_TRUE(net.add_node(addr(2), b));
  for (int i = 0; i < 5; ++i) net.send(addr(1), addr(2), packet('X', 0, 100));
  ASSERT_TRUE(net.run_for(seconds(1)));
  EXPECT_EQ(net.counters(addr(1)).packets_sent, 5u);
  EXPECT_EQ(net.counters(addr(1)).bytes_sent, 500u);
  EXPECT_EQ(net.counters(addr(1)).dropped_loss, 5u);
  EXPECT_EQ(net.counters(addr(2)).packets_received, 0u);
  EXPECT_EQ(net.totals().dropped_loss, 5u);
}

TEST(SimNetwork, ZeroJitterDeliversAfterExactlyTheBaseDelay) {
  SimNetwork net({.seed = 1, .link = {.delay = milliseconds(7)}});
  Ponger b(net, addr(2));
  ASSERT_TRUE(net.add_node(addr(2), b));
  const SimTime start = net.now();
  net.send(addr(1), addr(2), packet('X', 0));
  ASSERT_TRUE(net.run_for(milliseconds(6)));
  EXPECT_TRUE(b.seen.empty());
  ASSERT_TRUE(net.run_for(milliseconds(1)));
  ASSERT_EQ(b.seen.size(), 1u);
  EXPECT_EQ(b.seen[0].at, start + milliseconds(7));
}

TEST(SimNetwork, JitterStaysWithinBaseDelayPlusJitterAndSpansIt) {
  SimNetwork net({.seed = 9, .link = {.delay = milliseconds(10), .jitter = milliseconds(2)}});
  Ponger b(net, addr(2));
  ASSERT_TRUE(net.add_node(addr(2), b));
  const SimTime start = net.now();
  for (int i = 0; i < 2000; ++i) net.send(addr(1), addr(2), packet('X', static_cast<std::uint32_t>(i)));
  ASSERT_TRUE(net.run_for(seconds(1)));
  ASSERT_EQ(b.seen.size(), 2000u);
  SimDuration lo = SimDuration::max(), hi = SimDuration::min();
  bool reordered = false;
  for (std::size_t i = 0; i < b.seen.size(); ++i) {
    const SimDuration d = b.seen[i].at - start;
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    if (i > 0 && b.seen[i].seq < b.seen[i - 1].seq) reordered = true;
  }
  EXPECT_GE(lo, milliseconds(10));
  EXPECT_LE(hi, milliseconds(12));
  EXPECT_LT(lo, milliseconds(10) + std::chrono::microseconds(50));
  EXPECT_GT(hi, milliseconds(12) - std::chrono::microseconds(50));
  EXPECT_TRUE(reordered);  // jitter reorders packets on one link, as netem does
}

TEST(SimNetwork, PerLinkSettingsOverrideTheDefaultInOneDirectionOnly) {
  SimNetwork net({.seed = 1, .link = {.delay = milliseconds(1)}});
  Ponger a(net, addr(1)), b(net, addr(2));
  ASSERT_TRUE(net.add_node(addr(1), a));
  ASSERT_TRUE(net.add_node(addr(2), b));
  net.set_link(addr(1), addr(2), {.loss = 1.0});
  for (int i = 0; i < 10; ++i) {
    net.send(addr(1), addr(2), packet('X', 0));
    net.send(addr(2), addr(1), packet('X', 0));
  }
  ASSERT_TRUE(net.run_for(seconds(1)));
  EXPECT_EQ(b.seen.size(), 0u);
  EXPECT_EQ(a.seen.size(), 10u);
  net.clear_link(addr(1), addr(2));
  net.send(addr(1), addr(2), packet('X', 0));
  ASSERT_TRUE(net.run_for(seconds(1)));
  EXPECT_EQ(b.seen.size(), 1u);
}

TEST(SimNetwork, PingPongRoundTripTakesTwoDelays) {
  SimNetwork net({.seed = 1, .link = {.delay = milliseconds(5)}});
  Pinger a(net, addr(1), addr(2), milliseconds(100));
  Ponger b(net, addr(2));
  ASSERT_TRUE(net.add_node(addr(1), a));
  ASSERT_TRUE(net.add_node(addr(2), b));
  ASSERT_TRUE(net.run_for(milliseconds(1000)));
  ASSERT_EQ(a.ping_times.size(), 10u);
  ASSERT_EQ(a.pongs.size(), 9u);  // the 10th ping left at t=1000 ms, its pong is in flight
  for (std::size_t i = 0; i < a.pongs.size(); ++i) {
    EXPECT_EQ(a.pongs[i].seq, i);
    EXPECT_EQ(a.pongs[i].at - a.ping_times[i], milliseconds(10));
  }
}

TEST(SimNetwork, PartitionDropsAcrossGroupsUntilHealed) {
  SimNetwork net({.seed = 1, .link = {.delay = milliseconds(1)}});
  std::vector<std::unique_ptr<Ponger>> nodes;
  for (int i = 1; i <= 4; ++i) {
    nodes.push_back(std::make_unique<Ponger>(net, addr(i)));
    ASSERT_TRUE(net.add_node(addr(i), *nodes.back()));
  }
  // {1,2} | {3}; node 4 is in no group, so it forms the remaining group alone.
  net.partition({{addr(1), addr(2)}, {addr(3)}});
  auto all_to_all = [&] {
    for (int i = 1; i <= 4; ++i)
      for (int j = 1; j <= 4; ++j)
        if (i != j) net.send(addr(i), addr(j), packet('X', static_cast<std::uint32_t>(i)));
    ASSERT_TRUE(net.run_for(seconds(1)));
  };
  all_to_all();
  EXPECT_EQ(nodes[0]->seen.size(), 1u);  // only from 2
  EXPECT_EQ(nodes[1]->seen.size(), 1u);  // only from 1
  EXPECT_EQ(nodes[2]->seen.size(), 0u);
  EXPECT_EQ(nodes[3]->seen.size(), 0u);
  EXPECT_EQ(net.counters(addr(1)).dropped_partition, 2u);
  EXPECT_EQ(net.counters(addr(4)).dropped_partition, 3u);
  net.heal();
  all_to_all();
  EXPECT_EQ(nodes[0]->seen.size(), 1u + 3u);
  EXPECT_EQ(nodes[1]->seen.size(), 1u + 3u);
  EXPECT_EQ(nodes[2]->seen.size(), 3u);
  EXPECT_EQ(nodes[3]->seen.size(), 3u);
}

TEST(SimNetwork, PartitionIsCheckedWhenAPacketIsSent) {
  SimNetwork net({.seed = 1, .link = {.delay = milliseconds(10)}});
  Ponger b(net, addr(2));
  ASSERT_TRUE(net.add_node(addr(2), b));
  Ponger a(net, addr(1));
  ASSERT_TRUE(net.add_node(addr(1), a));
  net.send(addr(1), addr(2), packet('X', 0));  // in flight when the partition starts
  net.partition({{addr(1)}, {addr(2)}});
  net.send(addr(1), addr(2), packet('X', 1));
  ASSERT_TRUE(net.run_for(seconds(1)));
  ASSERT_EQ(b.seen.size(), 1u);
  EXPECT_EQ(b.seen[0].seq, 0u);
}

TEST(SimNetwork, CrashedNodeGetsNothingSendsNothingAndItsTimersStop) {
  SimNetwork net({.seed = 1, .link = {.delay = milliseconds(5)}});
  Pinger a(net, addr(1), addr(2), milliseconds(100));
  Ponger b(net, addr(2), milliseconds(100));
  ASSERT_TRUE(net.add_node(addr(1), a));
  ASSERT_TRUE(net.add_node(addr(2), b));
  ASSERT_TRUE(net.run_for(milliseconds(450)));
  EXPECT_EQ(b.seen.size(), 4u);
  EXPECT_EQ(b.timer_fires.size(), 4u);
  ASSERT_TRUE(net.crash(addr(2)));
  EXPECT_FALSE(net.is_up(addr(2)));
  EXPECT_THAT(net.crash(addr(2)), StatusIs(StatusCode::kFailedPrecondition));
  net.send(addr(2), addr(1), packet('X', 99));  // a dead host sends nothing
  ASSERT_TRUE(net.run_for(milliseconds(500)));
  EXPECT_EQ(b.seen.size(), 4u);
  EXPECT_EQ(b.timer_fires.size(), 4u);
  EXPECT_EQ(a.pongs.size(), 4u);
  EXPECT_EQ(net.counters(addr(1)).dropped_unreachable, 5u);
  EXPECT_EQ(net.counters(addr(2)).packets_sent, 4u);

  // Restarted as a new process: the replacement gets the traffic from now on.
  Ponger fresh(net, addr(2));
  ASSERT_TRUE(net.restart(addr(2), &fresh));
  ASSERT_TRUE(net.run_for(milliseconds(200)));
  EXPECT_EQ(fresh.seen.size(), 2u);
  EXPECT_EQ(b.seen.size(), 4u);
  EXPECT_EQ(a.pongs.size(), 4u + 2u);
}

TEST(SimNetwork, SlowNodeProcessesPacketsAndTimersLate) {
  SimNetwork net({.seed = 1, .link = {.delay = milliseconds(5)}});
  Pinger a(net, addr(1), addr(2), milliseconds(1000));
  Ponger b(net, addr(2), milliseconds(1000));
  ASSERT_TRUE(net.add_node(addr(1), a));
  ASSERT_TRUE(net.add_node(addr(2), b));
  const SimTime start = net.now();
  ASSERT_TRUE(net.set_slow(addr(2), milliseconds(300)));
  ASSERT_TRUE(net.run_for(milliseconds(2500)));
  ASSERT_EQ(b.timer_fires.size(), 2u);
  EXPECT_EQ(b.timer_fires[0], start + milliseconds(1300));
  EXPECT_EQ(b.timer_fires[1], start + milliseconds(2300));
  ASSERT_EQ(b.seen.size(), 2u);
  EXPECT_EQ(b.seen[0].at, start + milliseconds(1000 + 5 + 300));
  ASSERT_EQ(a.pongs.size(), 2u);
  EXPECT_EQ(a.pongs[0].at, start + milliseconds(1000 + 5 + 300 + 5));  // it answers late too

  // Back to normal: the next ping is answered after two plain delays.
  ASSERT_TRUE(net.set_slow(addr(2), SimDuration::zero()));
  ASSERT_TRUE(net.run_for(milliseconds(600)));
  ASSERT_EQ(a.pongs.size(), 3u);
  EXPECT_EQ(a.pongs[2].at, start + milliseconds(3000 + 10));
}

TEST(SimNetwork, NodeSlowOnlyOnInboundMissesItsOwnDeadlines) {
  SimNetwork net({.seed = 1, .link = {.delay = milliseconds(5)}});
  Pinger a(net, addr(1), addr(2), milliseconds(100));
  Ponger b(net, addr(2));
  ASSERT_TRUE(net.add_node(addr(1), a));
  ASSERT_TRUE(net.add_node(addr(2), b));
  const SimTime start = net.now();
  ASSERT_TRUE(net.set_slow(addr(1), milliseconds(250), SimDuration::zero()));
  ASSERT_TRUE(net.run_for(milliseconds(400)));
  // Its timer still fires every 100 ms, but the pong to ping 0 (back at 110 ms) is handled at
  // 360 ms, after pings 1..3 already left: a reply lands after the deadline that guarded it.
  ASSERT_EQ(a.ping_times.size(), 4u);
  EXPECT_EQ(a.ping_times[3], start + milliseconds(400));
  ASSERT_EQ(a.pongs.size(), 1u);
  EXPECT_EQ(a.pongs[0].at, start + milliseconds(360));
  EXPECT_EQ(b.seen[0].at, start + milliseconds(105));  // the peer is not slowed
  EXPECT_THAT(net.set_slow(addr(1), milliseconds(-1), SimDuration::zero()), StatusIs(StatusCode::kInvalidArgument));
}

TEST(SimNetwork, SimultaneousEventsRunInTheOrderTheyWereQueued) {
  SimNetwork net({.seed = 1, .link = {.delay = milliseconds(3)}});
  Ponger b(net, addr(2));
  ASSERT_TRUE(net.add_node(addr(2), b));
  std::vector<int> order;
  net.schedule(net.now() + milliseconds(3), [&] { order.push_back(0); });
  for (int i = 0; i < 50; ++i) net.send(addr(1), addr(2), packet('X', static_cast<std::uint32_t>(i)));
  net.schedule(net.now() + milliseconds(3), [&] { order.push_back(static_cast<int>(b.seen.size())); });
  ASSERT_TRUE(net.run_for(milliseconds(3)));
  ASSERT_EQ(b.seen.size(), 50u);
  for (std::uint32_t i = 0; i < 50; ++i) EXPECT_EQ(b.seen[i].seq, i);
  EXPECT_EQ(order, (std::vector<int>{0, 50}));
}

TEST(SimNetwork, ScheduledActionsRunAtTheirVirtualTime) {
  SimNetwork net;
  SimTime ran_at{};
  net.schedule(net.now() + seconds(5), [&] { ran_at = net.now(); });
  ASSERT_TRUE(net.run_for(seconds(4)));
  EXPECT_EQ(ran_at, SimTime{});
  ASSERT_TRUE(net.run_for(seconds(2)));
  EXPECT_EQ(ran_at, SimNetworkOptions{}.start + seconds(5));
  EXPECT_EQ(net.now(), SimNetworkOptions{}.start + seconds(6));
}

TEST(SimNetwork, OversizePacketsAreDroppedAndCounted) {
  SimNetwork net({.seed = 1, .max_datagram_bytes = 1400});
  Ponger a(net, addr(1)), b(net, addr(2));
  ASSERT_TRUE(net.add_node(addr(1), a));
  ASSERT_TRUE(net.add_node(addr(2), b));
  net.send(addr(1), addr(2), packet('X', 0, 1400));
  net.send(addr(1), addr(2), packet('X', 1, 1401));
  ASSERT_TRUE(net.run_for(seconds(1)));
  ASSERT_EQ(b.seen.size(), 1u);
  EXPECT_EQ(b.seen[0].size, 1400u);
  EXPECT_EQ(net.counters(addr(1)).dropped_oversize, 1u);
}

TEST(SimNetwork, EventBudgetStopsARunawayNode) {
  SimNetwork net({.seed = 1, .max_events_per_run = 1000});
  toy::Runaway runaway(net);
  ASSERT_TRUE(net.add_node(addr(1), runaway));
  EXPECT_THAT(net.run_for(seconds(1)), StatusIs(StatusCode::kResourceExhausted));
  EXPECT_EQ(runaway.fires, 1000u);
  EXPECT_LT(net.now(), SimNetworkOptions{}.start + seconds(1));
}

TEST(SimNetwork, RejectsDuplicateAddressesAndUnknownNodes) {
  SimNetwork net;
  Ponger a(net, addr(1));
  EXPECT_TRUE(net.add_node(addr(1), a));
  EXPECT_THAT(net.add_node(addr(1), a), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(net.crash(addr(9)), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(net.restart(addr(1)), StatusIs(StatusCode::kFailedPrecondition));  // it is up
  EXPECT_THAT(net.set_slow(addr(9), milliseconds(1)), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(net.counters(addr(9)).packets_sent, 0u);
  EXPECT_TRUE(net.remove_node(addr(1)));
  EXPECT_FALSE(net.has_node(addr(1)));
  EXPECT_THAT(net.remove_node(addr(1)), StatusIs(StatusCode::kNotFound));
}

// Five pingers around one ponger with loss, jitter, a partition and a crash in the middle.
struct RunSummary {
  std::uint64_t hash;
  std::uint64_t received;
  std::uint64_t events;
};

RunSummary busy_run(std::uint64_t seed) {
  SimNetwork net({.seed = seed,
                  .link = {.loss = 0.05, .delay = milliseconds(2), .jitter = milliseconds(3)}});
  Ponger hub(net, addr(100));
  EXPECT_TRUE(net.add_node(addr(100), hub));
  std::vector<std::unique_ptr<Pinger>> pingers;
  for (int i = 1; i <= 5; ++i) {
    pingers.push_back(std::make_unique<Pinger>(net, addr(i), addr(100), milliseconds(50 + i)));
    EXPECT_TRUE(net.add_node(addr(i), *pingers.back()));
  }
  net.schedule(net.now() + seconds(2), [&] { net.partition({{addr(1), addr(100)}}); });
  net.schedule(net.now() + seconds(4), [&] { net.heal(); });
  net.schedule(net.now() + seconds(5), [&] { ASSERT_TRUE(net.crash(addr(3))); });
  EXPECT_TRUE(net.run_for(seconds(10)));
  return {net.transcript_hash(), net.totals().packets_received, net.events_processed()};
}

TEST(SimNetwork, SameSeedGivesAnIdenticalRun) {
  const RunSummary a = busy_run(11), b = busy_run(11);
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_EQ(a.received, b.received);
  EXPECT_EQ(a.events, b.events);
  EXPECT_GT(a.received, 1000u);
}

TEST(SimNetwork, DifferentSeedGivesADifferentRun) {
  EXPECT_NE(busy_run(11).hash, busy_run(12).hash);
}

}  // namespace
}  // namespace rpcnet::testing

// Small versions of membench's scenarios (bench/membership) on the real SwimCore, with bounds
// looser than the targets of research/membership.md §10.7, so a regression in failure
// detection, dissemination, anti-entropy or partition healing fails CI. Virtual time: each test
// simulates minutes in seconds of wall time.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <tuple>

#include "membership/scenarios.h"

namespace rpcnet::membench {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

ScenarioParams params(std::size_t n, std::uint64_t seed) {
  ScenarioParams p;
  p.n = n;
  p.seed = seed;
  p.join_timeout = seconds(120);
  return p;
}

TEST(MembershipSim, SixteenMembersJoinToAFullViewWithinThirtySeconds) {
  ClusterSim sim({.n = 16, .seed = 3});
  const auto joined = join_full_view(sim, params(16, 3));
  ASSERT_TRUE(joined.has_value());
  EXPECT_LE(*joined, 30.0);
  for (std::size_t o = 0; o < sim.size(); ++o) {
    // The event-derived view agrees with the core's own member list.
    const auto members = sim.node(o).core().members();
    ASSERT_EQ(members.size(), 16u);
    for (const auto& m : members) EXPECT_EQ(m.state, cluster::MemberState::kAlive) << m.id;
  }
}

TEST(MembershipSim, CrashIsDeclaredDeadEverywhereWithinThirtySecondsAtSixteen) {
  const SteadyResult r = steady_and_crash(params(16, 5), seconds(10), 0, 10, seconds(60));
  ASSERT_FALSE(r.crash_to_dead.bootstrap_failed);
  ASSERT_EQ(r.crash_to_dead.values.size(), 10u);
  EXPECT_EQ(r.crash_to_dead.timeouts, 0u);
  EXPECT_LE(percentile_or_nan(r.crash_to_dead.values, 0.99), 30.0);
  // Detection cannot beat one probe timeout plus the suspicion minimum (4 * log10(16) s).
  EXPECT_GE(percentile_or_nan(r.crash_to_dead.values, 0.0), 0.5);
}

TEST(MembershipSim, CrashIsDeclaredDeadWithinThirtySecondsAtThree) {
  const SteadyResult r = steady_and_crash(params(3, 7), seconds(10), 0, 3, seconds(60));
  ASSERT_FALSE(r.crash_to_dead.bootstrap_failed);
  ASSERT_EQ(r.crash_to_dead.values.size(), 3u);
  EXPECT_EQ(r.crash_to_dead.timeouts, 0u);
  EXPECT_LE(percentile_or_nan(r.crash_to_dead.values, 1.0), 30.0);
}

TEST(MembershipSim, NoHealthyMemberIsDeclaredDeadAtTenPercentLoss) {
  const FalsePositiveResult r = false_positives(params(16, 11), 0.10, minutes(10));
  ASSERT_FALSE(r.bootstrap_failed);
  EXPECT_EQ(r.false_positives, 0u) << r.false_positives_phi << " of them by phi (not SWIM-dead)";
  EXPECT_NEAR(r.node_hours, 16.0 / 6.0, 1e-9);
}

TEST(MembershipSim, TagUpdateReachesEveryoneWithinFiveSeconds) {
  const SteadyResult r = steady_and_crash(params(16, 13), seconds(30), 5, 0, seconds(30));
  ASSERT_TRUE(r.join_s.has_value());
  ASSERT_EQ(r.tag_dissemination.values.size(), 5u);
  EXPECT_EQ(r.tag_dissemination.timeouts, 0u);
  EXPECT_LE(percentile_or_nan(r.tag_dissemination.values, 1.0), 5.0);
  // Idle gossip stays small: well under 2 KB/s per member at 16 members.
  EXPECT_GT(r.idle_bytes_per_s_mean, 0.0);
  EXPECT_LT(r.idle_bytes_per_s_mean, 2000.0);
}

TEST(MembershipSim, HalvesDeclareEachOtherDeadThenMergeAfterTheHeal) {
  const PartitionResult r = partition_heal(params(16, 17), seconds(60), seconds(120));
  ASSERT_FALSE(r.bootstrap_failed);
  ASSERT_TRUE(r.far_side_dead_s.has_value());
  EXPECT_LE(*r.far_side_dead_s, 60.0);
  ASSERT_TRUE(r.heal_s.has_value());
  EXPECT_LE(*r.heal_s, 120.0);
}

TEST(MembershipSim, LifeguardCutsFalsePositivesCausedByASlowMember) {
  // One member handles every packet 1 s late (its timers run on time), so it misses its probe
  // deadlines. Plain SWIM lets it get healthy members declared dead (about 10 in 10 simulated
  // minutes at these seeds); Lifeguard's local health and dynamic suspicion prevent that.
  ScenarioParams p = params(16, 23);
  p.config.lifeguard = false;
  const FalsePositiveResult off = slow_members(p, 1, seconds(1), minutes(10));
  p.config.lifeguard = true;
  const FalsePositiveResult on = slow_members(p, 1, seconds(1), minutes(10));
  ASSERT_FALSE(off.bootstrap_failed);
  ASSERT_FALSE(on.bootstrap_failed);
  EXPECT_GE(off.false_positives, 3u);  // the experiment does provoke plain SWIM
  EXPECT_GE(off.false_positives, 3 * std::max<std::uint64_t>(on.false_positives, 1));
}

TEST(MembershipSim, SameSeedGivesTheSameRunAndAnotherSeedAnother) {
  auto run = [](std::uint64_t seed) {
    ClusterSim sim({.n = 8, .seed = seed, .link = lan_link(0.05)});
    const auto joined = join_full_view(sim, params(8, seed));
    sim.crash(3);
    EXPECT_TRUE(sim.net().run_for(seconds(30)));
    return std::make_tuple(joined, sim.net().transcript_hash(), sim.events_seen());
  };
  EXPECT_EQ(run(21), run(21));
  EXPECT_NE(std::get<1>(run(21)), std::get<1>(run(22)));
}

}  // namespace
}  // namespace rpcnet::membench

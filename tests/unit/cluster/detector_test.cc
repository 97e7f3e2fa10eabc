// Phi accrual numbers, memberlist's timing formulas, the broadcast queue, the partition rule,
// the config presets and the EventHub.
#include <gtest/gtest.h>

#include <chrono>

#include "cluster/broadcast_queue.h"
#include "cluster/partition_detector.h"
#include "cluster/phi_accrual.h"
#include "cluster/suspicion.h"
#include "rpcnet/cluster/cluster_config.h"
#include "rpcnet/cluster/event_hub.h"

namespace rpcnet::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Time at_ms(int ms) { return Time{} + milliseconds(ms); }

// Hand-computed with y = (t - mean) / sd, e = exp(-y (1.5976 + 0.070566 y^2)), phi = -log10(e / (1 + e)).
TEST(PhiAccrual, FormulaMatchesHandComputedValues) {
  EXPECT_NEAR(PhiAccrual::phi_of(1000, 1000, 250), 0.30103, 1e-5);  // y = 0: log10(2)
  EXPECT_NEAR(PhiAccrual::phi_of(1500, 1000, 250), 1.64283, 1e-5);  // y = 2
  EXPECT_NEAR(PhiAccrual::phi_of(2000, 1000, 250), 4.73669, 1e-5);  // y = 4
  EXPECT_NEAR(PhiAccrual::phi_of(500, 1000, 250), 0.0099988, 1e-6);  // y = -2
  EXPECT_NEAR(PhiAccrual::phi_of(1100, 1000, 100), 0.79951, 1e-5);  // y = 1
  EXPECT_NEAR(PhiAccrual::phi_of(1300, 1000, 100), 2.90948, 1e-5);  // y = 3
  // Far beyond the mean the value stays finite (no exp overflow) and keeps growing.
  EXPECT_GT(PhiAccrual::phi_of(1e7, 1000, 100), 1e6);
  EXPECT_LT(PhiAccrual::phi_of(1e7, 1000, 100), 1e300);
}

TEST(PhiAccrual, BootstrapsWithEstimatePlusMinusAQuarter) {
  PhiAccrual phi({1000, 100, 0, 8});
  EXPECT_EQ(phi.phi(at_ms(0)), 0.0);  // no samples yet
  phi.heartbeat(at_ms(0), seconds(1));
  EXPECT_EQ(phi.samples(), 2u);  // 750 and 1250
  EXPECT_DOUBLE_EQ(phi.mean_ms(), 1000);
  EXPECT_DOUBLE_EQ(phi.std_dev_ms(), 250);
  EXPECT_NEAR(phi.phi(at_ms(1500)), 1.64283, 1e-5);
  phi.heartbeat(at_ms(1000), seconds(1));  // one 1000 ms sample: sd = sqrt(2 * 250^2 / 3) = 204.124
  EXPECT_NEAR(phi.std_dev_ms(), 204.124, 1e-3);
  EXPECT_NEAR(phi.phi(at_ms(3000)), 7.00232, 1e-4);
}

TEST(PhiAccrual, AcceptablePauseAndMinStdDevMatchAkka) {
  // Steady 1 s heartbeats, sd clamped to 100 ms, pause 3 s: phi crosses 8 just after 4.52 s.
  PhiAccrual phi({1000, 100, 3000, 8});
  for (int i = 0; i <= 20; ++i) phi.heartbeat(at_ms(i * 1000), seconds(1));
  const int last = 20000;
  EXPECT_NEAR(phi.phi(at_ms(last + 4000)), 0.30103, 0.05);  // sd > 100 while bootstrap samples remain
  EXPECT_LT(phi.phi(at_ms(last + 4500)), 8.0);
  EXPECT_TRUE(phi.available(at_ms(last + 4500)));
  EXPECT_FALSE(phi.available(at_ms(last + 5000)));
}

TEST(PhiAccrual, ExactAkkaValuesWithAFullWindowOfOneSecondSamples) {
  PhiAccrual phi({4, 100, 3000, 8});  // window 4: bootstrap samples fall out
  for (int i = 0; i <= 10; ++i) phi.heartbeat(at_ms(i * 1000), seconds(1));
  ASSERT_DOUBLE_EQ(phi.mean_ms(), 1000);
  ASSERT_DOUBLE_EQ(phi.std_dev_ms(), 0);
  EXPECT_NEAR(phi.phi(at_ms(10000 + 4300)), 2.90948, 1e-5);
  EXPECT_NEAR(phi.phi(at_ms(10000 + 4500)), 7.29995, 1e-5);
  EXPECT_NEAR(phi.phi(at_ms(10000 + 4520)), 7.91704, 1e-5);
}

TEST(PhiAccrual, IntervalsWhileUnavailableAreNotRecorded) {
  PhiAccrual phi({4, 100, 0, 8});
  for (int i = 0; i <= 10; ++i) phi.heartbeat(at_ms(i * 1000), seconds(1));
  phi.heartbeat(at_ms(60000), seconds(1));  // 50 s silence: phi was huge, not a sample
  EXPECT_DOUBLE_EQ(phi.mean_ms(), 1000);
  EXPECT_LT(phi.phi(at_ms(60500)), 1.0);
}

TEST(SwimFormulas, SuspicionMinimumMatchesMemberlistTable) {
  EXPECT_EQ(suspicion_timeout_min(4, 3, seconds(1)), milliseconds(4000));
  EXPECT_EQ(suspicion_timeout_min(4, 32, seconds(1)), milliseconds(6020));
  EXPECT_EQ(suspicion_timeout_min(4, 1000, seconds(1)), milliseconds(12000));
  EXPECT_EQ(suspicion_timeout_min(4, 10000, seconds(1)), milliseconds(16000));
}

TEST(SwimFormulas, RetransmitLimitAndPushPullScaleMatchMemberlist) {
  // Below 10 members memberlist gives mult * 1; we floor the log term at 2 (suspicion.h says why).
  EXPECT_EQ(retransmit_limit(4, 3), 8u);
  EXPECT_EQ(retransmit_limit(4, 9), 8u);
  EXPECT_EQ(retransmit_limit(4, 10), 8u);
  EXPECT_EQ(retransmit_limit(4, 32), 8u);
  EXPECT_EQ(retransmit_limit(4, 256), 12u);
  EXPECT_EQ(retransmit_limit(4, 1000), 16u);
  EXPECT_EQ(retransmit_limit(4, 10000), 20u);
  EXPECT_EQ(push_pull_scale(seconds(30), 32), seconds(30));
  EXPECT_EQ(push_pull_scale(seconds(30), 256), seconds(120));
  EXPECT_EQ(push_pull_scale(seconds(30), 1000), seconds(180));
  EXPECT_EQ(push_pull_scale(seconds(30), 10000), seconds(300));
}

TEST(SwimFormulas, ConfirmationsNeededUseTheSmallClusterRule) {
  EXPECT_EQ(suspicion_confirmations_needed(4, 3), 0);  // n - 2 < k
  EXPECT_EQ(suspicion_confirmations_needed(4, 4), 2);
  EXPECT_EQ(suspicion_confirmations_needed(4, 1000), 2);
  EXPECT_EQ(suspicion_confirmations_needed(6, 5), 0);
}

// memberlist TestSuspicion_remainingSuspicionTime: k = 3, min 2 s, max 30 s.
TEST(SwimFormulas, DynamicSuspicionTimeoutMatchesMemberlistGoldenVectors) {
  const Duration min = seconds(2), max = seconds(30);
  EXPECT_EQ(suspicion_timeout(0, 3, min, max), seconds(30));
  EXPECT_EQ(suspicion_timeout(1, 3, min, max) - seconds(2), seconds(14));       // at elapsed 2 s
  EXPECT_EQ(suspicion_timeout(2, 3, min, max) - seconds(3), milliseconds(4810));  // at elapsed 3 s
  EXPECT_EQ(suspicion_timeout(3, 3, min, max), seconds(2));
  EXPECT_EQ(suspicion_timeout(4, 3, min, max), seconds(2));
  EXPECT_EQ(suspicion_timeout(0, 0, min, max), seconds(2));  // k = 0: minimum at once
}

TEST(Suspicion, OnlyIndependentConfirmationsShrinkTheDeadline) {
  Suspicion s("origin", 1, 3, seconds(2), seconds(30), at_ms(0));
  EXPECT_EQ(s.deadline(), at_ms(30000));
  EXPECT_FALSE(s.confirm("origin"));  // the originator is not a confirmation
  EXPECT_TRUE(s.confirm("b"));
  EXPECT_FALSE(s.confirm("b"));       // nor is the same member twice
  EXPECT_EQ(s.deadline(), at_ms(16000));
  EXPECT_TRUE(s.confirm("c"));
  EXPECT_TRUE(s.confirm("d"));
  EXPECT_FALSE(s.confirm("e"));       // k reached
  EXPECT_EQ(s.deadline(), at_ms(2000));
}

std::vector<std::byte> msg(int size, int tag) { return std::vector<std::byte>(static_cast<std::size_t>(size), std::byte(tag)); }

TEST(BroadcastQueue, PrefersFewerTransmitsAndRetiresAtTheLimit) {
  BroadcastQueue q;
  q.enqueue("a", msg(10, 1));
  auto first = q.take(100, 10, 2);  // a sent once
  ASSERT_EQ(first.size(), 1u);
  q.enqueue("b", msg(10, 2));
  auto second = q.take(10, 10, 2);  // room for one: b (0 transmits) beats a (1)
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0], msg(10, 2));
  auto third = q.take(100, 10, 2);  // both at 1 -> both sent and retired
  EXPECT_EQ(third.size(), 2u);
  EXPECT_TRUE(q.empty());
}

TEST(BroadcastQueue, NewerUpdateAboutTheSameMemberReplacesTheOlder) {
  BroadcastQueue q;
  q.enqueue("a", msg(5, 1));
  q.enqueue("a", msg(5, 2));
  EXPECT_EQ(q.size(), 1u);
  auto out = q.take(100, 10, 4);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], msg(5, 2));
}

TEST(BroadcastQueue, RespectsByteBudgetAndCount) {
  BroadcastQueue q;
  for (int i = 0; i < 10; ++i) q.enqueue(std::to_string(i), msg(100, i));
  EXPECT_EQ(q.take(350, 10, 4).size(), 3u);
  EXPECT_EQ(q.take(10000, 2, 4).size(), 2u);
}

TEST(BroadcastQueue, FillsLeftoverRoomWithASmallerUpdateBehindBiggerOnes) {
  BroadcastQueue q;
  q.enqueue("small", msg(10, 1));                                     // oldest: last in line
  for (int i = 0; i < 5; ++i) q.enqueue("big" + std::to_string(i), msg(100, 2));
  const auto out = q.take(220, 10, 4);  // two bigs, then 20 bytes left: only "small" fits
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2], msg(10, 1));
}

TEST(BroadcastQueue, StopsLookingAfterThirtyTwoUpdatesThatDoNotFit) {
  // The scan is bounded so a full packet costs O(1), not a walk over the whole queue.
  BroadcastQueue q;
  q.enqueue("small", msg(10, 1));
  for (int i = 0; i < 40; ++i) q.enqueue("big" + std::to_string(i), msg(100, 2));
  EXPECT_TRUE(q.take(50, 10, 4).empty());  // 32 bigs skipped, "small" not reached
  EXPECT_EQ(q.size(), 41u);                // nothing lost: it goes out in a later packet
  const auto later = q.take(100000, 100, 4);
  EXPECT_EQ(later.size(), 41u);
}

TEST(PartitionDetector, DetectsCorrelatedLossAndHealsAtHalfBack) {
  PartitionDetector d(0.5, seconds(30));
  d.on_unreachable("x", at_ms(0));
  EXPECT_FALSE(d.evaluate(5, at_ms(1000)));  // one failure is never a partition
  d.on_unreachable("y", at_ms(2000));
  EXPECT_FALSE(d.evaluate(5, at_ms(2000)));  // 2 of 5 < 0.5
  d.on_unreachable("z", at_ms(3000));
  auto detected = d.evaluate(5, at_ms(3000));
  ASSERT_TRUE(detected);
  EXPECT_EQ(detected->kind, EventKind::kPartitionDetected);
  EXPECT_EQ(detected->unreachable, 3u);
  EXPECT_EQ(detected->members, 6u);
  EXPECT_FALSE(d.evaluate(5, at_ms(4000)));  // reported once
  d.on_reachable("x");
  EXPECT_FALSE(d.evaluate(5, at_ms(5000)));  // 1 of 3 back
  d.on_reachable("y");
  auto healed = d.evaluate(5, at_ms(6000));
  ASSERT_TRUE(healed);
  EXPECT_EQ(healed->kind, EventKind::kPartitionHealed);
  EXPECT_EQ(healed->unreachable, 1u);
}

TEST(PartitionDetector, FailuresSpreadBeyondTheWindowAreNotAPartition) {
  PartitionDetector d(0.5, seconds(30));
  d.on_unreachable("x", at_ms(0));
  d.on_unreachable("y", at_ms(40000));
  EXPECT_FALSE(d.evaluate(3, at_ms(40000)));
}

TEST(ClusterConfig, PresetsFollowMemberlistDefaults) {
  const auto lan = ClusterConfig::Lan();
  EXPECT_EQ(lan.probe_interval, seconds(1));
  EXPECT_EQ(lan.probe_timeout, milliseconds(500));
  EXPECT_EQ(lan.indirect_checks, 3);
  EXPECT_EQ(lan.retransmit_mult, 4);
  EXPECT_EQ(lan.suspicion_mult, 4);
  EXPECT_EQ(lan.suspicion_max_timeout_mult, 6);
  EXPECT_EQ(lan.push_pull_interval, seconds(30));
  EXPECT_EQ(lan.gossip_interval, milliseconds(200));
  EXPECT_EQ(lan.gossip_nodes, 3);
  EXPECT_EQ(lan.awareness_max_multiplier, 8);
  EXPECT_EQ(lan.max_packet_bytes, 1200u);
  const auto wan = ClusterConfig::Wan();
  EXPECT_EQ(wan.probe_interval, seconds(5));
  EXPECT_EQ(wan.probe_timeout, seconds(3));
  EXPECT_EQ(wan.suspicion_mult, 6);
  EXPECT_EQ(wan.push_pull_interval, seconds(60));
  EXPECT_EQ(wan.gossip_interval, milliseconds(500));
  EXPECT_EQ(wan.gossip_nodes, 4);
  const auto local = ClusterConfig::Local();
  EXPECT_EQ(local.indirect_checks, 1);
  EXPECT_EQ(local.retransmit_mult, 2);
  EXPECT_EQ(local.suspicion_mult, 3);
  EXPECT_EQ(local.push_pull_interval, seconds(15));
  EXPECT_EQ(local.probe_timeout, milliseconds(200));
  EXPECT_EQ(local.gossip_interval, milliseconds(100));
  EXPECT_EQ(local.max_packet_bytes, 1400u);
}

TEST(ClusterConfig, ValidateNamesTheBadField) {
  auto c = ClusterConfig::Lan();
  EXPECT_FALSE(c.validate().ok());  // node_id unset
  c.node_id = "n1";
  EXPECT_TRUE(c.validate().ok());
  c.max_tags_bytes = 1000;
  ASSERT_FALSE(c.validate().ok());
  EXPECT_NE(c.validate().error().message().find("max_tags_bytes"), std::string::npos);
  c = ClusterConfig::Local();
  c.node_id = "n1";
  c.probe_timeout = seconds(2);
  EXPECT_NE(c.validate().error().message().find("probe_timeout"), std::string::npos);
}

ClusterEvent event(std::size_t n) { return ClusterEvent{EventKind::kNodeJoined, Member{}, n, 0}; }

TEST(EventHub, FullQueueDropsOldestAndCountsMissed) {
  EventHub hub(3);
  auto slow = hub.subscribe();
  auto fast = hub.subscribe();
  for (std::size_t i = 1; i <= 5; ++i) {
    hub.publish(event(i));
    if (auto e = fast->poll()) {
      EXPECT_EQ(e->unreachable, i);
    }
  }
  EXPECT_EQ(fast->missed(), 0u);
  EXPECT_EQ(slow->missed(), 2u);
  EXPECT_EQ(slow->pending(), 3u);
  for (std::size_t expected = 3; expected <= 5; ++expected) {
    auto e = slow->poll();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->unreachable, expected);
  }
  EXPECT_FALSE(slow->poll());
}

TEST(EventHub, ReleasedSubscriptionsStopReceiving) {
  EventHub hub(4);
  auto keep = hub.subscribe();
  {
    auto gone = hub.subscribe();
    EXPECT_EQ(hub.subscribers(), 2u);
  }
  hub.publish(event(1));
  EXPECT_EQ(hub.subscribers(), 1u);
  EXPECT_EQ(keep->pending(), 1u);
}

}  // namespace
}  // namespace rpcnet::cluster

// HealthChecker's core in virtual time: a member acked every second goes silent; a checker with
// a stricter threshold declares it failed earlier than one with the membership's threshold, each
// exactly when its detector's phi crosses, once; a heartbeat brings it back, once. Departures are
// not failures, SWIM's verdict of dead is, and unlisted members are forgotten.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "cluster/health_tracker.h"
#include "cluster/phi_accrual.h"
#include "rpcnet/testing/manual_clock.h"

namespace rpcnet::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr Duration kExpected = seconds(1);

Member member(const std::string& id, MemberState state = MemberState::kAlive) {
  Member m;
  m.id = id;
  m.state = state;
  return m;
}

HealthCheckerConfig with_threshold(double threshold) {
  HealthCheckerConfig config;
  config.phi_threshold = threshold;
  config.acceptable_pause = milliseconds(500);
  return config;
}

// Ten acks one second apart, into the tracker and into an oracle detector with the same settings.
void beat_ten_times(testing::ManualClock& clock, HealthTracker& tracker, PhiAccrual& oracle) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(clock.advance(kExpected));
    tracker.heartbeat("w1", clock.now(), kExpected);
    oracle.heartbeat(clock.now(), kExpected);
  }
}

PhiAccrual oracle_for(const HealthCheckerConfig& c) {
  return PhiAccrual({c.window, std::chrono::duration<double, std::milli>(c.min_std_dev).count(),
                     std::chrono::duration<double, std::milli>(c.acceptable_pause).count(), c.phi_threshold});
}

TEST(HealthTracker, StricterThresholdFailsEarlierEachExactlyWhenPhiCrossesAndOnce) {
  testing::ManualClock clock;
  const std::vector<Member> snapshot{member("self"), member("w1")};
  const auto strict_config = with_threshold(3);
  const auto lenient_config = with_threshold(8);
  HealthTracker strict(strict_config);
  HealthTracker lenient(lenient_config);
  PhiAccrual oracle = oracle_for(strict_config);
  PhiAccrual unused = oracle_for(lenient_config);
  testing::ManualClock other = clock;
  beat_ten_times(clock, strict, oracle);
  beat_ten_times(other, lenient, unused);
  ASSERT_EQ(clock.now(), other.now());

  Time strict_failed{}, lenient_failed{};
  for (int step = 0; step < 200 && lenient_failed == Time{}; ++step) {
    ASSERT_TRUE(clock.advance(milliseconds(50)));
    const double phi = oracle.phi(clock.now(), kExpected);
    const auto s = strict.evaluate(snapshot, "self", clock.now());
    const auto l = lenient.evaluate(snapshot, "self", clock.now());
    if (strict_failed == Time{}) {
      // Fails at the first evaluation with phi >= 3, not before.
      ASSERT_EQ(s.size(), phi >= 3 ? 1u : 0u) << "phi " << phi;
      if (!s.empty()) {
        strict_failed = clock.now();
        EXPECT_EQ(s[0].kind, EventKind::kNodeFailed);
        EXPECT_EQ(s[0].member.id, "w1");
        EXPECT_FALSE(s[0].member.healthy);
        EXPECT_DOUBLE_EQ(s[0].member.phi, phi);
      }
    } else {
      EXPECT_TRUE(s.empty()) << "a failure is reported once";
    }
    ASSERT_EQ(l.size(), phi >= 8 ? 1u : 0u) << "phi " << phi;
    if (!l.empty()) lenient_failed = clock.now();
  }
  ASSERT_NE(strict_failed, Time{});
  ASSERT_NE(lenient_failed, Time{});
  EXPECT_LT(strict_failed, lenient_failed);

  const auto view = strict.view(snapshot, "self", clock.now());
  ASSERT_EQ(view.size(), 1u);  // self is not judged
  EXPECT_EQ(view[0].member.id, "w1");
  EXPECT_FALSE(view[0].healthy);
  EXPECT_GE(view[0].phi, 3.0);

  // One ack: healthy again, reported once.
  strict.heartbeat("w1", clock.now(), kExpected);
  const auto back = strict.evaluate(snapshot, "self", clock.now());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].kind, EventKind::kNodeRecovered);
  EXPECT_TRUE(back[0].member.healthy);
  EXPECT_TRUE(strict.evaluate(snapshot, "self", clock.now()).empty());
  EXPECT_TRUE(strict.view(snapshot, "self", clock.now())[0].healthy);
}

TEST(HealthTracker, SwimDeadIsAFailureEvenWithoutPhiAndRecoversWhenAliveAgain) {
  testing::ManualClock clock;
  HealthTracker tracker(with_threshold(8));
  tracker.heartbeat("w1", clock.now(), kExpected);
  EXPECT_TRUE(tracker.evaluate(std::vector{member("w1")}, "self", clock.now()).empty());
  const auto dead = tracker.evaluate(std::vector{member("w1", MemberState::kDead)}, "self", clock.now());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].kind, EventKind::kNodeFailed);
  EXPECT_EQ(dead[0].member.phi, 0.0);
  // Suspect with a failure on record is not a recovery yet; alive is, and its long silence while
  // dead did not enter the history (phi starts from nothing again).
  ASSERT_TRUE(clock.advance(seconds(60)));
  EXPECT_TRUE(tracker.evaluate(std::vector{member("w1", MemberState::kSuspect)}, "self", clock.now()).empty());
  const auto back = tracker.evaluate(std::vector{member("w1")}, "self", clock.now());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].kind, EventKind::kNodeRecovered);
  EXPECT_EQ(back[0].member.phi, 0.0);
}

TEST(HealthTracker, LeavingIsNotAFailureAndForgottenMembersStartAfresh) {
  testing::ManualClock clock;
  HealthTracker tracker(with_threshold(3));
  tracker.heartbeat("w1", clock.now(), kExpected);
  tracker.heartbeat("w2", clock.now(), kExpected);
  ASSERT_TRUE(clock.advance(seconds(30)));  // both long silent: phi far above 3
  EXPECT_TRUE(tracker.evaluate(std::vector{member("w1", MemberState::kLeft), member("w2")}, "self", clock.now())
                  .size() == 1u);  // only w2 fails
  // w1 left and w2 is no longer listed: both forgotten, so both come back with no history.
  const std::vector<Member> again{member("w1"), member("w2")};
  const auto view = tracker.view(again, "self", clock.now());
  ASSERT_EQ(view.size(), 2u);
  EXPECT_TRUE(view[0].healthy);
  EXPECT_EQ(view[0].phi, 0.0);
  EXPECT_FALSE(view[1].healthy) << "w2 is still listed here, so still tracked";
  (void)tracker.evaluate(std::vector{member("w1")}, "self", clock.now());  // w2 unlisted: forgotten
  const auto fresh = tracker.view(again, "self", clock.now());
  EXPECT_TRUE(fresh[1].healthy);
  EXPECT_EQ(fresh[1].phi, 0.0);
  EXPECT_TRUE(tracker.evaluate(again, "self", clock.now()).empty()) << "a forgotten failure is not recovered";
}

TEST(HealthCheckerConfig, FromClusterConfigCopiesThePhiSettingsAndValidates) {
  auto cluster = ClusterConfig::Wan();
  const auto config = HealthCheckerConfig::from(cluster);
  EXPECT_EQ(config.phi_threshold, cluster.phi_threshold);
  EXPECT_EQ(config.window, cluster.phi_window);
  EXPECT_EQ(config.min_std_dev, cluster.phi_min_std_dev);
  EXPECT_EQ(config.acceptable_pause, cluster.phi_acceptable_pause);
  EXPECT_TRUE(config.validate());
  auto bad = config;
  bad.phi_threshold = 0;
  ASSERT_FALSE(bad.validate());
  EXPECT_EQ(bad.validate().error().kind(), ErrorKind::kConfig);
  bad = config;
  bad.check_interval = Duration::zero();
  EXPECT_FALSE(bad.validate());
}

}  // namespace
}  // namespace rpcnet::cluster

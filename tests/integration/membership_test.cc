// ClusterMembership over real UDP on loopback, as a user holds it: the handle returned by start()
// (join() on the Result, copies sharing one member, the last copy stopping it), join()'s errors,
// the awaitable and blocking waits for the stop and for events, and a HealthChecker with a
// stricter threshold than gossip declaring a silenced member failed, then tracking it.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "integration/harness.h"
#include "integration/loopback_member.h"
#include "rpcnet/cluster/health_checker.h"
#include "rpcnet/cluster/membership.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using cluster::ClusterMembership;
using cluster::EventKind;

constexpr const char* kKey = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

Result<ClusterMembership> start(const std::string& id) {
  return ClusterMembership::start(member_config(id), *cluster::KeyRing::from_text(kKey));
}

// Blocks (bounded) until `events` delivers `kind` for `id`; the events before it are skipped.
bool wait_for(cluster::EventHub::Subscription& events, EventKind kind, const std::string& id) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto event = events.next_blocking(1s);
    if (event && event->kind == kind && event->member.id == id) return true;
  }
  return false;
}

TEST(MembershipHandle, JoinWorksOnTheResultAndCopiesShareOneMember) {
  auto a = start("a");
  auto b = start("b");
  ASSERT_TRUE(a && b);
  auto events = a->subscribe();
  ASSERT_TRUE(a->join({}));  // the first member: nobody to contact
  ASSERT_TRUE(b->join({a->advertised_address()}));
  ASSERT_TRUE(wait_for(*events, EventKind::kNodeJoined, "b"));

  ClusterMembership copy = *b;
  EXPECT_EQ(copy.id(), "b");
  EXPECT_EQ(copy.local_address(), b->local_address());
  copy.leave(1s);  // through the copy: the one member leaves
  ASSERT_TRUE(b->wait_stopped_blocking(10s));
  EXPECT_TRUE(b->stopped());
  EXPECT_TRUE(copy.stopped());
}

TEST(MembershipHandle, JoinRejectsUndiallableSeedsAndAStoppedMember) {
  auto a = start("a");
  ASSERT_TRUE(a);
  auto wildcard = a->join({*parse_socket_address("0.0.0.0:7946")});
  ASSERT_FALSE(wildcard);
  EXPECT_EQ(wildcard.error().kind(), ErrorKind::kConfig);
  auto port_zero = a->join({*parse_socket_address("127.0.0.1:0")});
  ASSERT_FALSE(port_zero);
  EXPECT_EQ(port_zero.error().kind(), ErrorKind::kConfig);
  a->stop();
  ASSERT_TRUE(a->wait_stopped_blocking(10s));
  auto late = a->join({});
  ASSERT_FALSE(late);
  EXPECT_THAT(late, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
}

TEST(MembershipHandle, TheLastCopyGoingStopsTheMemberAndClosesItsSubscriptions) {
  std::shared_ptr<cluster::EventHub::Subscription> events;
  {
    auto a = start("a");
    ASSERT_TRUE(a);
    events = a->subscribe();
    const ClusterMembership copy = *a;
    EXPECT_FALSE(events->closed());
  }
  EXPECT_TRUE(events->closed());
  auto next = events->next_blocking(10s);
  ASSERT_FALSE(next);
  EXPECT_THAT(next, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
}

TEST(MembershipAwait, AwaitStoppedSuspendsUntilTheLeaveEndsAndTimesOutOtherwise) {
  auto a = start("a");
  ASSERT_TRUE(a);
  Runtime runtime(1);
  ClusterMembership member = *a;
  auto timed_out = run_bounded(runtime, member.await_stopped(10ms));
  ASSERT_FALSE(timed_out);
  EXPECT_THAT(timed_out, ErrorIs(ErrorKind::kCall, StatusCode::kDeadlineExceeded));
  EXPECT_FALSE(member.stopped());

  auto body = [member]() mutable -> asio::awaitable<std::pair<Result<void>, Result<cluster::ClusterEvent>>> {
    auto events = member.subscribe();
    member.leave(1s);  // stops once the announcement is out, or after the 1 s grace
    auto stopped = co_await member.await_stopped(10s);
    auto next = co_await events->next(10s);  // the subscription closed with the member
    co_return std::make_pair(std::move(stopped), std::move(next));
  };
  auto [stopped, next] = run_bounded(runtime, body());
  EXPECT_TRUE(stopped) << stopped.error();
  EXPECT_TRUE(member.stopped());
  ASSERT_FALSE(next);
  EXPECT_THAT(next, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
}

TEST(HealthCheckerOverMembership, AStricterCheckerDeclaresASilencedMemberFailed) {
  auto a = start("a");
  auto c = start("c");
  ASSERT_TRUE(a && c);
  auto strict = cluster::HealthCheckerConfig::from(member_config("a"));
  strict.phi_threshold = 1;
  strict.acceptable_pause = 0ms;
  cluster::HealthChecker health(*a, strict);
  auto failures = health.subscribe();
  ASSERT_TRUE(health.start());
  ASSERT_TRUE(health.start()) << "idempotent";

  auto events = a->subscribe();
  ASSERT_TRUE(c->join({a->advertised_address()}));
  ASSERT_TRUE(wait_for(*events, EventKind::kNodeJoined, "c"));
  ASSERT_TRUE(health.member("c").has_value());
  EXPECT_TRUE(health.healthy("c"));
  EXPECT_FALSE(health.healthy("nobody"));
  EXPECT_FALSE(health.member("a").has_value()) << "the checker judges the others, not itself";

  c->stop();  // silent: no leave announcement
  // phi reaches 1 about 2.2 s after the last ack; SWIM needs a failed probe plus a 3 s suspicion
  // to declare c dead, and the membership's own detector (threshold 8, 3 s pause) longer still.
  auto failed = failures->next_blocking(20s);
  ASSERT_TRUE(failed) << failed.error();
  EXPECT_EQ(failed->kind, EventKind::kNodeFailed);
  EXPECT_EQ(failed->member.id, "c");
  EXPECT_FALSE(failed->member.healthy);
  if (failed->member.state != cluster::MemberState::kDead) {
    EXPECT_GE(failed->member.phi, 1.0);
  }
  const auto view = health.member("c");
  ASSERT_TRUE(view.has_value());
  EXPECT_FALSE(view->healthy);
  EXPECT_FALSE(health.healthy("c"));

  health.stop();
  auto after = failures->next_blocking(10s);
  ASSERT_FALSE(after);
  EXPECT_THAT(after, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled)) << "stop() closes the checker's subscriptions";
}

TEST(HealthCheckerOverMembership, StartRefusesAnInvalidConfigAndAStoppedMembership) {
  auto a = start("a");
  ASSERT_TRUE(a);
  cluster::HealthCheckerConfig bad;
  bad.window = 1;
  cluster::HealthChecker invalid(*a, bad);
  auto refused = invalid.start();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::kConfig);

  a->stop();
  ASSERT_TRUE(a->wait_stopped_blocking(10s));
  cluster::HealthChecker late(*a);
  auto cancelled = late.start();
  ASSERT_FALSE(cancelled);
  EXPECT_THAT(cancelled, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
}

}  // namespace
}  // namespace rpcnet::testing

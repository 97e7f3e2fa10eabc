// health_tracker.h — HealthChecker's sans-I/O core: one PhiAccrual per member with the checker's
// own settings, fed heartbeats and membership snapshots with an injected `now`, and the
// healthy/unhealthy edges as events (the rule is in health_checker.h).
//
// Example:
//   HealthTracker tracker(config);
//   tracker.heartbeat("w1", clock.now(), expected);
//   for (const auto& e : tracker.evaluate(members, "self", clock.now())) hub.publish(e);
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/phi_accrual.h"
#include "rpcnet/cluster/events.h"
#include "rpcnet/cluster/health_checker.h"
#include "rpcnet/cluster/member.h"

namespace rpcnet::cluster {

class HealthTracker {
 public:
  explicit HealthTracker(const HealthCheckerConfig& config);

  // An ack to this node's probe of `id`, expected every `expected` (see PhiAccrual::heartbeat).
  void heartbeat(const std::string& id, Time now, Duration expected);
  // Re-evaluates the members of a snapshot (`self_id` is skipped) and forgets those that left or
  // are no longer listed. Returns the transitions, in snapshot order.
  std::vector<ClusterEvent> evaluate(std::span<const Member> members, std::string_view self_id, Time now);
  // The checker's view of the snapshot's members (self skipped), without changing anything.
  std::vector<MemberHealth> view(std::span<const Member> members, std::string_view self_id, Time now) const;

 private:
  struct Track {
    PhiAccrual detector;
    Duration expected = Duration::zero();
    bool reported_failed = false;
  };
  MemberHealth judge(const Member& member, const Track* track, Time now) const;

  HealthCheckerConfig config_;
  std::map<std::string, Track, std::less<>> tracks_;
};

}  // namespace rpcnet::cluster

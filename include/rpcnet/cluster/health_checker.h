// rpcnet/cluster/health_checker.h — a phi-accrual failure detector of your own, over a membership.
//
// Contract: a HealthChecker follows a running ClusterMembership and keeps its own phi-accrual
// detector per member, fed by the same heartbeats as the membership's (the acks to this node's
// probes), but with its own threshold and window. So a director can judge workers more strictly
// (or more leniently) than gossip does without changing what the cluster agrees on: the checker
// never gossips, and never changes a member's SWIM state. A member is healthy when it is alive or
// suspect in the membership and its phi is below the checker's threshold. Every transition emits
// one event on the checker's own hub: kNodeFailed when a member stops being healthy (its phi
// reached the threshold, or the membership declared it dead), kNodeRecovered when a failed member
// is alive with its phi below the threshold again. A member that leaves gracefully is forgotten
// without an event (the membership reports kNodeLeft). Silent members are re-evaluated every
// check_interval on the membership's event loop. Thread-safe.
//
// Lifetime: destroy (or stop()) the checker before the event loop the membership runs on stops
// (a membership started without an executor owns its loop: that is always the case); never
// destroy it on that loop, because stopping waits for the checker's timer there.
//
// Example (a director that gives up on a worker sooner than gossip does):
//   rpcnet::Result<bool> worker_looks_healthy(const rpcnet::cluster::ClusterMembership& cluster,
//                                             const rpcnet::cluster::ClusterConfig& config) {
//     rpcnet::cluster::HealthCheckerConfig strict = rpcnet::cluster::HealthCheckerConfig::from(config);
//     strict.phi_threshold = 3;
//     rpcnet::cluster::HealthChecker health(cluster, strict);
//     auto failures = health.subscribe();  // kNodeFailed / kNodeRecovered, by this threshold
//     if (auto started = health.start(); !started) return started.error();
//     return health.healthy("worker-1");
//   }
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "rpcnet/cluster/cluster_config.h"
#include "rpcnet/cluster/event_hub.h"
#include "rpcnet/cluster/member.h"
#include "rpcnet/cluster/membership.h"
#include "rpcnet/result.h"

namespace rpcnet::cluster {

struct HealthCheckerConfig {
  // phi at or above which a member is unhealthy (Akka's default 8; lower is stricter).
  double phi_threshold = 8.0;
  // Heartbeat intervals kept per member for the mean and deviation.
  std::size_t window = 1000;
  // Floor of the deviation, and the silence tolerated on top of the mean (see ClusterConfig).
  Duration min_std_dev = std::chrono::milliseconds(100);
  Duration acceptable_pause = std::chrono::seconds(3);
  // How often silent members are re-evaluated (a heartbeat re-evaluates its member at once).
  Duration check_interval = std::chrono::milliseconds(100);
  // The capacity of each subscriber's queue (see event_hub.h).
  std::size_t event_queue_capacity = 1024;

  // The membership's own phi settings: a checker built from them agrees with Member::healthy.
  static HealthCheckerConfig from(const ClusterConfig& config);
  // kConfig naming the first invalid field.
  Result<void> validate() const;
};

// One member as the checker sees it.
struct MemberHealth {
  Member member;       // the membership's snapshot (its phi/healthy are the membership's)
  double phi = 0.0;    // this checker's phi (0 before the first heartbeat)
  bool healthy = true; // alive or suspect, and phi below this checker's threshold
};

class HealthChecker {
 public:
  HealthChecker(ClusterMembership cluster, HealthCheckerConfig config = {});
  // Stops (see Lifetime above).
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts listening and checking. Errors: kConfig for an invalid config; kCancelled when the
  // membership has already stopped or the checker was stopped. Idempotent while running.
  Result<void> start();
  // Stops checking; the subscriptions close. Idempotent.
  void stop();

  // Every other member of the membership, sorted by id, with this checker's opinion.
  std::vector<MemberHealth> members() const;
  std::optional<MemberHealth> member(std::string_view id) const;
  // False for an unknown member.
  bool healthy(std::string_view id) const;

  // kNodeFailed / kNodeRecovered by this checker's threshold (`member` carries the checker's
  // phi and healthy). Subscribe before start() to see every transition.
  std::shared_ptr<EventHub::Subscription> subscribe();

  const HealthCheckerConfig& config() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace rpcnet::cluster

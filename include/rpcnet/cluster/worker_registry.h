// rpcnet/cluster/worker_registry.h — live, load-balanced choice of a worker.
//
// Contract: a WorkerRegistry follows a running ClusterMembership and keeps the callable workers:
// members that publish an RPC address (tag `rpc_addr`, see cluster_server.h) and do not say they
// are draining (tag `rpc_health` absent or SERVING: a draining worker is deselected while it
// still accepts calls, at the first selection after its tag arrives). Healthy members
// (alive, phi below the threshold) are preferred; SWIM-suspect ones are used only when nothing
// healthy matches; a member is dropped the moment its failure or departure event is seen, and a
// worker whose connection just failed is set aside for a while (outlier ejection, eject()).
// select_worker() picks with the strategy given (LoadBalancingStrategy, P2C by default), using
// in-flight counts and latencies that ClusterClient reports automatically (call_started /
// call_finished). Thread-safe.
//
// Example:
//   #include <iostream>
//
//   void pick_worker(rpcnet::cluster::ClusterMembership cluster) {
//     auto registry = std::make_shared<rpcnet::cluster::WorkerRegistry>(
//         cluster, rpcnet::cluster::LoadBalancingStrategy::kLeastConnections);
//     registry->start();
//     auto worker = registry->select_worker("role=worker");
//     if (worker) std::cout << worker->id << " at " << rpcnet::to_string(worker->address) << "\n";
//   }
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/cluster/load_balancing.h"
#include "rpcnet/cluster/membership.h"
#include "rpcnet/cluster/tag_filter.h"
#include "rpcnet/result.h"
#include "rpcnet/thread_annotations.h"

namespace rpcnet::cluster {

class WorkerRegistry {
 public:
  explicit WorkerRegistry(ClusterMembership cluster,
                          LoadBalancingStrategy strategy = LoadBalancingStrategy::kPowerOfTwoChoices);
  WorkerRegistry(ClusterMembership cluster, LoadBalancerConfig config);

  // Subscribes to the membership and loads its current members. Idempotent.
  void start();

  // Errors: kConfig for a malformed filter; kStatus with kUnavailable when no worker matches.
  Result<WorkerInfo> select_worker(std::string_view filter = {});
  Result<WorkerInfo> select_worker(const TagFilter& filter, const std::set<std::string>& exclude = {});

  std::vector<WorkerInfo> workers();
  std::optional<WorkerLoad> load(std::string_view id) const;

  // Load accounting; ClusterClient calls these around every attempt.
  void call_started(const std::string& id);
  void call_finished(const std::string& id, std::chrono::nanoseconds latency, bool failed);
  // Sets a worker aside (not selected) for `duration`, e.g. after its connection failed; it
  // returns by itself, or earlier if the membership reports it recovered or re-joined.
  void eject(const std::string& id, std::chrono::milliseconds duration);

  // The membership followed (a handle: the copy shares it).
  ClusterMembership cluster() const noexcept { return cluster_; }

 private:
  using Time = std::chrono::steady_clock::time_point;
  void sync_locked(Time now) RPCNET_REQUIRES(mutex_);
  void refresh_locked(Time now) RPCNET_REQUIRES(mutex_);
  void apply_locked(const ClusterEvent& event) RPCNET_REQUIRES(mutex_);

  ClusterMembership cluster_;
  mutable Mutex mutex_;
  WorkerSet workers_ RPCNET_GUARDED_BY(mutex_);
  std::shared_ptr<EventHub::Subscription> events_ RPCNET_GUARDED_BY(mutex_);
  std::uint64_t missed_seen_ RPCNET_GUARDED_BY(mutex_) = 0;
  Time refreshed_ RPCNET_GUARDED_BY(mutex_) = {};
  std::map<std::string, Time, std::less<>> ejected_until_ RPCNET_GUARDED_BY(mutex_);
};

}  // namespace rpcnet::cluster

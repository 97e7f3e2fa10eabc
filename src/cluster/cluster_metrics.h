// What the cluster layer reports to a MetricsRegistry: a member's gossip counters and member
// counts by state, and a ClusterClient's routing figures per worker. Names: doc/operations.md.
#pragma once

#include <functional>
#include <vector>

#include "rpcnet/cluster/cluster_client.h"
#include "rpcnet/cluster/member.h"
#include "rpcnet/cluster/membership_counters.h"
#include "rpcnet/metrics.h"

namespace rpcnet::cluster {

struct MembershipSnapshot {
  MembershipCounters counters;
  std::vector<Member> members;  // self included
};

// `read` is called at every scrape (on the scraping thread) and must be thread-safe.
CollectorHandle collect_membership_metrics(MetricsRegistry& registry, std::function<MembershipSnapshot()> read);

// Reads client.worker_stats(), client.stats() and the in-flight counts of its WorkerRegistry.
CollectorHandle collect_cluster_client_metrics(MetricsRegistry& registry, const ClusterClient& client);

}  // namespace rpcnet::cluster

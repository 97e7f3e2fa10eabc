// rpcnet/cluster/node_registry.h — the cluster's nodes, filtered by tags.
//
// Contract: a read-only view over a running ClusterMembership. nodes() lists the members that
// are alive or suspect (not dead, not left), self included, sorted by id; nodes_with_tag()
// narrows them with a TagFilter ("gpu", "role=worker", "role=worker,zone=a" — terms AND).
// Every call reads the membership's current state; there is nothing to start or stop.
// Thread-safe.
//
// Example:
//   #include <iostream>
//
//   void list_gpu_nodes(rpcnet::cluster::ClusterMembership cluster) {
//     rpcnet::cluster::NodeRegistry registry(std::move(cluster));
//     auto gpu_nodes = registry.nodes_with_tag("gpu");
//     if (!gpu_nodes) { std::cerr << gpu_nodes.error() << "\n"; return; }  // a malformed filter
//     for (const auto& node : *gpu_nodes) std::cout << node.id << "\n";
//     auto events = registry.subscribe();  // joins, failures, tag changes ...
//   }
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "rpcnet/cluster/event_hub.h"
#include "rpcnet/cluster/member.h"
#include "rpcnet/cluster/membership.h"
#include "rpcnet/cluster/tag_filter.h"
#include "rpcnet/result.h"

namespace rpcnet::cluster {

class NodeRegistry {
 public:
  explicit NodeRegistry(ClusterMembership cluster) : cluster_(std::move(cluster)) {}

  std::vector<Member> nodes() const;
  // Errors: kConfig when `filter` does not parse (see tag_filter.h).
  Result<std::vector<Member>> nodes_with_tag(std::string_view filter) const;
  std::vector<Member> nodes_with_tag(const TagFilter& filter) const;
  std::shared_ptr<EventHub::Subscription> subscribe() { return cluster_.subscribe(); }

 private:
  ClusterMembership cluster_;
};

}  // namespace rpcnet::cluster

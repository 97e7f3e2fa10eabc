// rpcnet/cluster/events.h — membership changes as events.
//
// Contract (one event per transition, never repeated for the same transition):
//   kNodeJoined        the first time a member is seen alive (again after it had left).
//   kNodeLeft          the member left gracefully (never followed by kNodeFailed for that leave).
//   kNodeFailed        the member became unreachable: SWIM declared it dead, or this node's
//                      phi-accrual detector (fed by the acks to this node's probes of it) crossed
//                      the threshold — whichever happens first. The other one does not emit a
//                      second kNodeFailed. Phi accuses nobody new while this node's own Lifeguard
//                      health score is raised (its probes are slowed, so every ack is late).
//   kNodeRecovered     a member for which kNodeFailed was emitted is alive and healthy again.
//   kNodeTagsUpdated   a known member published different tags (carried in `member`).
//   kPartitionDetected at least ClusterConfig::partition_fraction of the other members became
//                      unreachable within ClusterConfig::partition_window (and at least two).
//   kPartitionHealed   at least half of the members counted by kPartitionDetected are alive again.
// For partition events `member` is empty; `unreachable` is the number of members counted as
// unreachable and `members` the number of members (self included) the fraction was taken of.
//
// Example:
//   #include <iostream>
//
//   #include "rpcnet/cluster/membership.h"
//
//   void report_failures(rpcnet::cluster::ClusterMembership& membership) {
//     auto events = membership.subscribe();
//     while (auto e = events->poll()) {
//       if (e->kind == rpcnet::cluster::EventKind::kNodeFailed) std::cout << e->member.id << "\n";
//     }
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rpcnet/cluster/member.h"

namespace rpcnet::cluster {

enum class EventKind : std::uint8_t {
  kNodeJoined,
  kNodeLeft,
  kNodeFailed,
  kNodeRecovered,
  kNodeTagsUpdated,
  kPartitionDetected,
  kPartitionHealed,
};

struct ClusterEvent {
  EventKind kind;
  Member member;  // empty for partition events
  std::size_t unreachable = 0;
  std::size_t members = 0;
};

// "node_joined", "node_left", ...
std::string_view event_kind_name(EventKind kind) noexcept;

}  // namespace rpcnet::cluster

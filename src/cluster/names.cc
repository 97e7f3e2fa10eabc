// Printable names of the public enums.
#include "rpcnet/cluster/events.h"
#include "rpcnet/cluster/member.h"

namespace rpcnet::cluster {

std::string_view member_state_name(MemberState state) noexcept {
  switch (state) {
    case MemberState::kAlive: return "alive";
    case MemberState::kSuspect: return "suspect";
    case MemberState::kDead: return "dead";
    case MemberState::kLeft: return "left";
  }
  return "unknown";
}

std::string_view event_kind_name(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::kNodeJoined: return "node_joined";
    case EventKind::kNodeLeft: return "node_left";
    case EventKind::kNodeFailed: return "node_failed";
    case EventKind::kNodeRecovered: return "node_recovered";
    case EventKind::kNodeTagsUpdated: return "node_tags_updated";
    case EventKind::kPartitionDetected: return "partition_detected";
    case EventKind::kPartitionHealed: return "partition_healed";
  }
  return "unknown";
}

}  // namespace rpcnet::cluster

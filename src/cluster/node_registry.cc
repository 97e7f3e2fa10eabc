#include "rpcnet/cluster/node_registry.h"

namespace rpcnet::cluster {

std::vector<Member> NodeRegistry::nodes() const { return nodes_with_tag(TagFilter()); }

Result<std::vector<Member>> NodeRegistry::nodes_with_tag(std::string_view filter) const {
  return TagFilter::parse(filter).transform([this](const TagFilter& parsed) { return nodes_with_tag(parsed); });
}

std::vector<Member> NodeRegistry::nodes_with_tag(const TagFilter& filter) const {
  std::vector<Member> out;
  for (auto& member : cluster_.members()) {
    const bool reachable = member.state == MemberState::kAlive || member.state == MemberState::kSuspect;
    if (reachable && filter.matches(member.tags)) out.push_back(std::move(member));
  }
  return out;
}

}  // namespace rpcnet::cluster

#include "cluster/partition_detector.h"

namespace rpcnet::cluster {

void PartitionDetector::on_unreachable(const std::string& id, Time now) {
  unreachable_since_.emplace(id, now);  // keeps the first transition time
}

void PartitionDetector::on_reachable(const std::string& id) { unreachable_since_.erase(id); }

void PartitionDetector::on_removed(const std::string& id) {
  unreachable_since_.erase(id);
  counted_.erase(id);
}

std::optional<ClusterEvent> PartitionDetector::evaluate(std::size_t other_members, Time now) {
  if (!active_) {
    std::set<std::string> recent;
    for (const auto& [id, since] : unreachable_since_) {
      if (now - since <= window_) recent.insert(id);
    }
    if (recent.size() >= 2 &&
        static_cast<double>(recent.size()) >= fraction_ * static_cast<double>(other_members)) {
      active_ = true;
      counted_ = recent;
      return ClusterEvent{EventKind::kPartitionDetected, Member{}, recent.size(), other_members + 1};
    }
    return std::nullopt;
  }
  std::size_t still_unreachable = 0;
  for (const auto& id : counted_) still_unreachable += unreachable_since_.count(id);
  const std::size_t back = counted_.size() - still_unreachable;
  if (counted_.empty() || back * 2 >= counted_.size()) {
    active_ = false;
    counted_.clear();
    return ClusterEvent{EventKind::kPartitionHealed, Member{}, still_unreachable, other_members + 1};
  }
  return std::nullopt;
}

}  // namespace rpcnet::cluster

// partition_detector.h — the rule behind kPartitionDetected / kPartitionHealed.
//
// Rule: a partition is detected when at least two other members, and at least
// `fraction` of the other members that have not left, went from alive to suspect/dead within
// the last `window` and are still unreachable. It is healed when at least half of the members
// counted at detection are alive again (members that left since are not counted). While a
// partition is active no second detection is reported. A single crash is never a partition.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "rpcnet/cluster/events.h"

namespace rpcnet::cluster {

class PartitionDetector {
 public:
  PartitionDetector(double fraction, Duration window) : fraction_(fraction), window_(window) {}

  void on_unreachable(const std::string& id, Time now);  // alive -> suspect/dead
  void on_reachable(const std::string& id);              // -> alive
  void on_removed(const std::string& id);                // left or forgotten
  // `other_members`: members other than self that have not left.
  std::optional<ClusterEvent> evaluate(std::size_t other_members, Time now);
  bool active() const { return active_; }

 private:
  double fraction_;
  Duration window_;
  std::map<std::string, Time> unreachable_since_;
  bool active_ = false;
  std::set<std::string> counted_;
};

}  // namespace rpcnet::cluster

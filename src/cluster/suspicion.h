// suspicion.h — SWIM timing formulas as memberlist ships them (base-10 logs) and Lifeguard's
// dynamic suspicion timer (research/membership.md §2.2).
//
// A suspicion starts at `max` and shrinks toward `min` as independent confirmations arrive:
//   timeout(c) = max(min, max - log(c + 1) / log(k + 1) * (max - min)),  measured from `start`,
// where k = confirmations expected to reach the minimum. k == 0 (tiny clusters, or Lifeguard
// off) means the minimum applies at once. The originator never counts as a confirmation, and
// each confirming member counts once.
#pragma once

#include <cstddef>
#include <set>
#include <string>

#include "rpcnet/cluster/member.h"

namespace rpcnet::cluster {

// suspicion_mult * max(1, log10(max(1, n))) * interval.
Duration suspicion_timeout_min(int suspicion_mult, std::size_t n, Duration probe_interval);
// retransmit_mult * max(2, ceil(log10(n + 1))). memberlist's formula has no floor, so below 10
// members an update is sent only mult times per member: in a 5-member cluster that left one
// member without a tag update for a whole push-pull period in about 1 update in 200 (measured
// over 1000 seeds of SwimCluster.TagUpdateReachesEveryMemberWithinTwoSeconds); with the floor,
// 0 in 1000. The cost is a few packets per update in clusters of under 10.
std::size_t retransmit_limit(int retransmit_mult, std::size_t n);
// interval for n <= 32, else (ceil(log2(n) - log2(32)) + 1) * interval.
Duration push_pull_scale(Duration interval, std::size_t n);
// Confirmations needed to reach the minimum: suspicion_mult - 2, or 0 if n - 2 is smaller.
int suspicion_confirmations_needed(int suspicion_mult, std::size_t n);
// timeout(c) above (not yet minus elapsed time).
Duration suspicion_timeout(std::size_t confirmations, int k, Duration min, Duration max);

class Suspicion {
 public:
  Suspicion(std::string originator, std::uint64_t incarnation, int k, Duration min, Duration max, Time start)
      : originator_(std::move(originator)), incarnation_(incarnation), k_(k), min_(min), max_(max),
        start_(start) {}

  // Returns true if `from` is a new independent confirmation (and the deadline moved).
  bool confirm(const std::string& from);
  Time deadline() const { return start_ + suspicion_timeout(confirmers_.size(), k_, min_, max_); }
  std::size_t confirmations() const { return confirmers_.size(); }
  std::uint64_t incarnation() const { return incarnation_; }

 private:
  std::string originator_;
  std::uint64_t incarnation_;
  int k_;
  Duration min_;
  Duration max_;
  Time start_;
  std::set<std::string> confirmers_;
};

}  // namespace rpcnet::cluster

// phi_accrual.h — phi accrual failure detector, Akka's normal model with the logistic
// approximation of the normal CDF (Hayashibara et al. 2004; akka PhiAccrualFailureDetector):
//   mean' = mean + acceptable_pause,  sd = max(stddev, min_std_dev),  y = (t - mean') / sd
//   e = exp(-y (1.5976 + 0.070566 y^2)),  phi = -log10(e / (1 + e))
// computed in log space so it never overflows to infinity. Times are in milliseconds.
// The history starts with two samples, estimate -/+ estimate/4 (Akka's bootstrap). While the
// member is considered unavailable (phi >= threshold at the arrival), the interval is not added:
// a long pause would skew the statistics.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>

#include "rpcnet/cluster/member.h"

namespace rpcnet::cluster {

class PhiAccrual {
 public:
  struct Params {
    std::size_t window = 1000;
    double min_std_dev_ms = 100;
    double acceptable_pause_ms = 3000;
    double threshold = 8;
  };

  explicit PhiAccrual(Params params) : params_(params) {}

  // A heartbeat (SwimCore: an ack to one of its probes of the member). `expected` is the
  // interval the sender's schedule implies (zero if unknown): it seeds the history on the first
  // call and floors the statistics (see phi()).
  void heartbeat(Time now, Duration expected = Duration::zero());
  // 0 before the first heartbeat. With a non-zero `expected` interval E the model uses
  // mean = max(mean, E), pause = max(acceptable_pause, E) and sd = max(sd, min_std_dev,
  // E / sqrt(6)): rpcnet's deviation from Akka, because the heartbeat schedule (one probe per
  // round of n-1 periods, shuffled, so gaps spread with sd = round / sqrt(6)) is known and changes
  // with the cluster size. Without the floors a history learnt while the cluster was small makes
  // phi fire on every later gap (and Akka's rule of not recording intervals while unavailable
  // then keeps it from ever learning); the pause of one round tolerates one lost probe round
  // (at 10% packet loss phi otherwise fired on healthy members). With E zero it is Akka's.
  double phi(Time now, Duration expected = Duration::zero()) const;
  bool available(Time now, Duration expected = Duration::zero()) const {
    return phi(now, expected) < params_.threshold;
  }
  void reset();

  double mean_ms() const;
  double std_dev_ms() const;
  std::size_t samples() const { return intervals_.size(); }

  // The formula alone (for tests): time since the last heartbeat, mean (pause included), sd.
  static double phi_of(double time_diff_ms, double mean_ms, double std_dev_ms);

 private:
  void add(double interval_ms);
  Params params_;
  std::deque<double> intervals_;
  double sum_ = 0;
  double sum_sq_ = 0;
  std::optional<Time> last_;
};

}  // namespace rpcnet::cluster

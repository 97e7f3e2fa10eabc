#include "cluster/phi_accrual.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace rpcnet::cluster {
namespace {
double to_ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
}  // namespace

double PhiAccrual::phi_of(double time_diff_ms, double mean_ms, double std_dev_ms) {
  const double y = (time_diff_ms - mean_ms) / std_dev_ms;
  const double x = -y * (1.5976 + 0.070566 * y * y);  // ln(e)
  // -log10(e / (1 + e)) = (log1p(e) - ln e) / ln 10, written so exp() never overflows.
  const double nat = x > 0 ? std::log1p(std::exp(-x)) : std::log1p(std::exp(x)) - x;
  return nat / std::log(10.0);
}

void PhiAccrual::add(double interval_ms) {
  intervals_.push_back(interval_ms);
  sum_ += interval_ms;
  sum_sq_ += interval_ms * interval_ms;
  while (intervals_.size() > params_.window) {
    const double old = intervals_.front();
    intervals_.pop_front();
    sum_ -= old;
    sum_sq_ -= old * old;
  }
}

void PhiAccrual::heartbeat(Time now, Duration expected) {
  if (!last_) {
    const double mean = std::max(1.0, to_ms(expected));
    add(mean - mean / 4);
    add(mean + mean / 4);
  } else if (now > *last_) {
    if (available(now, expected)) add(to_ms(now - *last_));
  }
  if (!last_ || now > *last_) last_ = now;
}

double PhiAccrual::mean_ms() const {
  return intervals_.empty() ? 0 : sum_ / static_cast<double>(intervals_.size());
}

double PhiAccrual::std_dev_ms() const {
  if (intervals_.empty()) return 0;
  const double mean = mean_ms();
  const double variance = sum_sq_ / static_cast<double>(intervals_.size()) - mean * mean;
  return variance > 0 ? std::sqrt(variance) : 0;
}

double PhiAccrual::phi(Time now, Duration expected) const {
  if (!last_ || intervals_.empty()) return 0;
  const double diff = now > *last_ ? to_ms(now - *last_) : 0;
  const double expected_ms = to_ms(expected);
  const double pause = std::max(params_.acceptable_pause_ms, expected_ms);
  const double mean = std::max(mean_ms(), expected_ms) + pause;
  const double sd = std::max({std_dev_ms(), params_.min_std_dev_ms, expected_ms / std::sqrt(6.0)});
  return std::max(0.0, phi_of(diff, mean, sd));
}

void PhiAccrual::reset() {
  intervals_.clear();
  sum_ = 0;
  sum_sq_ = 0;
  last_.reset();
}

}  // namespace rpcnet::cluster

// percentile(): the one definition of a percentile the benchmarks and the demo tools report.
//
// Convention: nearest rank. The q-th percentile of n samples is the smallest sample that at
// least q of all samples are less than or equal to, i.e. the sample at (1-based) rank
// ceil(q * n) after sorting. p50 of {1, 2, 3, 4} is 2, p99 of 100 samples is the 99th smallest,
// p100 (and p99 of fewer than 100 samples) is the maximum, p0 the minimum. It never
// interpolates, so every reported value is a latency that was measured.
//
//   std::vector<double> latencies_us = ...;
//   const double p99 = rpcnet::percentile(latencies_us, 0.99).value_or(0);
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

namespace rpcnet {

// `fraction` in [0, 1] (clamped); no value for no samples. Takes the samples by value because it
// reorders them (O(n), std::nth_element).
template <typename T>
std::optional<T> percentile(std::vector<T> samples, double fraction) {
  if (samples.empty()) return std::nullopt;
  const double n = static_cast<double>(samples.size());
  // The epsilon keeps q * n that is an integer in exact arithmetic (0.99 * 100) from rounding
  // up past it in binary floating point.
  const double rank = std::ceil(std::clamp(fraction, 0.0, 1.0) * n - 1e-9);
  const auto index = static_cast<std::size_t>(std::clamp(rank, 1.0, n)) - 1;
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(index), samples.end());
  return samples[index];
}

}  // namespace rpcnet

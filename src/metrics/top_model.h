// What `rpcnet top` shows, computed without I/O from two scrapes of a /metrics endpoint and the
// time between them: per method, calls/s, errors/s and p50/p99 latency over that interval.
//
// It reads the per-method metrics RpcServer and RpcClient export, for one side:
//   rpcnet_<side>_calls_finished_total{method,code}   calls/s = delta / seconds,
//                                                     errors/s = the same for code != "OK"
//   rpcnet_<side>_call_duration_seconds{method}        p50/p99 from the bucket deltas
// Rules, the same as Prometheus's rate() and histogram_quantile() where they apply:
//   - A counter that went down restarted: its new value is the delta. A series missing from the
//     previous scrape counts from 0. Negative, infinite and NaN values count as 0.
//   - A histogram series with any bucket lower than before restarted: its current buckets are
//     the delta. Buckets are made cumulative-monotonic before use.
//   - A quantile interpolates linearly inside the bucket that holds the rank (the first bucket
//     from 0); a rank in the +Inf bucket reports the highest finite bound; no calls, or no +Inf
//     bucket, report no value.
//   - Series with the same method but other extra labels (several exporters merged) add up.
//
// Example:
//   auto before = parse_exposition(first_scrape_text);
//   auto after = parse_exposition(second_scrape_text);
//   for (const MethodActivity& row : compute_top(*before, *after, 1.0, TopSide::kServer)) {
//     // row.method, row.calls_per_second, row.errors_per_second, row.p50_seconds, ...
//   }
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/exposition_parser.h"

namespace rpcnet::metrics {

enum class TopSide { kServer, kClient };

// "rpcnet_server_" or "rpcnet_client_".
std::string_view top_metric_prefix(TopSide side);

struct MethodActivity {
  std::string method;
  double calls_per_second = 0;
  double errors_per_second = 0;
  std::optional<double> p50_seconds;  // nullopt: no calls finished in the interval
  std::optional<double> p99_seconds;

  friend bool operator==(const MethodActivity&, const MethodActivity&) = default;
};

// One row per method with a calls-started, calls-finished or duration series in `current`
// (series without a method label are ignored), sorted by
// calls/s (highest first), then by name. `elapsed_seconds` <= 0 (or not finite) gives zero rates.
std::vector<MethodActivity> compute_top(const ParsedExposition& previous, const ParsedExposition& current,
                                        double elapsed_seconds, TopSide side);

struct HistogramBucket {
  double upper_bound;       // +Inf for the last
  double cumulative_count;
};

// Prometheus's histogram_quantile for one histogram (buckets in any order; equal bounds add up).
// nullopt when q is outside [0, 1], there is no +Inf bucket, fewer than two buckets, or no
// observations.
std::optional<double> histogram_quantile(double q, std::vector<HistogramBucket> buckets);

}  // namespace rpcnet::metrics

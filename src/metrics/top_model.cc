// compute_top: counter and histogram deltas between two scrapes, grouped by method.
#include "metrics/top_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace rpcnet::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double counter_value(double value) { return std::isfinite(value) && value > 0 ? value : 0; }

// Identifies a series by name and labels (without `skipped`); lengths keep it unambiguous
// whatever bytes the label values hold.
std::string series_key(const ParsedSample& sample, std::string_view skipped = {}) {
  std::string key = sample.name;
  for (const auto& [name, value] : sample.labels) {
    if (name == skipped) continue;
    key += '|';
    key += std::to_string(name.size()) + ':' + name;
    key += std::to_string(value.size()) + ':' + value;
  }
  return key;
}

// Current minus previous per series of `name`, each delta handed to `add` with its sample.
template <typename Add>
void for_each_counter_delta(const ParsedExposition& previous, const ParsedExposition& current,
                            const std::string& name, Add add) {
  std::map<std::string, double> before;
  for (const ParsedSample& sample : previous.samples) {
    if (sample.name == name) before[series_key(sample)] += counter_value(sample.value);
  }
  for (const ParsedSample& sample : current.samples) {
    if (sample.name != name) continue;
    const double now = counter_value(sample.value);
    const auto it = before.find(series_key(sample));
    const double then = it == before.end() ? 0 : it->second;
    add(sample, now >= then ? now - then : now);
  }
}

// Bucket bound -> cumulative count, for one histogram series.
using Buckets = std::map<double, double>;

// `name`_bucket series grouped by their labels without `le`; each entry also remembers its method.
struct HistogramSeries {
  std::string method;
  Buckets buckets;
};
std::map<std::string, HistogramSeries> histogram_series(const ParsedExposition& scrape, const std::string& name) {
  std::map<std::string, HistogramSeries> out;
  for (const ParsedSample& sample : scrape.samples) {
    if (sample.name != name) continue;
    const std::string* method = sample.label("method");
    const std::string* le = sample.label("le");
    if (method == nullptr || le == nullptr) continue;
    const auto bound = parse_exposition_value(*le);
    if (!bound || std::isnan(*bound)) continue;
    HistogramSeries& series = out[series_key(sample, "le")];
    series.method = *method;
    series.buckets[*bound] += counter_value(sample.value);
  }
  return out;
}

}  // namespace

std::string_view top_metric_prefix(TopSide side) {
  return side == TopSide::kServer ? "rpcnet_server_" : "rpcnet_client_";
}

std::optional<double> histogram_quantile(double q, std::vector<HistogramBucket> buckets) {
  if (!(q >= 0 && q <= 1)) return std::nullopt;
  std::sort(buckets.begin(), buckets.end(),
            [](const HistogramBucket& a, const HistogramBucket& b) { return a.upper_bound < b.upper_bound; });
  // Equal bounds add up (several series of one method), NaN bounds are dropped.
  std::vector<HistogramBucket> merged;
  for (const HistogramBucket& bucket : buckets) {
    if (std::isnan(bucket.upper_bound)) continue;
    if (!merged.empty() && merged.back().upper_bound == bucket.upper_bound) {
      merged.back().cumulative_count += bucket.cumulative_count;
    } else {
      merged.push_back(bucket);
    }
  }
  if (merged.size() < 2 || merged.back().upper_bound != kInf) return std::nullopt;
  // Counts scraped while observations land can dip; Prometheus evens them out the same way.
  for (std::size_t i = 1; i < merged.size(); ++i) {
    merged[i].cumulative_count = std::max(merged[i].cumulative_count, merged[i - 1].cumulative_count);
  }
  const double observations = merged.back().cumulative_count;
  if (!(observations > 0)) return std::nullopt;
  double rank = q * observations;
  std::size_t b = 0;
  while (b < merged.size() - 1 && merged[b].cumulative_count < rank) ++b;
  if (b == merged.size() - 1) return merged[b - 1].upper_bound;
  if (b == 0 && merged[0].upper_bound <= 0) return merged[0].upper_bound;
  double start = 0;
  double count = merged[b].cumulative_count;
  if (b > 0) {
    start = merged[b - 1].upper_bound;
    count -= merged[b - 1].cumulative_count;
    rank -= merged[b - 1].cumulative_count;
  }
  if (!(count > 0)) return start;  // q = 0 on an empty first bucket
  return start + (merged[b].upper_bound - start) * (rank / count);
}

std::vector<MethodActivity> compute_top(const ParsedExposition& previous, const ParsedExposition& current,
                                        double elapsed_seconds, TopSide side) {
  const std::string prefix(top_metric_prefix(side));
  const std::string finished = prefix + "calls_finished_total";
  const std::string started = prefix + "calls_started_total";
  const std::string duration_bucket = prefix + "call_duration_seconds_bucket";

  struct Totals {
    double calls = 0;
    double errors = 0;
    Buckets latency;  // summed bucket deltas
  };
  std::map<std::string, Totals> methods;

  for (const ParsedSample& sample : current.samples) {
    if (sample.name != started) continue;
    if (const std::string* method = sample.label("method")) methods[*method];
  }
  for_each_counter_delta(previous, current, finished, [&](const ParsedSample& sample, double delta) {
    const std::string* method = sample.label("method");
    if (method == nullptr) return;
    Totals& totals = methods[*method];
    totals.calls += delta;
    const std::string* code = sample.label("code");
    if (code == nullptr || *code != "OK") totals.errors += delta;
  });

  const auto before = histogram_series(previous, duration_bucket);
  for (const auto& [key, series] : histogram_series(current, duration_bucket)) {
    const auto it = before.find(key);
    bool restarted = false;
    if (it != before.end()) {
      for (const auto& [bound, count] : series.buckets) {
        const auto then = it->second.buckets.find(bound);
        restarted = restarted || (then != it->second.buckets.end() && count < then->second);
      }
    }
    Buckets& latency = methods[series.method].latency;
    for (const auto& [bound, count] : series.buckets) {
      double then = 0;
      if (it != before.end() && !restarted) {
        const auto found = it->second.buckets.find(bound);
        if (found != it->second.buckets.end()) then = found->second;
      }
      latency[bound] += count - then;
    }
  }

  const bool timed = std::isfinite(elapsed_seconds) && elapsed_seconds > 0;
  std::vector<MethodActivity> rows;
  rows.reserve(methods.size());
  for (const auto& [method, totals] : methods) {
    MethodActivity row;
    row.method = method;
    row.calls_per_second = timed ? totals.calls / elapsed_seconds : 0;
    row.errors_per_second = timed ? totals.errors / elapsed_seconds : 0;
    std::vector<HistogramBucket> buckets;
    for (const auto& [bound, count] : totals.latency) buckets.push_back({bound, count});
    row.p50_seconds = histogram_quantile(0.5, buckets);
    row.p99_seconds = histogram_quantile(0.99, buckets);
    rows.push_back(std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const MethodActivity& a, const MethodActivity& b) {
    return a.calls_per_second > b.calls_per_second;
  });
  return rows;
}

}  // namespace rpcnet::metrics

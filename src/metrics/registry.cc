// MetricsRegistry: families created on first use, collectors run at scrape time; both rendered
// by metrics::ExpositionBuilder.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "metrics/exposition.h"
#include "rpcnet/assert.h"
#include "rpcnet/metrics.h"
#include "rpcnet/thread_annotations.h"

namespace rpcnet {

using metrics::MetricType;

// ---- Histogram ------------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> upper_bounds) {
  // Bounds must rise strictly; drop what does not (NaN, infinities, repeats) rather than misfile.
  for (double bound : upper_bounds) {
    if (std::isfinite(bound) && (upper_bounds_.empty() || bound > upper_bounds_.back())) {
      upper_bounds_.push_back(bound);
    }
  }
  buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds_.size() + 1);
}

void Histogram::observe(double value) noexcept {
  const auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  buckets_[static_cast<std::size_t>(bucket - upper_bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(running);
  }
  // Observations racing with these loads may be in some buckets and not others: report the
  // bucket total as the count, so that count equals the +Inf bucket as Prometheus requires.
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

// ---- CollectorHandle ------------------------------------------------------------------------------

CollectorHandle::CollectorHandle(CollectorHandle&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}

CollectorHandle& CollectorHandle::operator=(CollectorHandle&& other) noexcept {
  if (this != &other) {
    reset();
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

CollectorHandle::~CollectorHandle() { reset(); }

void CollectorHandle::reset() {
  if (registry_ != nullptr) std::exchange(registry_, nullptr)->remove_collector(id_);
}

// ---- MetricsRegistry ------------------------------------------------------------------------------

namespace {

struct Series {
  MetricLabels labels;
  Counter counter;
  Gauge gauge;
  std::unique_ptr<Histogram> histogram;
};

struct Family {
  MetricType type;
  std::string help;
  std::vector<double> buckets;  // histograms only
  std::vector<std::unique_ptr<Series>> series;
};

MetricLabels sanitized(const MetricLabels& labels) {
  MetricLabels out = labels;
  for (auto& [key, value] : out) key = metrics::sanitize_label_name(key);
  return out;
}

}  // namespace

struct MetricsRegistry::State {
  Mutex families_mutex;
  std::map<std::string, Family, std::less<>> families RPCNET_GUARDED_BY(families_mutex);
  // Handed out for conflicting requests.
  std::vector<std::unique_ptr<Series>> orphans RPCNET_GUARDED_BY(families_mutex);

  // Held while collectors run, so removing one waits for a scrape that is running it.
  Mutex collectors_mutex;
  std::map<std::uint64_t, std::function<void(MetricsWriter&)>> collectors RPCNET_GUARDED_BY(collectors_mutex);
  std::uint64_t next_collector_id RPCNET_GUARDED_BY(collectors_mutex) = 1;

  Series& series(std::string_view raw_name, std::string_view help, MetricType type,
                 std::span<const double> buckets, const MetricLabels& raw_labels) {
    const std::string name = metrics::sanitize_metric_name(raw_name);
    MetricLabels labels = sanitized(raw_labels);
    const std::vector<double> bucket_list(buckets.begin(), buckets.end());
    MutexLock lock(families_mutex);
    auto it = families.find(name);
    if (it == families.end()) {
      it = families.emplace(name, Family{type, std::string(help), bucket_list, {}}).first;
    }
    Family& family = it->second;
    const bool conflicting = family.type != type || family.buckets != bucket_list;
    RPCNET_ASSERT(!conflicting, "a metric name is reused with another type or other buckets");
    if (conflicting) return *orphans.emplace_back(make_series(std::move(labels), type, bucket_list));
    for (auto& existing : family.series) {
      if (existing->labels == labels) return *existing;
    }
    return *family.series.emplace_back(make_series(std::move(labels), type, bucket_list));
  }

  static std::unique_ptr<Series> make_series(MetricLabels labels, MetricType type,
                                             const std::vector<double>& buckets) {
    auto series = std::make_unique<Series>();
    series->labels = std::move(labels);
    if (type == MetricType::kHistogram) series->histogram = std::make_unique<Histogram>(buckets);
    return series;
  }
};

MetricsRegistry::MetricsRegistry() : state_(std::make_unique<State>()) {}
MetricsRegistry::~MetricsRegistry() = default;

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, const MetricLabels& labels) {
  return state_->series(name, help, MetricType::kCounter, {}, labels).counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const MetricLabels& labels) {
  return state_->series(name, help, MetricType::kGauge, {}, labels).gauge;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      std::span<const double> buckets, const MetricLabels& labels) {
  return *state_->series(name, help, MetricType::kHistogram, buckets, labels).histogram;
}

CollectorHandle MetricsRegistry::add_collector(std::function<void(MetricsWriter&)> collector) {
  MutexLock lock(state_->collectors_mutex);
  const std::uint64_t id = state_->next_collector_id++;
  state_->collectors.emplace(id, std::move(collector));
  return CollectorHandle(this, id);
}

void MetricsRegistry::remove_collector(std::uint64_t id) {
  MutexLock lock(state_->collectors_mutex);
  state_->collectors.erase(id);
}

std::string MetricsRegistry::prometheus_text() const {
  metrics::ExpositionBuilder builder;
  {
    MutexLock lock(state_->families_mutex);
    for (const auto& [name, family] : state_->families) {
      for (const auto& series : family.series) {
        switch (family.type) {
          case MetricType::kCounter:
            builder.counter(name, family.help, series->labels, static_cast<double>(series->counter.value()));
            break;
          case MetricType::kGauge:
            builder.gauge(name, family.help, series->labels, series->gauge.value());
            break;
          case MetricType::kHistogram:
            builder.histogram(name, family.help, series->labels, series->histogram->snapshot());
            break;
        }
      }
    }
  }
  {
    MutexLock lock(state_->collectors_mutex);
    for (const auto& [id, collector] : state_->collectors) collector(builder);
  }
  return builder.render();
}

std::span<const double> MetricsRegistry::latency_buckets() noexcept {
  static constexpr double kBuckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return kBuckets;
}

std::span<const double> MetricsRegistry::size_buckets() noexcept {
  static constexpr double kBuckets[] = {64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                                        16777216, 67108864};
  return kBuckets;
}

MetricsRegistry& default_metrics() {
  static MetricsRegistry* const registry = new MetricsRegistry();  // never destroyed: see header
  return *registry;
}

}  // namespace rpcnet

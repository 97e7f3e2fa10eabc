// rpcnet/metrics.h — counters, gauges and histograms, exported in the Prometheus text format.
//
// Contract:
//   - A MetricsRegistry holds metric families by name. counter()/gauge()/histogram() create a
//     series on first use and return the same object for the same name and labels afterwards;
//     the reference stays valid as long as the registry. Updating a metric is a relaxed atomic
//     operation: no lock, no allocation, safe from any thread.
//   - Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]*; other
//     characters are replaced by '_'. Asking for an existing name with another type, or a
//     histogram with other buckets, is a programming error: debug builds assert, release builds
//     return a series that is never exported.
//   - Label values may be any string (they are escaped). Keep their number bounded: never put a
//     peer address, a request id or an unregistered method name into a label.
//   - A collector is a callback that writes values computed elsewhere (e.g. RpcServer::stats())
//     at scrape time. It is removed when its CollectorHandle is destroyed; after that it is never
//     called again, so it may capture objects that die with the handle.
//   - prometheus_text() renders every family once (HELP, TYPE, samples), sorted by name, in the
//     text exposition format 0.0.4 that Prometheus scrapes.
//   - default_metrics() is the registry RpcServer, ClusterClient and membership report into
//     unless their config names another; RpcConfig::with_metrics_address serves it over HTTP.
//
// Example:
//   // Counts jobs and times them; the registry renders both for a scrape.
//   std::string run_job(rpcnet::MetricsRegistry& registry) {
//     auto& jobs = registry.counter("jobs_total", "Jobs processed.", {{"queue", "default"}});
//     auto& latency = registry.histogram("job_seconds", "Job duration.",
//                                        rpcnet::MetricsRegistry::latency_buckets());
//     jobs.inc();
//     latency.observe(0.004);
//     return registry.prometheus_text();  // "# HELP job_seconds Job duration.\n..."
//   }
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rpcnet {

// Ordered label pairs: {{"method", "echo"}, {"code", "OK"}}.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void add(double delta) noexcept { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Fixed buckets, chosen when the family is created. An observation lands in the first bucket
// whose upper bound is >= the value; larger values count only in +Inf.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double value) noexcept;

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> cumulative_counts;  // one per bound, then +Inf
    std::uint64_t count = 0;
    double sum = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& upper_bounds() const noexcept { return upper_bounds_; }

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // upper_bounds_.size() + 1 (+Inf)
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// What a collector writes at scrape time. Samples of one name must keep one type.
class MetricsWriter {
 public:
  virtual ~MetricsWriter() = default;
  virtual void counter(std::string_view name, std::string_view help, const MetricLabels& labels,
                       double value) = 0;
  virtual void gauge(std::string_view name, std::string_view help, const MetricLabels& labels,
                     double value) = 0;
  virtual void histogram(std::string_view name, std::string_view help, const MetricLabels& labels,
                         const Histogram::Snapshot& snapshot) = 0;
};

class MetricsRegistry;

// Keeps a collector registered; destroying (or reset()) removes it, waiting out a scrape that
// is running it.
class [[nodiscard]] CollectorHandle {
 public:
  CollectorHandle() = default;
  CollectorHandle(CollectorHandle&& other) noexcept;
  CollectorHandle& operator=(CollectorHandle&& other) noexcept;
  ~CollectorHandle();
  void reset();

 private:
  friend class MetricsRegistry;
  CollectorHandle(MetricsRegistry* registry, std::uint64_t id) : registry_(registry), id_(id) {}
  MetricsRegistry* registry_ = nullptr;
  std::uint64_t id_ = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter& counter(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::span<const double> buckets,
                       const MetricLabels& labels = {});

  CollectorHandle add_collector(std::function<void(MetricsWriter&)> collector);

  std::string prometheus_text() const;

  // Seconds, 50 µs to 10 s: RPC latencies on a LAN through slow handlers.
  static std::span<const double> latency_buckets() noexcept;
  // Bytes, 64 B to 64 MiB in powers of 4.
  static std::span<const double> size_buckets() noexcept;

 private:
  friend class CollectorHandle;
  void remove_collector(std::uint64_t id);
  struct State;
  std::unique_ptr<State> state_;
};

// The process-wide registry (never destroyed, so metrics may be updated during static teardown).
MetricsRegistry& default_metrics();

}  // namespace rpcnet

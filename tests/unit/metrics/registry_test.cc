#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "rpcnet/metrics.h"

namespace rpcnet {
namespace {

TEST(MetricsRegistry, RendersCountersGaugesAndHistogramsInTheTextFormat) {
  MetricsRegistry registry;
  registry.counter("rpc_calls_total", "Calls.", {{"method", "echo"}, {"code", "OK"}}).inc(3);
  registry.gauge("conns", "Open connections.").set(2.5);
  const double buckets[] = {0.1, 1};
  auto& latency = registry.histogram("lat_seconds", "Latency.", buckets, {{"method", "echo"}});
  latency.observe(0.05);
  latency.observe(0.1);   // on a bound: counts in that bucket (le is inclusive)
  latency.observe(0.5);
  latency.observe(7);
  EXPECT_EQ(registry.prometheus_text(),
            "# HELP conns Open connections.\n"
            "# TYPE conns gauge\n"
            "conns 2.5\n"
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{method=\"echo\",le=\"0.1\"} 2\n"
            "lat_seconds_bucket{method=\"echo\",le=\"1\"} 3\n"
            "lat_seconds_bucket{method=\"echo\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{method=\"echo\"} 7.65\n"
            "lat_seconds_count{method=\"echo\"} 4\n"
            "# HELP rpc_calls_total Calls.\n"
            "# TYPE rpc_calls_total counter\n"
            "rpc_calls_total{method=\"echo\",code=\"OK\"} 3\n");
}

TEST(MetricsRegistry, SameNameAndLabelsIsTheSameSeries) {
  MetricsRegistry registry;
  Counter& a = registry.counter("x_total", "X.", {{"k", "v"}});
  Counter& b = registry.counter("x_total", "X.", {{"k", "v"}});
  Counter& c = registry.counter("x_total", "X.", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
}

TEST(MetricsRegistry, LabelValuesAreEscapedAndBadNamesSanitised) {
  MetricsRegistry registry;
  registry.counter("bad-name.total", "Help with \\ and\nnewline.", {{"bad key", "a\"b\\c\nd"}}).inc();
  EXPECT_EQ(registry.prometheus_text(),
            "# HELP bad_name_total Help with \\\\ and\\nnewline.\n"
            "# TYPE bad_name_total counter\n"
            "bad_name_total{bad_key=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsRegistry, CollectorsWriteAtScrapeTimeAndStopWhenTheirHandleDies) {
  MetricsRegistry registry;
  int scrapes = 0;
  {
    CollectorHandle handle = registry.add_collector([&scrapes](MetricsWriter& out) {
      ++scrapes;
      out.gauge("queue_depth", "Depth.", {}, 7);
      out.counter("queue_depth", "Same name, other type: dropped.", {}, 1);
    });
    EXPECT_EQ(registry.prometheus_text(), "# HELP queue_depth Depth.\n# TYPE queue_depth gauge\nqueue_depth 7\n");
    CollectorHandle moved = std::move(handle);
    EXPECT_EQ(scrapes, 1);
  }
  EXPECT_EQ(registry.prometheus_text(), "");
  EXPECT_EQ(scrapes, 1);
}

TEST(MetricsRegistry, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry registry;
  Counter& counter = registry.counter("n_total", "N.");
  const double buckets[] = {1};
  Histogram& histogram = registry.histogram("h", "H.", buckets);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.inc();
        histogram.observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), 40000u);
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, 40000u);
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<std::uint64_t>{40000, 40000}));
  EXPECT_DOUBLE_EQ(snapshot.sum, 20000);
}

TEST(MetricsRegistry, HistogramBoundsThatDoNotRiseAreDropped) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Histogram histogram({1, 1, 0.5, nan, 2, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(histogram.upper_bounds(), (std::vector<double>{1, 2}));
}

TEST(MetricsRegistry, ValuesUseShortestRoundTripText) {
  MetricsRegistry registry;
  registry.gauge("g", "G.", {{"v", "a"}}).set(0.1);
  registry.gauge("g", "G.", {{"v", "b"}}).set(1e21);
  registry.gauge("g", "G.", {{"v", "c"}}).set(-3);
  registry.gauge("g", "G.", {{"v", "d"}}).set(std::numeric_limits<double>::infinity());
  EXPECT_EQ(registry.prometheus_text(),
            "# HELP g G.\n# TYPE g gauge\n"
            "g{v=\"a\"} 0.1\ng{v=\"b\"} 1e+21\ng{v=\"c\"} -3\ng{v=\"d\"} +Inf\n");
}

}  // namespace
}  // namespace rpcnet

// compute_top and histogram_quantile with exact numbers: rates from counter deltas, restarts,
// quantiles interpolated inside a bucket, and the table rpcnet top prints.
#include "metrics/top_model.h"

#include <gtest/gtest.h>

#include <limits>

#include "metrics/top_table.h"

namespace rpcnet::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

ParsedExposition parse(std::string_view text) {
  auto parsed = parse_exposition(text);
  EXPECT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->skipped_lines, 0u);
  return std::move(*parsed);
}

// Two scrapes 2 s apart. echo: 224 calls (24 failed) spread over two buckets and +Inf.
// lookup: the server restarted (every counter went down). idle: started, never finished.
constexpr std::string_view kBefore = R"(
rpcnet_server_calls_finished_total{method="echo",code="OK"} 100
rpcnet_server_calls_finished_total{method="echo",code="NOT_FOUND"} 10
rpcnet_server_call_duration_seconds_bucket{method="echo",le="0.001"} 50
rpcnet_server_call_duration_seconds_bucket{method="echo",le="0.01"} 100
rpcnet_server_call_duration_seconds_bucket{method="echo",le="+Inf"} 110
rpcnet_server_calls_finished_total{method="lookup",code="OK"} 500
rpcnet_server_call_duration_seconds_bucket{method="lookup",le="0.001"} 400
rpcnet_server_call_duration_seconds_bucket{method="lookup",le="0.01"} 500
rpcnet_server_call_duration_seconds_bucket{method="lookup",le="+Inf"} 500
rpcnet_server_calls_finished_total{method="idle",code="OK"} 7
)";
constexpr std::string_view kAfter = R"(
rpcnet_server_calls_started_total{method="idle"} 8
rpcnet_server_calls_finished_total{method="echo",code="OK"} 300
rpcnet_server_calls_finished_total{method="echo",code="NOT_FOUND"} 30
rpcnet_server_calls_finished_total{method="echo",code="DEADLINE_EXCEEDED"} 4
rpcnet_server_call_duration_seconds_bucket{method="echo",le="0.001"} 150
rpcnet_server_call_duration_seconds_bucket{method="echo",le="0.01"} 300
rpcnet_server_call_duration_seconds_bucket{method="echo",le="+Inf"} 334
rpcnet_server_call_duration_seconds_sum{method="echo"} 1.5
rpcnet_server_call_duration_seconds_count{method="echo"} 334
rpcnet_server_calls_finished_total{method="lookup",code="OK"} 40
rpcnet_server_call_duration_seconds_bucket{method="lookup",le="0.001"} 10
rpcnet_server_call_duration_seconds_bucket{method="lookup",le="0.01"} 40
rpcnet_server_call_duration_seconds_bucket{method="lookup",le="+Inf"} 40
rpcnet_server_calls_finished_total{method="idle",code="OK"} 7
rpcnet_server_calls_finished_total{code="OK"} 1000
rpcnet_client_calls_finished_total{method="remote",code="OK"} 50
)";

TEST(TopModel, RatesAndQuantilesPerMethodFromTwoScrapes) {
  const auto rows = compute_top(parse(kBefore), parse(kAfter), 2.0, TopSide::kServer);
  ASSERT_EQ(rows.size(), 3u);

  EXPECT_EQ(rows[0].method, "echo");
  EXPECT_DOUBLE_EQ(rows[0].calls_per_second, 112);  // (200 + 20 + 4) / 2
  EXPECT_DOUBLE_EQ(rows[0].errors_per_second, 12);  // (20 + 4) / 2
  // Bucket deltas 100, 200, 224: rank 112 sits 12 of 100 into (0.001, 0.01].
  EXPECT_DOUBLE_EQ(*rows[0].p50_seconds, 0.001 + 0.009 * 0.12);
  // Rank 221.76 is in +Inf: the highest finite bound.
  EXPECT_DOUBLE_EQ(*rows[0].p99_seconds, 0.01);

  // Restarted: the new values are the deltas (40 calls; buckets 10, 40, 40).
  EXPECT_EQ(rows[1].method, "lookup");
  EXPECT_DOUBLE_EQ(rows[1].calls_per_second, 20);
  EXPECT_DOUBLE_EQ(rows[1].errors_per_second, 0);
  EXPECT_DOUBLE_EQ(*rows[1].p50_seconds, 0.001 + 0.009 * (10.0 / 30.0));
  EXPECT_DOUBLE_EQ(*rows[1].p99_seconds, 0.001 + 0.009 * (29.6 / 30.0));

  EXPECT_EQ(rows[2], (MethodActivity{"idle", 0, 0, std::nullopt, std::nullopt}));
}

TEST(TopModel, ClientSideReadsTheClientPrefix) {
  const auto rows = compute_top(parse(""), parse(kAfter), 0.5, TopSide::kClient);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (MethodActivity{"remote", 100, 0, std::nullopt, std::nullopt}));
}

TEST(TopModel, NoElapsedTimeGivesZeroRates) {
  for (double elapsed : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(), kInf}) {
    const auto rows = compute_top(parse(kBefore), parse(kAfter), elapsed, TopSide::kServer);
    ASSERT_EQ(rows.size(), 3u);
    for (const auto& row : rows) {
      EXPECT_EQ(row.calls_per_second, 0) << elapsed;
      EXPECT_EQ(row.errors_per_second, 0) << elapsed;
    }
  }
}

TEST(TopModel, SortsByCallsThenName) {
  const auto after = parse(
      "rpcnet_server_calls_finished_total{method=\"b\",code=\"OK\"} 1\n"
      "rpcnet_server_calls_finished_total{method=\"c\",code=\"OK\"} 5\n"
      "rpcnet_server_calls_finished_total{method=\"a\",code=\"OK\"} 1\n");
  const auto rows = compute_top(parse(""), after, 1.0, TopSide::kServer);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].method, "c");
  EXPECT_EQ(rows[1].method, "a");
  EXPECT_EQ(rows[2].method, "b");
}

TEST(TopModel, HostileValuesCountAsZero) {
  const auto after = parse(
      "rpcnet_server_calls_finished_total{method=\"m\",code=\"OK\"} NaN\n"
      "rpcnet_server_calls_finished_total{method=\"m\",code=\"X\"} -5\n"
      "rpcnet_server_calls_finished_total{method=\"m\",code=\"Y\"} +Inf\n"
      "rpcnet_server_call_duration_seconds_bucket{method=\"m\",le=\"NaN\"} 3\n"
      "rpcnet_server_call_duration_seconds_bucket{method=\"m\",le=\"+Inf\"} NaN\n");
  const auto rows = compute_top(parse(""), after, 1.0, TopSide::kServer);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (MethodActivity{"m", 0, 0, std::nullopt, std::nullopt}));
}

TEST(HistogramQuantile, InterpolatesLikePrometheus) {
  EXPECT_DOUBLE_EQ(*histogram_quantile(0.5, {{1, 0}, {2, 10}, {kInf, 10}}), 1.5);
  EXPECT_DOUBLE_EQ(*histogram_quantile(0.5, {{0.5, 10}, {kInf, 10}}), 0.25);  // first bucket from 0
  EXPECT_DOUBLE_EQ(*histogram_quantile(0.5, {{1, 0}, {kInf, 5}}), 1);        // in +Inf: highest bound
  EXPECT_DOUBLE_EQ(*histogram_quantile(0.5, {{1, 5}, {2, 3}, {kInf, 6}}), 0.6);  // made monotonic: 5, 5, 6
  EXPECT_DOUBLE_EQ(*histogram_quantile(0.5, {{kInf, 4}, {1, 2}, {1, 2}}), 0.5);  // sorted, equal bounds add
  EXPECT_DOUBLE_EQ(*histogram_quantile(0.5, {{-1, 4}, {kInf, 4}}), -1);          // non-positive first bound
  EXPECT_DOUBLE_EQ(*histogram_quantile(0, {{1, 0}, {2, 4}, {kInf, 4}}), 0);
  EXPECT_DOUBLE_EQ(*histogram_quantile(1, {{1, 2}, {2, 4}, {kInf, 4}}), 2);
}

TEST(HistogramQuantile, NoValueWithoutDataOrInf) {
  EXPECT_FALSE(histogram_quantile(0.5, {{1, 3}, {2, 4}}));             // no +Inf
  EXPECT_FALSE(histogram_quantile(0.5, {{1, 0}, {kInf, 0}}));          // no observations
  EXPECT_FALSE(histogram_quantile(0.5, {{kInf, 3}}));                  // one bucket
  EXPECT_FALSE(histogram_quantile(0.5, {}));
  EXPECT_FALSE(histogram_quantile(1.5, {{1, 3}, {kInf, 3}}));
  EXPECT_FALSE(histogram_quantile(std::numeric_limits<double>::quiet_NaN(), {{1, 3}, {kInf, 3}}));
}

TEST(TopTable, HumanUnits) {
  EXPECT_EQ(format_duration(std::nullopt), "-");
  EXPECT_EQ(format_duration(0.0000123), "12.3µs");
  EXPECT_EQ(format_duration(0.00012), "120µs");
  EXPECT_EQ(format_duration(0.0009996), "1.00ms");  // 999.6µs would print as 1000µs
  EXPECT_EQ(format_duration(0.00208), "2.08ms");
  EXPECT_EQ(format_duration(0.25), "250ms");
  EXPECT_EQ(format_duration(2.5), "2.50s");
  EXPECT_EQ(format_duration(123.4), "123s");
  EXPECT_EQ(format_duration(-0.002), "-2.00ms");
  EXPECT_EQ(format_duration(kInf), "+Inf");
  EXPECT_EQ(format_rate(112), "112.0");
  EXPECT_EQ(format_rate(0.04), "0.0");
}

TEST(TopTable, RendersRowsUnderTheHeader) {
  const std::vector<MethodActivity> rows = {
      {"echo", 112, 12, 0.00208, 0.01},
      {"idle", 0, 0, std::nullopt, std::nullopt},
  };
  EXPECT_EQ(render_top_table(rows),
            "METHOD   CALLS/S     ERR/S       P50       P99\n"
            "echo       112.0      12.0    2.08ms    10.0ms\n"
            "idle         0.0       0.0         -         -\n");
}

TEST(TopTable, CutsLongNamesAndHidesControlCharacters) {
  const std::string long_name(50, 'm');
  const auto text = render_top_table({{long_name, 1, 0, std::nullopt, std::nullopt}, {"a\x1b[2Jb", 0, 0, {}, {}}});
  EXPECT_NE(text.find(std::string(37, 'm') + "...       1.0"), std::string::npos) << text;
  EXPECT_NE(text.find("a?[2Jb "), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace rpcnet::metrics

// The text format parser: what it reads, what it skips (and says why), where it gives up.
#include "metrics/exposition_parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "metrics/exposition.h"

namespace rpcnet::metrics {
namespace {

ParsedExposition parse_ok(std::string_view text, const ExpositionLimits& limits = {}) {
  auto parsed = parse_exposition(text, limits);
  EXPECT_TRUE(parsed) << parsed.error();
  return parsed ? std::move(*parsed) : ParsedExposition{};
}

TEST(ExpositionParser, ReadsSamplesWithLabelsValuesAndTimestamps) {
  const auto parsed = parse_ok(
      "# HELP calls_total Calls \\\\ made.\\nSecond line.\n"
      "# TYPE calls_total counter\n"
      "calls_total{method=\"echo\",code=\"OK\"} 42\n"
      "calls_total{method=\"a\\\"b\\\\c\\nd\"} 1.5e-3 1700000000000\n"
      "  up 1\n"
      "temp{ room = \"x\" , } -2.5E+2\t-17\n"
      "\n"
      "# a comment\n"
      "#HELP compact text\n");
  ASSERT_EQ(parsed.samples.size(), 4u);
  EXPECT_EQ(parsed.samples[0].name, "calls_total");
  EXPECT_EQ(parsed.samples[0].labels, (MetricLabels{{"method", "echo"}, {"code", "OK"}}));
  EXPECT_EQ(parsed.samples[0].value, 42);
  EXPECT_FALSE(parsed.samples[0].timestamp_ms);
  EXPECT_EQ(parsed.samples[1].labels, (MetricLabels{{"method", "a\"b\\c\nd"}}));
  EXPECT_EQ(parsed.samples[1].value, 1.5e-3);
  EXPECT_EQ(parsed.samples[1].timestamp_ms, 1700000000000);
  EXPECT_EQ(parsed.samples[2].name, "up");
  EXPECT_TRUE(parsed.samples[2].labels.empty());
  EXPECT_EQ(parsed.samples[3].labels, (MetricLabels{{"room", "x"}}));
  EXPECT_EQ(parsed.samples[3].value, -250);
  EXPECT_EQ(parsed.samples[3].timestamp_ms, -17);
  EXPECT_EQ(parsed.help.at("calls_total"), "Calls \\ made.\nSecond line.");
  EXPECT_EQ(parsed.help.at("compact"), "text");
  EXPECT_EQ(parsed.types.at("calls_total"), "counter");
  EXPECT_EQ(parsed.skipped_lines, 0u);
  EXPECT_EQ(*parsed.samples[0].label("code"), "OK");
  EXPECT_EQ(parsed.samples[0].label("le"), nullptr);
}

TEST(ExpositionParser, ReadsSpecialValues) {
  EXPECT_EQ(parse_exposition_value("+Inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_exposition_value("-Inf"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_exposition_value("inf"), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(*parse_exposition_value("NaN")));
  EXPECT_TRUE(std::isnan(*parse_exposition_value("nan")));
  EXPECT_EQ(parse_exposition_value("1e3"), 1000);
  EXPECT_EQ(parse_exposition_value("+.5"), 0.5);
  EXPECT_EQ(parse_exposition_value("-0"), 0);
  for (std::string_view bad : {"", "+", "--1", "+-1", "1e", "0x10", "1,5", "1e999", "nan(1)", "Infx", " 1"}) {
    EXPECT_FALSE(parse_exposition_value(bad)) << bad;
  }
}

TEST(ExpositionParser, ReadsBackWhatTheRegistryWrites) {
  MetricsRegistry registry;
  registry.counter("rpcnet_server_calls_finished_total", "Calls.", {{"method", "a\"b"}, {"code", "OK"}}).inc(7);
  registry.histogram("rpcnet_server_call_duration_seconds", "Latency.", MetricsRegistry::latency_buckets(),
                     {{"method", "echo"}})
      .observe(0.0003);
  const auto parsed = parse_ok(registry.prometheus_text());
  EXPECT_EQ(parsed.skipped_lines, 0u);
  // 17 finite buckets + Inf, _sum, _count; then the counter.
  ASSERT_EQ(parsed.samples.size(), 21u);
  EXPECT_EQ(parsed.types.at("rpcnet_server_call_duration_seconds"), "histogram");
  EXPECT_EQ(parsed.samples[3].name, "rpcnet_server_call_duration_seconds_bucket");
  EXPECT_EQ(parsed.samples[3].labels, (MetricLabels{{"method", "echo"}, {"le", "5e-04"}}));
  EXPECT_EQ(parsed.samples[3].value, 1);
  EXPECT_EQ(parsed.samples[17].labels, (MetricLabels{{"method", "echo"}, {"le", "+Inf"}}));
  EXPECT_EQ(parsed.samples[18].value, 0.0003);
  EXPECT_EQ(parsed.samples[20].labels, (MetricLabels{{"method", "a\"b"}, {"code", "OK"}}));
  EXPECT_EQ(parsed.samples[20].value, 7);
}

TEST(ExpositionParser, SkipsMalformedLinesAndSaysWhy) {
  const auto parsed = parse_ok(
      "good 1\n"
      "1bad 1\n"                      // 2: name starts with a digit
      "bad{a=\"x} 1\n"                // 3: unterminated value
      "bad{a=\"\\t\"} 1\n"            // 4: unknown escape
      "bad{a=\"x\",a=\"y\"} 1\n"      // 5: duplicate label
      "bad{a=\"x\" b=\"y\"} 1\n"      // 6: missing comma
      "bad 1 2 3\n"                   // 7: text after the timestamp
      "bad one\n"                     // 8: value
      "bad 1 1.5\n"                   // 9: timestamp
      "bad\n"                         // 10: no value
      "bad-name 1\n"                  // 11: invalid character
      "# TYPE good gauge extra\n"     // 12: type with trailing text
      "# TYPE good colour\n"          // 13: unknown type
      "# HELP good a \\q\n"           // 14: unknown escape in HELP
      "# TYPE good counter\n"
      "# TYPE good gauge\n"           // 16: second TYPE
      "also_good{} 2\r\n"             // 17: \r is not a blank
      "also_good{} 2\n");
  ASSERT_EQ(parsed.samples.size(), 2u);
  EXPECT_EQ(parsed.samples[0].name, "good");
  EXPECT_EQ(parsed.samples[1].name, "also_good");
  EXPECT_EQ(parsed.types.at("good"), "counter");
  EXPECT_EQ(parsed.skipped_lines, 15u);
  ASSERT_EQ(parsed.issues.size(), 15u);
  const std::vector<std::pair<std::size_t, std::string>> expected = {
      {2, "expected a metric name"},
      {3, "unterminated label value"},
      {4, "invalid escape in a label value (only \\\\, \\\" and \\n)"},
      {5, "duplicate label \"a\""},
      {6, "expected ',' or '}' after a label value"},
      {7, "unexpected text after the timestamp"},
      {8, "invalid value \"one\""},
      {9, "invalid timestamp \"1.5\""},
      {10, "expected a value after bad"},
      {11, "invalid character in the metric name"},
      {12, "unexpected text after the metric type"},
      {13, "unknown metric type \"colour\""},
      {14, "invalid escape in HELP text (only \\\\ and \\n)"},
      {16, "second # TYPE for good"},
      {17, "invalid value \"2\r\""},
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(parsed.issues[i].line, expected[i].first) << i;
    EXPECT_EQ(parsed.issues[i].reason, expected[i].second) << i;
  }
}

TEST(ExpositionParser, RecordsOnlyTheFirstIssuesButCountsAll) {
  ExpositionLimits limits;
  limits.max_recorded_issues = 2;
  const auto parsed = parse_ok("x\nx\nx\nx\nok 1\n", limits);
  EXPECT_EQ(parsed.skipped_lines, 4u);
  ASSERT_EQ(parsed.issues.size(), 2u);
  EXPECT_EQ(parsed.issues[1].line, 2u);
  EXPECT_EQ(parsed.samples.size(), 1u);
}

TEST(ExpositionParser, TooManyLabelsSkipsTheSample) {
  ExpositionLimits limits;
  limits.max_labels_per_sample = 2;
  const auto parsed = parse_ok("a{x=\"1\",y=\"2\"} 1\na{x=\"1\",y=\"2\",z=\"3\"} 1\n", limits);
  EXPECT_EQ(parsed.samples.size(), 1u);
  ASSERT_EQ(parsed.issues.size(), 1u);
  EXPECT_EQ(parsed.issues[0].reason, "more than 2 labels");
}

TEST(ExpositionParser, FailsOverTheByteAndSampleBounds) {
  ExpositionLimits limits;
  limits.max_bytes = 8;
  EXPECT_TRUE(parse_exposition("a 1\nb 2\n", limits));  // exactly 8
  const auto too_long = parse_exposition("a 1\nb 22\n", limits);
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().kind(), ErrorKind::kSerialization);
  EXPECT_EQ(too_long.error().message(), "metrics text is 9 bytes, more than the 8 allowed");

  limits = {};
  limits.max_samples = 2;
  EXPECT_TRUE(parse_exposition("a 1\n# TYPE a gauge\n", limits));
  const auto too_many = parse_exposition("# HELP a x\na 1\nb 2\n", limits);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().message(), "metrics text has more than 2 samples and HELP/TYPE lines");
}

TEST(ExpositionParser, EmptyTextIsNoSamples) {
  const auto parsed = parse_ok("");
  EXPECT_TRUE(parsed.samples.empty());
  EXPECT_EQ(parsed.skipped_lines, 0u);
}

}  // namespace
}  // namespace rpcnet::metrics

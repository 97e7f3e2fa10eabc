// A parser for the Prometheus text exposition format 0.0.4 — the other side of exposition.h:
// what `rpcnet top` reads from a /metrics endpoint.
//
// The input comes from the network, so it is untrusted: parsing never crashes, and memory stays
// proportional to the input with the bounds of ExpositionLimits.
//
// Policy (skip or fail): a malformed line — bad name, bad escape, unterminated label set,
// duplicate label, unparsable value or timestamp, too many labels, a # HELP / # TYPE line of the
// wrong shape — is skipped and recorded in `issues` (line number and reason; the first
// max_recorded_issues of them, all of them counted in `skipped_lines`), and parsing goes on:
// one odd sample from a third-party exporter must not blank the whole view. Exceeding
// max_bytes or max_samples fails the whole parse: a truncated scrape would show wrong rates.
//
// Grammar accepted (per line, '\n'-separated; blanks are spaces and tabs):
//   # HELP <name> <text with \\ and \n escapes>
//   # TYPE <name> counter|gauge|histogram|summary|untyped
//   # <anything else>                                   (a comment)
//   <name>[{<label>="<value with \\ \" \n escapes>",...[,]}] <value> [<timestamp ms>]
// Names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*. Values are decimal
// floats (exponents allowed) or Inf/+Inf/-Inf/NaN in any case; timestamps are int64 milliseconds.
//
// Example:
//   auto parsed = parse_exposition("# TYPE a_total counter\na_total{m=\"x\"} 3 1700000000000\n");
//   // parsed->samples[0]: name "a_total", labels {{"m","x"}}, value 3, timestamp_ms 1700000000000
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/metrics.h"
#include "rpcnet/result.h"

namespace rpcnet::metrics {

// The defaults hold any sane exporter (an RpcServer with 100 methods exposes about 10,000
// samples) and keep the worst case near 100 MB: every sample and label costs about 80 and
// 64 bytes however short its text.
struct ExpositionLimits {
  std::size_t max_bytes = 8 * 1024 * 1024;
  std::size_t max_samples = 100'000;  // HELP and TYPE lines count too
  std::size_t max_labels_per_sample = 16;
  std::size_t max_recorded_issues = 16;
};

struct ParsedSample {
  std::string name;
  MetricLabels labels;  // in the order written
  double value = 0;
  std::optional<std::int64_t> timestamp_ms;

  // The value of label `name`, or nullptr.
  const std::string* label(std::string_view name) const;
};

struct ParseIssue {
  std::size_t line = 0;  // 1-based
  std::string reason;
};

struct ParsedExposition {
  std::vector<ParsedSample> samples;          // in input order
  std::map<std::string, std::string> help;    // family name -> unescaped HELP text
  std::map<std::string, std::string> types;   // family name -> TYPE word
  std::vector<ParseIssue> issues;             // the first max_recorded_issues skipped lines
  std::size_t skipped_lines = 0;              // all skipped lines
};

// Errors: kSerialization when the text is longer than max_bytes or holds more than max_samples
// samples (the message says which bound).
Result<ParsedExposition> parse_exposition(std::string_view text, const ExpositionLimits& limits = {});

// A sample value as the format writes it ("+Inf", "1.5e-05", ...); nullopt if it is not one.
std::optional<double> parse_exposition_value(std::string_view token);

}  // namespace rpcnet::metrics

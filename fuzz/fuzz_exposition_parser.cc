// libFuzzer target: metrics::parse_exposition (what `rpcnet top` reads off the network), and
// compute_top / render_top_table on whatever it accepts.
//
// Oracles: the limits hold (samples, labels, recorded issues); every accepted name and label
// name is well formed and no label repeats; writing the accepted samples and HELP/TYPE lines
// back in the format and parsing that again gives the same content with nothing skipped; the
// model's rates are finite and never negative.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "metrics/exposition.h"
#include "metrics/exposition_parser.h"
#include "metrics/top_model.h"
#include "metrics/top_table.h"

namespace {

using namespace rpcnet::metrics;

bool valid_name(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string escaped(std::string_view text, bool quote) {
  std::string out;
  append_escaped(out, text, quote);
  return out;
}

std::string write_back(const ParsedExposition& parsed) {
  std::string out;
  for (const auto& [name, help] : parsed.help) out += "# HELP " + name + " " + escaped(help, false) + "\n";
  for (const auto& [name, type] : parsed.types) out += "# TYPE " + name + " " + type + "\n";
  for (const ParsedSample& sample : parsed.samples) {
    out += sample.name;
    if (!sample.labels.empty()) {
      out += '{';
      for (const auto& [name, value] : sample.labels) out += name + "=\"" + escaped(value, true) + "\",";
      out += '}';
    }
    out += ' ' + format_value(sample.value);
    if (sample.timestamp_ms) out += ' ' + std::to_string(*sample.timestamp_ms);
    out += '\n';
  }
  return out;
}

bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ExpositionLimits limits;
  limits.max_samples = 64;
  limits.max_labels_per_sample = 4;
  limits.max_recorded_issues = 4;
  const auto parsed = parse_exposition(text, limits);
  if (!parsed) return 0;

  if (parsed->samples.size() + parsed->help.size() + parsed->types.size() > limits.max_samples) __builtin_trap();
  if (parsed->issues.size() > limits.max_recorded_issues || parsed->skipped_lines < parsed->issues.size()) {
    __builtin_trap();
  }
  for (const ParsedSample& sample : parsed->samples) {
    if (!valid_name(sample.name, true) || sample.labels.size() > limits.max_labels_per_sample) __builtin_trap();
    for (std::size_t i = 0; i < sample.labels.size(); ++i) {
      if (!valid_name(sample.labels[i].first, false)) __builtin_trap();
      for (std::size_t j = 0; j < i; ++j) {
        if (sample.labels[j].first == sample.labels[i].first) __builtin_trap();
      }
    }
  }

  ExpositionLimits roomy = limits;
  roomy.max_bytes = 1 << 20;
  const auto again = parse_exposition(write_back(*parsed), roomy);
  if (!again || again->skipped_lines != 0 || again->help != parsed->help || again->types != parsed->types ||
      again->samples.size() != parsed->samples.size()) {
    __builtin_trap();
  }
  for (std::size_t i = 0; i < parsed->samples.size(); ++i) {
    const ParsedSample& a = parsed->samples[i];
    const ParsedSample& b = again->samples[i];
    if (a.name != b.name || a.labels != b.labels || !same_value(a.value, b.value) || a.timestamp_ms != b.timestamp_ms) {
      __builtin_trap();
    }
  }

  for (const TopSide side : {TopSide::kServer, TopSide::kClient}) {
    for (const auto& rows : {compute_top(ParsedExposition{}, *parsed, 1.0, side),
                             compute_top(*parsed, *parsed, 0.25, side)}) {
      for (const MethodActivity& row : rows) {
        // Sums of huge values may overflow to +Inf; NaN or a negative rate would be a bug.
        if (std::isnan(row.calls_per_second) || row.calls_per_second < 0) __builtin_trap();
        if (std::isnan(row.errors_per_second) || row.errors_per_second < 0) __builtin_trap();
        if (row.errors_per_second > row.calls_per_second) __builtin_trap();
      }
      (void)render_top_table(rows);
    }
  }
  return 0;
}

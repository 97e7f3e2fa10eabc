// render_top_table: fixed-width columns, method name left, numbers right.
#include "metrics/top_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace rpcnet::metrics {
namespace {

constexpr std::size_t kMaxMethodWidth = 40;
constexpr int kNumberWidth = 10;

// Three significant digits: 1.23, 12.3, 123.
std::string three_digits(double value) {
  const int decimals = value < 9.995 ? 2 : value < 99.95 ? 1 : 0;
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string pad_left(const std::string& text, std::size_t width) {
  // "µ" is two bytes but one column.
  std::size_t columns = 0;
  for (unsigned char c : text) columns += (c & 0xC0) != 0x80;
  return columns >= width ? text : std::string(width - columns, ' ') + text;
}

std::string shown_method(const std::string& method) {
  std::string shown = method.size() > kMaxMethodWidth ? method.substr(0, kMaxMethodWidth - 3) + "..." : method;
  // A label value may hold control characters; the terminal must not interpret them.
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return shown;
}

}  // namespace

std::string format_duration(std::optional<double> seconds) {
  if (!seconds) return "-";
  const double value = *seconds;
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  const double magnitude = std::fabs(value);
  const char* sign = value < 0 ? "-" : "";
  // Switch units where three digits would round up to 1000.
  if (magnitude < 999.5e-6) return sign + three_digits(magnitude * 1e6) + "µs";
  if (magnitude < 999.5e-3) return sign + three_digits(magnitude * 1e3) + "ms";
  return sign + three_digits(magnitude) + "s";
}

std::string format_rate(double per_second) {
  if (std::isnan(per_second)) return "NaN";
  if (std::isinf(per_second)) return per_second > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f", per_second);
  return buffer;
}

std::string render_top_table(const std::vector<MethodActivity>& rows) {
  std::size_t width = 6;  // "METHOD"
  for (const MethodActivity& row : rows) width = std::max(width, shown_method(row.method).size());
  const auto line = [&](const std::string& method, const std::string& calls, const std::string& errors,
                        const std::string& p50, const std::string& p99) {
    std::string out = method + std::string(width - method.size(), ' ');
    for (const std::string* cell : {&calls, &errors, &p50, &p99}) out += pad_left(*cell, kNumberWidth);
    return out + '\n';
  };
  std::string out = line("METHOD", "CALLS/S", "ERR/S", "P50", "P99");
  for (const MethodActivity& row : rows) {
    out += line(shown_method(row.method), format_rate(row.calls_per_second), format_rate(row.errors_per_second),
                format_duration(row.p50_seconds), format_duration(row.p99_seconds));
  }
  return out;
}

}  // namespace rpcnet::metrics

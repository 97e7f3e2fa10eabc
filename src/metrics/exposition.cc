#include "metrics/exposition.h"

#include <charconv>
#include <cmath>

namespace rpcnet::metrics {
namespace {

bool is_name_char(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (allow_colon && c == ':');
}

std::string sanitize(std::string_view name, bool allow_colon) {
  std::string out(name.empty() ? std::string_view("_") : name);
  for (char& c : out) {
    if (!is_name_char(c, allow_colon)) c = '_';
  }
  if (out.front() >= '0' && out.front() <= '9') out.front() = '_';
  return out;
}

void append_labels(std::string& out, const MetricLabels& labels, std::string_view le = {}) {
  if (labels.empty() && le.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += sanitize_label_name(key);
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  if (!le.empty()) {
    if (!first) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const MetricLabels& labels, double value, std::string_view le = {}) {
  out += name;
  out += suffix;
  append_labels(out, labels, le);
  out += ' ';
  out += format_value(value);
  out += '\n';
}

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

void append_escaped(std::string& out, std::string_view text, bool escape_quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

std::string sanitize_metric_name(std::string_view name) { return sanitize(name, true); }
std::string sanitize_label_name(std::string_view name) { return sanitize(name, false); }

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  const auto [end, error] = (std::fabs(value) < 9007199254740992.0 && value == std::floor(value))
                                ? std::to_chars(buffer, buffer + sizeof buffer, static_cast<std::int64_t>(value))
                                : std::to_chars(buffer, buffer + sizeof buffer, value);
  if (error != std::errc()) return "NaN";
  return std::string(buffer, end);
}

ExpositionBuilder::Family* ExpositionBuilder::family(std::string_view name, std::string_view help,
                                                     MetricType type) {
  auto it = families_.find(name);
  if (it == families_.end()) it = families_.emplace(std::string(name), Family{type, std::string(help), {}}).first;
  return it->second.type == type ? &it->second : nullptr;
}

void ExpositionBuilder::counter(std::string_view raw_name, std::string_view help,
                                const MetricLabels& labels, double value) {
  const std::string name = sanitize_metric_name(raw_name);
  if (Family* f = family(name, help, MetricType::kCounter)) append_sample(f->samples, name, "", labels, value);
}

void ExpositionBuilder::gauge(std::string_view raw_name, std::string_view help, const MetricLabels& labels,
                              double value) {
  const std::string name = sanitize_metric_name(raw_name);
  if (Family* f = family(name, help, MetricType::kGauge)) append_sample(f->samples, name, "", labels, value);
}

void ExpositionBuilder::histogram(std::string_view raw_name, std::string_view help,
                                  const MetricLabels& labels, const Histogram::Snapshot& snapshot) {
  const std::string name = sanitize_metric_name(raw_name);
  Family* f = family(name, help, MetricType::kHistogram);
  if (f == nullptr) return;
  for (std::size_t i = 0; i < snapshot.upper_bounds.size() && i < snapshot.cumulative_counts.size(); ++i) {
    append_sample(f->samples, name, "_bucket", labels, static_cast<double>(snapshot.cumulative_counts[i]),
                  format_value(snapshot.upper_bounds[i]));
  }
  append_sample(f->samples, name, "_bucket", labels, static_cast<double>(snapshot.count), "+Inf");
  append_sample(f->samples, name, "_sum", labels, snapshot.sum);
  append_sample(f->samples, name, "_count", labels, static_cast<double>(snapshot.count));
}

std::string ExpositionBuilder::render() const {
  std::string out;
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, family.help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(family.type);
    out += '\n';
    out += family.samples;
  }
  return out;
}

}  // namespace rpcnet::metrics

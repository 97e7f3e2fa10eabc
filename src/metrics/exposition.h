// The Prometheus text exposition format (0.0.4): name and label sanitising, value formatting,
// and a MetricsWriter that gathers samples by family and renders each family once.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "rpcnet/metrics.h"

namespace rpcnet::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// Characters outside [a-zA-Z0-9_:] (a leading digit too) become '_'; an empty name becomes "_".
std::string sanitize_metric_name(std::string_view name);
// The same without ':', which label names may not contain.
std::string sanitize_label_name(std::string_view name);

// Shortest text that reads back as the same double; integers without exponent or ".0" up to
// 2^53; "+Inf", "-Inf", "NaN".
std::string format_value(double value);

// Appends `text` with the format's escapes: backslash and newline always (HELP text), the
// double quote too when `escape_quote` (label values).
void append_escaped(std::string& out, std::string_view text, bool escape_quote);

// Collects samples from the registry's own series and from collectors. A sample whose name was
// first seen with another type is dropped: one family, one type.
class ExpositionBuilder final : public MetricsWriter {
 public:
  void counter(std::string_view name, std::string_view help, const MetricLabels& labels,
               double value) override;
  void gauge(std::string_view name, std::string_view help, const MetricLabels& labels,
             double value) override;
  void histogram(std::string_view name, std::string_view help, const MetricLabels& labels,
                 const Histogram::Snapshot& snapshot) override;

  // Families sorted by name: "# HELP", "# TYPE", then the samples in the order written.
  std::string render() const;

 private:
  struct Family {
    MetricType type;
    std::string help;
    std::string samples;
  };
  Family* family(std::string_view name, std::string_view help, MetricType type);
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace rpcnet::metrics

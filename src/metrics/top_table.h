// The text `rpcnet top` prints for one refresh: a table of MethodActivity rows in human units.
//
//   METHOD        CALLS/S     ERR/S       P50       P99
//   echo          12345.0       0.0     120µs    1.80ms
//   lookup          310.5      10.2    2.40ms     2.50s
//
// Durations keep three significant digits in µs, ms or s ("-" when there were no calls); rates
// one decimal. Method names longer than 40 bytes are cut (with "..."), so that one odd name
// cannot push the columns off the screen.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "metrics/top_model.h"

namespace rpcnet::metrics {

std::string format_duration(std::optional<double> seconds);
std::string format_rate(double per_second);

// The header line and one line per row, each ending in '\n'.
std::string render_top_table(const std::vector<MethodActivity>& rows);

}  // namespace rpcnet::metrics

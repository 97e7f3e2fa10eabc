// ASCII case folding for the text protocols the metrics code reads (HTTP header names, the
// exposition format's Inf/NaN spellings): case-insensitive there, and never locale-dependent.
#pragma once

#include <cstddef>
#include <string_view>

namespace rpcnet::metrics {

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool equals_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

}  // namespace rpcnet::metrics

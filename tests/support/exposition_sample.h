// Reads one sample out of Prometheus text, for tests of what rpcnet exports.
#pragma once

#include <string>

namespace rpcnet::testing {

// The value of the sample line `series` ("name{labels}" exactly as rendered), or -1 if absent.
inline double sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace rpcnet::testing

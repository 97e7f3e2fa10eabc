// RPCNET_LOG's grammar: comma-separated entries, each either a level (the default for every
// component not named) or component=level. Whitespace around entries is ignored, names are
// case-insensitive. Anything else is an error for that entry alone: the rest still applies.
//   "info"                       every component at info
//   "quic=debug,cluster=info"    those two, the rest off
//   "warn,quic=trace"            quic at trace, the rest at warn
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/log.h"

namespace rpcnet::log_detail {

struct LogSpec {
  std::array<LogLevel, kLogComponentCount> levels{};  // kOff unless named
  std::vector<std::string> rejected;                  // the malformed entries, as written
};

LogSpec parse_log_spec(std::string_view text);

}  // namespace rpcnet::log_detail

// `rpcnet call`'s command-line values: the server to call and durations such as "2s".
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/address.h"
#include "rpcnet/result.h"

namespace rpcnet::tool {

struct CallTarget {
  std::vector<SocketAddress> addresses;  // in the resolver's order; an IP literal gives one
  // The host as written when it was a name (e.g. "localhost"): the name to verify in the
  // server's certificate unless --server-name says otherwise. Empty for IP literals.
  std::string host_name;
};

// "127.0.0.1:4433", "[::1]:4433" or "localhost:4433" (the name resolved to all its addresses).
// Errors: kConfig naming the text.
Result<CallTarget> resolve_call_target(std::string_view text);

// "500ms", "2s", "1.5s", "1m": a positive duration with a unit. Errors: kConfig.
Result<std::chrono::milliseconds> parse_call_duration(std::string_view text);

}  // namespace rpcnet::tool

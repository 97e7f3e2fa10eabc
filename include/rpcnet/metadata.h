// rpcnet/metadata.h — call metadata: ordered key/value string pairs.
//
// Metadata travels in the call header (client -> server) and in the status trailer
// (server -> client). Keys are compared exactly; the same key may appear more than once. The
// encoded header, metadata included, must fit RpcConfig::max_header_size.
//
// Example:
//   rpcnet::CallOptions for_tenant(std::string tenant) {
//     rpcnet::CallOptions options;
//     options.metadata.emplace_back("tenant", std::move(tenant));
//     return options;
//   }
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rpcnet {

using Metadata = std::vector<std::pair<std::string, std::string>>;

// The first value stored under `key`, if any.
inline std::optional<std::string_view> find_metadata(const Metadata& metadata,
                                                     std::string_view key) {
  for (const auto& [k, v] : metadata) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

}  // namespace rpcnet

// rpcnet/bytes.h — the payload type.
//
// Requests and responses travel as opaque byte vectors; any serialization (protobuf, JSON, a
// hand-rolled struct codec) is layered on top by the caller. rpcnet never inspects payloads.
//
// Example:
//   rpcnet::Bytes greet(const rpcnet::Bytes& name) {
//     return rpcnet::to_bytes("Hello, " + rpcnet::to_string(name) + "!");
//   }
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rpcnet {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline Bytes to_bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

inline std::string to_string(ByteView bytes) { return std::string(bytes.begin(), bytes.end()); }

}  // namespace rpcnet

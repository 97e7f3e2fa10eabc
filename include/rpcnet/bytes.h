// rpcnet/bytes.h — the payload type.
//
// Requests and responses travel as opaque byte vectors; any serialization (protobuf, JSON, a
// hand-rolled struct codec) is layered on top by the caller. rpcnet never inspects payloads.
//
// to_hex spells bytes as lowercase hex digits, two per byte, first byte first (digests, keys,
// random names); it allocates and never fails.
//
// Example:
//   rpcnet::Bytes greet(const rpcnet::Bytes& name) {
//     return rpcnet::to_bytes("Hello, " + rpcnet::to_string(name) + "!");
//   }
//   std::string hello_in_hex() { return rpcnet::to_hex(rpcnet::to_bytes("hello")); }  // "68656c6c6f"
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

inline std::string to_hex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(2 * bytes.size());
  for (const std::uint8_t byte : bytes) {
    text += kDigits[byte >> 4];
    text += kDigits[byte & 0x0F];
  }
  return text;
}

}  // namespace rpcnet

// QUIC variable-length integers (RFC 9000 §16): 1, 2, 4 or 8 bytes, the top two bits of the first
// byte give the length. Values up to 2^62 - 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "rpcnet/bytes.h"

namespace rpcnet::wire {

inline constexpr std::uint64_t kMaxVarint = (std::uint64_t{1} << 62) - 1;

constexpr std::size_t varint_size(std::uint64_t value) noexcept {
  if (value < (1u << 6)) return 1;
  if (value < (1u << 14)) return 2;
  if (value < (1u << 30)) return 4;
  return 8;
}

// Length of the varint whose first byte is `first`.
constexpr std::size_t varint_size_from_first_byte(std::uint8_t first) noexcept {
  return std::size_t{1} << (first >> 6);
}

// Writes `value` (<= kMaxVarint) at `out`, which must have varint_size(value) bytes. Returns the
// byte after the varint.
inline std::uint8_t* write_varint(std::uint8_t* out, std::uint64_t value) noexcept {
  const std::size_t n = varint_size(value);
  const std::uint8_t prefix = n == 1 ? 0x00 : n == 2 ? 0x40 : n == 4 ? 0x80 : 0xc0;
  for (std::size_t i = 0; i < n; ++i) {
    out[n - 1 - i] = static_cast<std::uint8_t>(value >> (8 * i));
  }
  out[0] = static_cast<std::uint8_t>(out[0] | prefix);
  return out + n;
}

inline void append_varint(Bytes& out, std::uint64_t value) {
  const std::size_t at = out.size();
  out.resize(at + varint_size(value));
  write_varint(out.data() + at, value);
}

// Reads a varint from the front of `in`. Returns nullopt when `in` is too short.
struct VarintRead {
  std::uint64_t value;
  std::size_t size;
};
inline std::optional<VarintRead> read_varint(ByteView in) noexcept {
  if (in.empty()) return std::nullopt;
  const std::size_t n = varint_size_from_first_byte(in[0]);
  if (in.size() < n) return std::nullopt;
  std::uint64_t value = in[0] & 0x3f;
  for (std::size_t i = 1; i < n; ++i) value = (value << 8) | in[i];
  return VarintRead{value, n};
}

}  // namespace rpcnet::wire

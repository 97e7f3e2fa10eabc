// A keyed hash for hash tables whose keys a network peer chooses (connection IDs, for one).
//
// With an unkeyed hash (std::hash) a peer can pick keys that all land in one bucket and turn
// every lookup in our tables into a linear scan. SipHash (Aumasson & Bernstein, "SipHash: a fast
// short-input PRF", 2012) is keyed with a secret 128-bit key chosen at startup, so an attacker
// who cannot learn the key cannot precompute colliding keys. SipHash-1-3 (one compression
// round, three finalization rounds) is the variant for hash tables; SipHash-2-4 is the
// conservative one the paper's test vectors are published for, and it pins the shared code.
//
// Written from the paper's description: the 128-bit key and the message are read as
// little-endian 64-bit words (via memcpy: any alignment, any length, no undefined behaviour).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace rpcnet::runtime {

// The 128-bit key as k0 (key bytes 0..7, little-endian) and k1 (bytes 8..15).
struct SipKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
};

namespace sip_detail {

// Eight bytes at any address as a little-endian word.
inline std::uint64_t load_le64(const unsigned char* p) noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) {
    std::uint64_t swapped = 0;
    for (int i = 0; i < 8; ++i) swapped = (swapped << 8) | ((v >> (8 * i)) & 0xff);
    v = swapped;
  }
  return v;
}

struct State {
  std::uint64_t v0, v1, v2, v3;

  void round() noexcept {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
};

}  // namespace sip_detail

inline SipKey sip_key_from_bytes(const std::array<std::uint8_t, 16>& bytes) noexcept {
  return SipKey{sip_detail::load_le64(bytes.data()), sip_detail::load_le64(bytes.data() + 8)};
}

// SipHash-c-d with a 64-bit output. `data` may be null when `len` is 0.
template <int CompressionRounds, int FinalizationRounds>
std::uint64_t siphash(const SipKey& key, const void* data, std::size_t len) noexcept {
  static_assert(CompressionRounds > 0 && FinalizationRounds > 0);
  sip_detail::State s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL,
                      key.k0 ^ 0x6c7967656e657261ULL, key.k1 ^ 0x7465646279746573ULL};
  const auto* in = static_cast<const unsigned char*>(data);
  const auto compress = [&s](std::uint64_t m) noexcept {
    s.v3 ^= m;
    for (int i = 0; i < CompressionRounds; ++i) s.round();
    s.v0 ^= m;
  };

  const std::size_t tail = len % 8;
  const std::size_t whole = len - tail;
  for (std::size_t i = 0; i < whole; i += 8) {
    compress(sip_detail::load_le64(in + i));
  }
  // The last word: the remaining 0..7 bytes, zero padded, with len mod 256 in the top byte.
  std::array<unsigned char, 8> last{};
  if (tail != 0) std::memcpy(last.data(), in + whole, tail);
  last[7] = static_cast<unsigned char>(len & 0xff);
  compress(sip_detail::load_le64(last.data()));

  s.v2 ^= 0xff;
  for (int i = 0; i < FinalizationRounds; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

// The hash-table variant.
inline std::uint64_t siphash13(const SipKey& key, const void* data, std::size_t len) noexcept {
  return siphash<1, 3>(key, data, len);
}

// The variant the published test vectors are for.
inline std::uint64_t siphash24(const SipKey& key, const void* data, std::size_t len) noexcept {
  return siphash<2, 4>(key, data, len);
}

}  // namespace rpcnet::runtime

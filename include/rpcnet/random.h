// rpcnet/random.h — the deterministic generator engine rpcnet is built on: xoshiro256**
// seeded through splitmix64, plus splitmix64's finaliser as a 64-bit mixing function and FNV-1a
// for hashing bytes into a seed or a stable, platform-independent 64-bit value.
//
// Contract: Xoshiro256(seed) fills its 256-bit state with four successive splitmix64 outputs
// from `seed`, so every seed (0 included) gives a valid stream, and the same seed gives the same
// stream on every platform and compiler. It is not a cryptographic generator and nothing secret
// or unique-by-contract comes from it: the cluster core uses it for protocol choices only (probe
// order, gossip targets, challenge tokens that travel sealed). AEAD nonces come from a counter
// under a prefix derived from a gnutls_rnd secret (src/cluster/packet_seal.h), keys from the user.
// The cluster core's PRNG and the test kit's SeededRng (rpcnet/testing/seeded_rng.h) are thin
// layers over this engine that add their own, exactly specified, range helpers.
//
// Example:
//   std::uint64_t scrambled_draw() {
//     rpcnet::Xoshiro256 engine(42);
//     std::uint64_t word = engine.next();
//     std::uint64_t scrambled = rpcnet::mix64(word);
//     std::uint64_t id_hash = rpcnet::fnv1a64(std::as_bytes(std::span(std::string_view("node-1"))));
//     return scrambled ^ id_hash;
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace rpcnet {

// splitmix64's output function: a bijection whose output bits each depend on every input bit.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline constexpr std::uint64_t kFnv1aOffset = 0xcbf29ce484222325ULL;

// FNV-1a 64 over `bytes`, continuing from `hash` (the offset basis starts a fresh hash). Stable
// everywhere, cheap, and not collision-resistant: never key it by attacker-chosen bytes where
// collisions would matter.
constexpr std::uint64_t fnv1a64(std::span<const std::byte> bytes, std::uint64_t hash = kFnv1aOffset) noexcept {
  for (const std::byte b : bytes) hash = (hash ^ static_cast<std::uint8_t>(b)) * 0x100000001b3ULL;
  return hash;
}

// One splitmix64 step: advances `state` and returns the next output.
constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept { return mix64(state += 0x9E3779B97F4A7C15ULL); }

class Xoshiro256 {
 public:
  explicit constexpr Xoshiro256(std::uint64_t seed) noexcept {
    for (auto& word : state_) word = splitmix64(seed);
  }

  constexpr std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

  std::uint64_t state_[4] = {};
};

}  // namespace rpcnet

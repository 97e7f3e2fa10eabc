// prng.h — the cores' only source of randomness: xoshiro256** seeded through splitmix64.
//
// Deterministic by design (tests replay a seed). The driver seeds it from real entropy; the node
// id is mixed in so that two nodes given the same seed still draw different nonces and boot ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "rpcnet/random.h"

namespace rpcnet::cluster {

class Prng {
 public:
  explicit Prng(std::uint64_t seed, std::string_view salt = {}) : engine_(salted(seed, salt)) {}

  std::uint64_t next() noexcept { return engine_.next(); }

  // Uniform in [0, bound); bound > 0. Rejection sampling keeps it unbiased.
  std::uint64_t below(std::uint64_t bound) noexcept {
    if (bound <= 1) return 0;
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    std::uint64_t v = next();
    while (v >= limit) v = next();
    return v % bound;
  }

  void fill(std::span<std::byte> out) noexcept {
    std::size_t i = 0;
    while (i < out.size()) {
      std::uint64_t v = next();
      for (int b = 0; b < 8 && i < out.size(); ++b, ++i) {
        out[i] = static_cast<std::byte>(v & 0xff);
        v >>= 8;
      }
    }
  }

  template <class T>
  void shuffle(std::vector<T>& items) noexcept {
    for (std::size_t i = items.size(); i > 1; --i) {
      std::swap(items[i - 1], items[below(i)]);
    }
  }

 private:
  static std::uint64_t salted(std::uint64_t seed, std::string_view salt) noexcept {
    return rpcnet::fnv1a64(std::as_bytes(std::span(salt)), seed);
  }

  Xoshiro256 engine_;
};

// A seed from the system's entropy, for generators whose sequence need not replay (the worker
// registry's load balancing, the cluster client's retry jitter).
inline std::uint64_t entropy_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace rpcnet::cluster

// rpcnet/testing/seeded_rng.h — a small, fast, deterministic PRNG for tests and simulations.
//
// Contract: SeededRng(seed) is xoshiro256** whose 256-bit state is filled from `seed` by
// splitmix64 (the seeding its authors recommend), so every 64-bit seed — including 0 — gives a
// valid, distinct stream, and the same seed gives the same sequence on every platform and
// compiler (unlike std::uniform_*_distribution, whose algorithms are implementation-defined; the
// helpers below are specified exactly). fork(stream) derives an independent generator from this
// one's seed and a stream number without consuming from this one, so adding a consumer of
// randomness does not shift everyone else's draws. Meets UniformRandomBitGenerator.
//
// Example:
//   std::uint64_t simulated_roll() {
//     rpcnet::testing::SeededRng rng(42);
//     bool lost = rng.bernoulli(0.1);             // true with probability 0.1
//     std::uint64_t die = rng.uniform(6) + 1;     // 1..6, unbiased
//     auto node_rng = rng.fork(7);                // same for every run seeded with 42
//     return lost ? 0 : die + node_rng.uniform(6);
//   }
#pragma once

#include <cstdint>
#include <limits>

#include "rpcnet/random.h"

namespace rpcnet::testing {

class SeededRng {
  __extension__ typedef unsigned __int128 Wide;  // GCC/Clang; __extension__ keeps -Wpedantic quiet


 public:
  using result_type = std::uint64_t;

  explicit SeededRng(std::uint64_t seed) : seed_(seed), engine_(seed) {}

  std::uint64_t seed() const { return seed_; }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }

  result_type operator()() { return next(); }

  std::uint64_t next() { return engine_.next(); }

  // Uniform in [0, bound); 0 when bound is 0. Lemire's multiply-and-reject: exact, unbiased.
  std::uint64_t uniform(std::uint64_t bound) {
    if (bound == 0) return 0;
    Wide m = static_cast<Wide>(next()) * bound;
    auto low = static_cast<std::uint64_t>(m);
    if (low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        m = static_cast<Wide>(next()) * bound;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform_double() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // True with probability p (p <= 0: never; p >= 1: always). Always consumes one draw, so the
  // stream stays aligned whatever p is.
  bool bernoulli(double p) { return uniform_double() < p; }

  // An independent generator determined by (seed(), stream) alone.
  SeededRng fork(std::uint64_t stream) const {
    std::uint64_t x = seed_ ^ (stream * 0xD1B54A32D192ED03ULL);
    return SeededRng(rpcnet::splitmix64(x));
  }

 private:
  std::uint64_t seed_;
  Xoshiro256 engine_;
};

}  // namespace rpcnet::testing

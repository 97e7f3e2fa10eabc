// SipHash: the published SipHash-2-4 vectors, SipHash-1-3 against an independent implementation,
// key sensitivity, and every input length from 0 to 64 (run it under the sanitize preset: each
// message sits in a buffer of exactly its size, so an over-read is caught).
#include "runtime/keyed_hash.h"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

namespace rpcnet::runtime {
namespace {

// The reference implementation's test key, 00 01 02 .. 0f.
SipKey reference_key() {
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i);
  return sip_key_from_bytes(bytes);
}

// The message 00 01 02 .. (len - 1), in a heap buffer of exactly `len` bytes.
std::unique_ptr<std::uint8_t[]> counting_message(std::size_t len) {
  auto message = std::make_unique<std::uint8_t[]>(len);
  for (std::size_t i = 0; i < len; ++i) message[i] = static_cast<std::uint8_t>(i);
  return message;
}

// SipHash-2-4, 64-bit output, key 00..0f, message of length i = 00 01 .. (i-1): the
// `vectors_sip64` table of the reference implementation (github.com/veorq/SipHash, vectors.h),
// whose byte strings are the outputs in little-endian order. [0] and [15] are also in the paper.
constexpr std::array<std::uint64_t, 64> kSipHash24Vectors = {
    0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
    0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL, 0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
    0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
    0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
    0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL, 0x4bc1b3f0968dd39cULL, 0xbb6dc91da77961bdULL,
    0xbed65cf21aa2ee98ULL, 0xd0f2cbb02e3b67c7ULL, 0x93536795e3a33e88ULL, 0xa80c038ccd5ccec8ULL,
    0xb8ad50c6f649af94ULL, 0xbce192de8a85b8eaULL, 0x17d835b85bbb15f3ULL, 0x2f2e6163076bcfadULL,
    0xde4daaaca71dc9a5ULL, 0xa6a2506687956571ULL, 0xad87a3535c49ef28ULL, 0x32d892fad841c342ULL,
    0x7127512f72f27cceULL, 0xa7f32346f95978e3ULL, 0x12e0b01abb051238ULL, 0x15e034d40fa197aeULL,
    0x314dffbe0815a3b4ULL, 0x027990f029623981ULL, 0xcadcd4e59ef40c4dULL, 0x9abfd8766a33735cULL,
    0x0e3ea96b5304a7d0ULL, 0xad0c42d6fc585992ULL, 0x187306c89bc215a9ULL, 0xd4a60abcf3792b95ULL,
    0xf935451de4f21df2ULL, 0xa9538f0419755787ULL, 0xdb9acddff56ca510ULL, 0xd06c98cd5c0975ebULL,
    0xe612a3cb9ecba951ULL, 0xc766e62cfcadaf96ULL, 0xee64435a9752fe72ULL, 0xa192d576b245165aULL,
    0x0a8787bf8ecb74b2ULL, 0x81b3e73d20b49b6fULL, 0x7fa8220ba3b2eceaULL, 0x245731c13ca42499ULL,
    0xb78dbfaf3a8d83bdULL, 0xea1ad565322a1a0bULL, 0x60e61c23a3795013ULL, 0x6606d7e446282b93ULL,
    0x6ca4ecb15c5f91e1ULL, 0x9f626da15c9625f3ULL, 0xe51b38608ef25f57ULL, 0x958a324ceb064572ULL,
};

TEST(SipHash24, MatchesTheReferenceVectorsForEveryLengthUpTo63) {
  const SipKey key = reference_key();
  for (std::size_t len = 0; len < kSipHash24Vectors.size(); ++len) {
    const auto message = counting_message(len);
    EXPECT_EQ(siphash24(key, message.get(), len), kSipHash24Vectors[len]) << "length " << len;
  }
}

TEST(SipHash24, HashesTheEmptyMessageFromANullPointer) {
  EXPECT_EQ(siphash24(reference_key(), nullptr, 0), 0x726fdb47dd0e0e31ULL);
}

// SipHash-1-3 has no published vectors; these are CPython 3.11's hash() of the same bytes with
// PYTHONHASHSEED=0 (its bytes hash is SipHash-1-3 with an all-zero key), an implementation
// independent of this one. They pin the round counts: 2-4 code would not produce them.
TEST(SipHash13, MatchesAnIndependentImplementationWithAZeroKey) {
  struct Vector {
    std::size_t len;
    std::uint64_t hash;
  };
  constexpr std::array<Vector, 8> kVectors = {{
      {1, 0x68a914128e01e473ULL},
      {7, 0x2f098ab0c751325aULL},
      {8, 0xead411e67ebe2eeaULL},
      {9, 0x75927f9d95124362ULL},
      {15, 0xf30eb725bb91c9eaULL},
      {16, 0x8972188433a5c5b7ULL},
      {63, 0x385d3e39e5f37359ULL},
      {64, 0x75e05fd5bbc870c6ULL},
  }};
  const SipKey zero{};
  for (const Vector& v : kVectors) {
    const auto message = counting_message(v.len);
    EXPECT_EQ(siphash13(zero, message.get(), v.len), v.hash) << "length " << v.len;
  }
}

TEST(SipHash13, DiffersFromSipHash24ForEveryLength) {
  const SipKey key = reference_key();
  for (std::size_t len = 0; len <= 64; ++len) {
    const auto message = counting_message(len);
    EXPECT_NE(siphash13(key, message.get(), len), siphash24(key, message.get(), len))
        << "length " << len;
  }
}

TEST(SipHash13, GivesADifferentHashForEveryOneBitChangeOfTheKey) {
  const SipKey base = reference_key();
  const auto message = counting_message(16);
  std::set<std::uint64_t> seen{siphash13(base, message.get(), 16)};
  for (int bit = 0; bit < 128; ++bit) {
    SipKey key = base;
    (bit < 64 ? key.k0 : key.k1) ^= std::uint64_t{1} << (bit % 64);
    EXPECT_TRUE(seen.insert(siphash13(key, message.get(), 16)).second) << "key bit " << bit;
  }
  EXPECT_EQ(seen.size(), 129U);
}

TEST(SipKey, ReadsTheKeyBytesAsTwoLittleEndianWords) {
  const SipKey key = reference_key();
  EXPECT_EQ(key.k0, 0x0706050403020100ULL);
  EXPECT_EQ(key.k1, 0x0f0e0d0c0b0a0908ULL);
}

TEST(SipHash13, HandlesEveryLengthFrom0To64AtAnyAlignment) {
  const SipKey key = reference_key();
  std::set<std::uint64_t> seen;
  for (std::size_t len = 0; len <= 64; ++len) {
    const auto message = counting_message(len);
    const std::uint64_t hash = siphash13(key, message.get(), len);
    EXPECT_TRUE(seen.insert(hash).second) << "length " << len;
    // The same bytes at every offset within a word, each in a buffer ending right after them.
    for (std::size_t offset = 1; offset < 8; ++offset) {
      std::vector<std::uint8_t> shifted(offset + len);
      for (std::size_t i = 0; i < len; ++i) shifted[offset + i] = static_cast<std::uint8_t>(i);
      EXPECT_EQ(siphash13(key, shifted.data() + offset, len), hash)
          << "length " << len << " offset " << offset;
    }
  }
  EXPECT_EQ(seen.size(), 65U);
}

TEST(SipHash13, CountsTheLengthSoTrailingZerosMatter) {
  const SipKey key = reference_key();
  const std::array<std::uint8_t, 9> zeros{};
  std::set<std::uint64_t> seen;
  for (std::size_t len = 0; len <= zeros.size(); ++len) {
    EXPECT_TRUE(seen.insert(siphash13(key, zeros.data(), len)).second) << "length " << len;
  }
}

}  // namespace
}  // namespace rpcnet::runtime

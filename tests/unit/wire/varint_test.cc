// QUIC variable-length integers (RFC 9000 §16): boundaries, exact encodings, truncation.
#include "rpc/wire/varint.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace rpcnet::wire {
namespace {

Bytes encode(std::uint64_t value) {
  Bytes out;
  append_varint(out, value);
  return out;
}

struct Boundary {
  std::uint64_t value;
  std::size_t size;
};

constexpr Boundary kBoundaries[] = {
    {0, 1},
    {63, 1},
    {64, 2},
    {16383, 2},
    {16384, 4},
    {(std::uint64_t{1} << 30) - 1, 4},
    {std::uint64_t{1} << 30, 8},
    {(std::uint64_t{1} << 62) - 1, 8},
};

TEST(Varint, MaxVarintIsTwoToTheSixtySecondMinusOne) {
  EXPECT_EQ(kMaxVarint, 0x3fffffffffffffffULL);
}

TEST(Varint, SizeChangesExactlyAtEachLengthBoundary) {
  for (const Boundary& b : kBoundaries) {
    EXPECT_EQ(varint_size(b.value), b.size) << "value " << b.value;
  }
}

TEST(Varint, RoundTripsEveryLengthBoundary) {
  for (const Boundary& b : kBoundaries) {
    const Bytes encoded = encode(b.value);
    ASSERT_EQ(encoded.size(), b.size) << "value " << b.value;
    EXPECT_EQ(varint_size_from_first_byte(encoded[0]), b.size) << "value " << b.value;
    const auto decoded = read_varint(encoded);
    ASSERT_TRUE(decoded.has_value()) << "value " << b.value;
    EXPECT_EQ(decoded->value, b.value);
    EXPECT_EQ(decoded->size, b.size);
  }
}

TEST(Varint, EncodesBoundaryValuesToTheExactBytes) {
  EXPECT_EQ(encode(0), (Bytes{0x00}));
  EXPECT_EQ(encode(63), (Bytes{0x3f}));
  EXPECT_EQ(encode(64), (Bytes{0x40, 0x40}));
  EXPECT_EQ(encode(16383), (Bytes{0x7f, 0xff}));
  EXPECT_EQ(encode(16384), (Bytes{0x80, 0x00, 0x40, 0x00}));
  EXPECT_EQ(encode((std::uint64_t{1} << 30) - 1), (Bytes{0xbf, 0xff, 0xff, 0xff}));
  EXPECT_EQ(encode(std::uint64_t{1} << 30),
            (Bytes{0xc0, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00}));
  EXPECT_EQ(encode(kMaxVarint), (Bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}

TEST(Varint, EncodesTheRfc9000Examples) {
  EXPECT_EQ(encode(37), (Bytes{0x25}));
  EXPECT_EQ(encode(15293), (Bytes{0x7b, 0xbd}));
  EXPECT_EQ(encode(494878333), (Bytes{0x9d, 0x7f, 0x3e, 0x7d}));
  EXPECT_EQ(encode(151288809941952652ULL),
            (Bytes{0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}));
}

TEST(Varint, DecodesTheRfc9000Examples) {
  struct Example {
    Bytes bytes;
    std::uint64_t value;
  };
  const std::vector<Example> examples = {
      {{0x25}, 37},
      {{0x7b, 0xbd}, 15293},
      {{0x9d, 0x7f, 0x3e, 0x7d}, 494878333},
      {{0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}, 151288809941952652ULL},
      // RFC 9000 §A.1: a two-byte encoding of 37 is also valid (decoders accept non-minimal).
      {{0x40, 0x25}, 37},
  };
  for (const Example& e : examples) {
    const auto decoded = read_varint(e.bytes);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->value, e.value);
    EXPECT_EQ(decoded->size, e.bytes.size());
  }
}

TEST(Varint, ReadsOnlyTheVarintAndIgnoresTrailingBytes) {
  const Bytes bytes = {0x7b, 0xbd, 0xaa, 0xbb};
  const auto decoded = read_varint(bytes);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->value, 15293u);
  EXPECT_EQ(decoded->size, 2u);
}

TEST(Varint, TruncatedInputReturnsNullopt) {
  EXPECT_FALSE(read_varint(ByteView()).has_value());
  const Bytes eight = {0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c};
  for (std::size_t n = 0; n < eight.size(); ++n) {
    EXPECT_FALSE(read_varint(ByteView(eight).first(n)).has_value()) << "prefix of " << n;
  }
  const Bytes four = {0x9d, 0x7f, 0x3e, 0x7d};
  for (std::size_t n = 0; n < four.size(); ++n) {
    EXPECT_FALSE(read_varint(ByteView(four).first(n)).has_value()) << "prefix of " << n;
  }
  EXPECT_FALSE(read_varint(Bytes{0x7b}).has_value());
}

TEST(Varint, WriteVarintReturnsThePointerPastTheEncoding) {
  std::uint8_t buffer[16] = {};
  std::uint8_t* end = write_varint(buffer, 494878333);
  EXPECT_EQ(end, buffer + 4);
  end = write_varint(end, 37);
  EXPECT_EQ(end, buffer + 5);
  EXPECT_EQ(buffer[0], 0x9d);
  EXPECT_EQ(buffer[3], 0x7d);
  EXPECT_EQ(buffer[4], 0x25);
}

TEST(Varint, AppendVarintKeepsExistingBytes) {
  Bytes out = {0xaa};
  append_varint(out, 15293);
  EXPECT_EQ(out, (Bytes{0xaa, 0x7b, 0xbd}));
}

}  // namespace
}  // namespace rpcnet::wire

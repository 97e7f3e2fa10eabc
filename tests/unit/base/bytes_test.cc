// to_hex: two lowercase digits per byte, first byte first, every byte value, and nothing for
// nothing.
#include "rpcnet/bytes.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

namespace rpcnet {
namespace {

TEST(ToHexTest, SpellsEachByteAsTwoLowercaseDigitsInOrder) {
  const std::array<std::uint8_t, 5> bytes{0x00, 0x0f, 0xa0, 0x7e, 0xff};
  EXPECT_EQ(to_hex(bytes), "000fa07eff");
  EXPECT_EQ(to_hex(to_bytes("hello")), "68656c6c6f");
}

TEST(ToHexTest, CoversEveryByteValue) {
  for (unsigned value = 0; value < 256; ++value) {
    const std::uint8_t byte = static_cast<std::uint8_t>(value);
    const std::string hex = to_hex(ByteView(&byte, 1));
    ASSERT_EQ(hex.size(), 2u);
    EXPECT_EQ(std::stoul(hex, nullptr, 16), value) << hex;
    EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << hex;
  }
}

TEST(ToHexTest, NoBytesGiveAnEmptyString) { EXPECT_EQ(to_hex(Bytes{}), ""); }

}  // namespace
}  // namespace rpcnet

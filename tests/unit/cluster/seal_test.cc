// Packet sealing (AES-256-GCM), the key ring and its rotation, and the replay guard.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cluster/packet_seal.h"
#include "cluster/prng.h"
#include "cluster/replay_guard.h"
#include "rpcnet/cluster/key_ring.h"

namespace rpcnet::cluster {
namespace {

Key key_of(int fill) {
  Key k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(fill + static_cast<int>(i));
  return k;
}

std::vector<std::byte> text(std::string_view s) {
  std::vector<std::byte> out;
  for (const char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

KeyRing ring_of(int fill) { return std::move(*KeyRing::create(key_of(fill))); }

TEST(PacketSeal, OpensWithTheRightKeyAndCostsExactlyTheOverhead) {
  Prng rng(1);
  const KeyRing ring = ring_of(1);
  const auto plain = text("hello gossip");
  const auto sealed = seal_packet(ring, rng, plain);
  ASSERT_EQ(sealed.size(), plain.size() + kSealOverhead);
  EXPECT_EQ(std::to_integer<int>(sealed[0]), kSealVersion);
  const std::uint32_t id = ring.primary_id();
  EXPECT_EQ(std::to_integer<std::uint32_t>(sealed[1]), id >> 24);
  EXPECT_EQ(std::to_integer<std::uint32_t>(sealed[4]), id & 0xff);
  const auto opened = open_packet(ring, sealed);
  ASSERT_EQ(opened.error, OpenError::kNone);
  EXPECT_EQ(opened.plaintext, plain);
}

TEST(PacketSeal, NoncesDifferBetweenPackets) {
  Prng rng(1);
  const KeyRing ring = ring_of(1);
  const auto a = seal_packet(ring, rng, text("same"));
  const auto b = seal_packet(ring, rng, text("same"));
  EXPECT_NE(a, b);
}

TEST(PacketSeal, WrongKeyIsAnAuthFailure) {
  Prng rng(1);
  const auto sealed = seal_packet(ring_of(1), rng, text("secret"));
  EXPECT_EQ(open_packet(ring_of(2), sealed).error, OpenError::kAuth);
}

TEST(PacketSeal, AnyFlippedBitIsAnAuthFailure) {
  Prng rng(1);
  const KeyRing ring = ring_of(1);
  const auto sealed = seal_packet(ring, rng, text("integrity matters"));
  for (std::size_t i = 1; i < sealed.size(); ++i) {  // byte 0 is the version: malformed instead
    auto bad = sealed;
    bad[i] ^= std::byte{0x01};
    EXPECT_EQ(open_packet(ring, bad).error, OpenError::kAuth) << "byte " << i;
  }
  auto bad_version = sealed;
  bad_version[0] = std::byte{2};
  EXPECT_EQ(open_packet(ring, bad_version).error, OpenError::kMalformed);
}

TEST(PacketSeal, ShortInputIsMalformed) {
  const KeyRing ring = ring_of(1);
  std::vector<std::byte> shorty(kSealOverhead - 1, std::byte{1});
  EXPECT_EQ(open_packet(ring, shorty).error, OpenError::kMalformed);
  EXPECT_EQ(open_packet(ring, {}).error, OpenError::kMalformed);
}

TEST(KeyRing, RotationKeepsOldKeyOpeningUntilRemoved) {
  Prng rng(7);
  KeyRing old_only = ring_of(1);
  KeyRing rotating = ring_of(1);
  const auto sealed_old = seal_packet(old_only, rng, text("from an old node"));
  // 1. add the new key: still seals with the old one, opens both.
  ASSERT_TRUE(rotating.add(key_of(2)).ok());
  EXPECT_EQ(rotating.primary(), key_of(1));
  // 2. switch primary: seals with new, the old key still opens.
  ASSERT_TRUE(rotating.use(key_of(2)).ok());
  EXPECT_EQ(rotating.primary(), key_of(2));
  EXPECT_EQ(open_packet(rotating, sealed_old).error, OpenError::kNone);
  const auto sealed_new = seal_packet(rotating, rng, text("from a rotated node"));
  EXPECT_EQ(open_packet(old_only, sealed_new).error, OpenError::kAuth);
  // 3. remove the old key: its packets no longer open.
  ASSERT_TRUE(rotating.remove(key_of(1)).ok());
  EXPECT_EQ(open_packet(rotating, sealed_old).error, OpenError::kAuth);
  EXPECT_EQ(open_packet(rotating, sealed_new).error, OpenError::kNone);
}

TEST(KeyRing, RejectsBadKeysAndRemovingThePrimary) {
  std::vector<std::byte> short_key(31);
  EXPECT_FALSE(KeyRing::create(short_key).ok());
  KeyRing ring = ring_of(1);
  EXPECT_EQ(ring.remove(key_of(1)).error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ring.remove(key_of(9)).error().code(), StatusCode::kNotFound);
  EXPECT_EQ(ring.use(key_of(9)).error().code(), StatusCode::kNotFound);
  EXPECT_FALSE(ring.add(short_key).ok());
  for (int i = 2; i <= static_cast<int>(KeyRing::kMaxKeys); ++i) ASSERT_TRUE(ring.add(key_of(i * 3)).ok());
  EXPECT_EQ(ring.add(key_of(200)).error().code(), StatusCode::kResourceExhausted);
}

TEST(KeyRing, ParsesHexAndBase64) {
  const std::string hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  auto from_hex = KeyRing::from_text("  " + hex + "\n");
  ASSERT_TRUE(from_hex.ok());
  EXPECT_EQ(from_hex->primary(), key_of(0));
  auto from_b64 = KeyRing::from_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  ASSERT_TRUE(from_b64.ok());
  EXPECT_EQ(from_b64->primary(), key_of(0));
  EXPECT_FALSE(KeyRing::from_text("not a key").ok());
  EXPECT_FALSE(KeyRing::from_text(hex.substr(2)).ok());
  EXPECT_FALSE(KeyRing::from_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=").ok());  // non-canonical
}

TEST(KeyRing, KeyIdIsTheFirstFourBytesOfSha256) {
  // SHA-256 of 32 zero bytes = 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925.
  Key zero{};
  EXPECT_EQ(KeyRing::key_id(zero), 0x66687aadu);
}

Time at(int ms) { return Time{} + std::chrono::milliseconds(ms); }

TEST(ReplayGuard, DropsExactReplaysAndTooOldPackets) {
  ReplayGuard guard(8);
  EXPECT_TRUE(guard.accept("a", 1, 10, at(0)));
  EXPECT_FALSE(guard.accept("a", 1, 10, at(1)));  // exact replay
  EXPECT_TRUE(guard.accept("a", 1, 8, at(2)));     // reordered, inside the window
  EXPECT_FALSE(guard.accept("a", 1, 8, at(3)));
  EXPECT_TRUE(guard.accept("a", 1, 100, at(4)));
  EXPECT_FALSE(guard.accept("a", 1, 100 - 64, at(5)));  // left the window
  EXPECT_TRUE(guard.accept("a", 1, 100 - 63, at(6)));
  EXPECT_TRUE(guard.accept("b", 1, 10, at(7)));  // senders are independent
}

TEST(ReplayGuard, OldBootIdsStayDeadAfterARestart) {
  ReplayGuard guard(8);
  EXPECT_TRUE(guard.accept("a", 111, 5, at(0)));
  EXPECT_TRUE(guard.accept("a", 222, 1, at(1)));   // restarted: new boot id
  EXPECT_FALSE(guard.accept("a", 111, 6, at(2)));  // a packet from before the restart
  EXPECT_TRUE(guard.accept("a", 222, 2, at(3)));
}

TEST(ReplayGuard, TracksAtMostMaxSenders) {
  ReplayGuard guard(3);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(guard.accept("s" + std::to_string(i), 1, 1, at(i)));
  EXPECT_EQ(guard.senders(), 3u);
}

}  // namespace
}  // namespace rpcnet::cluster

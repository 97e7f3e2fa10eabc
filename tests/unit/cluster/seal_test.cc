// Packet sealing (AES-256-GCM), the key ring and its rotation, and the replay guard.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cluster/packet_seal.h"
#include "cluster/replay_guard.h"
#include "rpcnet/cluster/key_ring.h"
#include "support/error_matchers.h"

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

NonceSequence::Secret secret_of(std::uint8_t fill) {
  NonceSequence::Secret secret;
  secret.fill(std::byte{fill});
  return secret;
}

std::vector<std::byte> seal(const KeyRing& ring, NonceSequence& nonces, std::string_view to, std::string_view text_in) {
  auto sealed = seal_packet(ring, nonces, to, text(text_in));
  EXPECT_TRUE(sealed.ok());
  return sealed.ok() ? std::move(*sealed) : std::vector<std::byte>{};
}

TEST(PacketSeal, OpensAtItsRecipientWithTheRightKeyAndCostsExactlyTheOverhead) {
  NonceSequence nonces(secret_of(1));
  const KeyRing ring = ring_of(1);
  const auto plain = text("hello gossip");
  const auto sealed = seal(ring, nonces, "node-c", "hello gossip");
  ASSERT_EQ(sealed.size(), plain.size() + kSealOverhead);
  EXPECT_EQ(std::to_integer<int>(sealed[0]), kSealAddressed);
  const std::uint32_t id = ring.primary_id();
  EXPECT_EQ(std::to_integer<std::uint32_t>(sealed[1]), id >> 24);
  EXPECT_EQ(std::to_integer<std::uint32_t>(sealed[4]), id & 0xff);
  const auto opened = open_packet(ring, "node-c", sealed);
  ASSERT_EQ(opened.error, OpenError::kNone);
  EXPECT_TRUE(opened.addressed);
  EXPECT_EQ(opened.plaintext, plain);
}

// A copy of a packet captured on its way to C and replayed at B must not open at B.
TEST(PacketSeal, APacketForOneMemberFailsAuthenticationAtAnother) {
  NonceSequence nonces(secret_of(1));
  const KeyRing ring = ring_of(1);
  const auto to_c = seal(ring, nonces, "node-c", "for c only");
  EXPECT_EQ(open_packet(ring, "node-b", to_c).error, OpenError::kAuth);
  EXPECT_EQ(open_packet(ring, "node-c ", to_c).error, OpenError::kAuth);
  EXPECT_EQ(open_packet(ring, "", to_c).error, OpenError::kAuth);
  // Rewriting the format byte to "unaddressed" does not strip the binding either.
  auto stripped = to_c;
  stripped[0] = std::byte{kSealUnaddressed};
  EXPECT_EQ(open_packet(ring, "node-b", stripped).error, OpenError::kAuth);
}

TEST(PacketSeal, AnUnaddressedPacketOpensAnywhereAndSaysSo) {
  NonceSequence nonces(secret_of(1));
  const KeyRing ring = ring_of(1);
  const auto join = seal(ring, nonces, "", "join");
  EXPECT_EQ(std::to_integer<int>(join[0]), kSealUnaddressed);
  for (const char* at : {"node-a", "node-b"}) {
    const auto opened = open_packet(ring, at, join);
    ASSERT_EQ(opened.error, OpenError::kNone);
    EXPECT_FALSE(opened.addressed);
  }
  auto promoted = join;
  promoted[0] = std::byte{kSealAddressed};
  EXPECT_EQ(open_packet(ring, "node-a", promoted).error, OpenError::kAuth);
}

// Nonce = 8-byte prefix || 4-byte big-endian counter; the prefix comes from the process secret.
TEST(NonceSequence, IsAPrefixFromTheSecretThenACounter) {
  NonceSequence a(secret_of(1));
  const Nonce first = a.next();
  const Nonce second = a.next();
  EXPECT_TRUE(std::equal(first.begin(), first.begin() + 8, second.begin()));
  EXPECT_EQ(std::to_integer<int>(first[11]), 0);
  EXPECT_EQ(std::to_integer<int>(second[11]), 1);
  EXPECT_EQ(std::to_integer<int>(second[8]) | std::to_integer<int>(second[9]) | std::to_integer<int>(second[10]), 0);
  NonceSequence same_secret(secret_of(1));
  EXPECT_EQ(same_secret.next(), first) << "deterministic in its secret";
  NonceSequence other(secret_of(2));
  const Nonce other_first = other.next();
  EXPECT_FALSE(std::equal(first.begin(), first.begin() + 8, other_first.begin())) << "another process, another prefix";
}

// At the end of a prefix's 2^32 counters the sequence moves to the next prefix: no nonce repeats,
// no counter wraps onto a used value.
TEST(NonceSequence, MovesToAFreshPrefixInsteadOfWrapping) {
  NonceSequence nonces(secret_of(3), NonceSequence::kNoncesPerPrefix - 2);
  const Nonce a = nonces.next();
  const Nonce b = nonces.next();
  const Nonce c = nonces.next();
  EXPECT_EQ(nonces.prefixes_used(), 2u);
  EXPECT_EQ(std::to_integer<int>(a[8]), 0xff);
  EXPECT_EQ(std::to_integer<int>(b[11]), 0xff);
  EXPECT_FALSE(std::equal(b.begin(), b.begin() + 8, c.begin()));
  EXPECT_EQ(std::to_integer<int>(c[8]) | std::to_integer<int>(c[9]) | std::to_integer<int>(c[10]) |
                std::to_integer<int>(c[11]),
            0);
  NonceSequence fresh(secret_of(3));
  EXPECT_NE(fresh.next(), c) << "prefix 1 is not prefix 0";
}

TEST(PacketSeal, WrongKeyIsAnAuthFailure) {
  NonceSequence nonces(secret_of(1));
  const auto sealed = seal(ring_of(1), nonces, "n", "secret");
  EXPECT_EQ(open_packet(ring_of(2), "n", sealed).error, OpenError::kAuth);
}

TEST(PacketSeal, AnyFlippedBitIsAnAuthFailure) {
  NonceSequence nonces(secret_of(1));
  const KeyRing ring = ring_of(1);
  const auto sealed = seal(ring, nonces, "n", "integrity matters");
  for (std::size_t i = 1; i < sealed.size(); ++i) {  // byte 0 is the format: below
    auto bad = sealed;
    bad[i] ^= std::byte{0x01};
    EXPECT_EQ(open_packet(ring, "n", bad).error, OpenError::kAuth) << "byte " << i;
  }
  for (const int format : {0, 1, 4, 0xff}) {
    auto bad_format = sealed;
    bad_format[0] = static_cast<std::byte>(format);
    EXPECT_EQ(open_packet(ring, "n", bad_format).error, OpenError::kMalformed) << format;
  }
}

TEST(PacketSeal, ShortInputIsMalformed) {
  const KeyRing ring = ring_of(1);
  std::vector<std::byte> shorty(kSealOverhead - 1, std::byte{kSealAddressed});
  EXPECT_EQ(open_packet(ring, "n", shorty).error, OpenError::kMalformed);
  EXPECT_EQ(open_packet(ring, "n", {}).error, OpenError::kMalformed);
}

TEST(KeyRing, RotationKeepsOldKeyOpeningUntilRemoved) {
  NonceSequence nonces(secret_of(7));
  KeyRing old_only = ring_of(1);
  KeyRing rotating = ring_of(1);
  const auto sealed_old = seal(old_only, nonces, "n", "from an old node");
  // 1. add the new key: still seals with the old one, opens both.
  ASSERT_TRUE(rotating.add(key_of(2)).ok());
  EXPECT_EQ(rotating.primary(), key_of(1));
  // 2. switch primary: seals with new, the old key still opens.
  ASSERT_TRUE(rotating.use(key_of(2)).ok());
  EXPECT_EQ(rotating.primary(), key_of(2));
  EXPECT_EQ(open_packet(rotating, "n", sealed_old).error, OpenError::kNone);
  const auto sealed_new = seal(rotating, nonces, "n", "from a rotated node");
  EXPECT_EQ(open_packet(old_only, "n", sealed_new).error, OpenError::kAuth);
  // 3. remove the old key: its packets no longer open.
  ASSERT_TRUE(rotating.remove(key_of(1)).ok());
  EXPECT_EQ(open_packet(rotating, "n", sealed_old).error, OpenError::kAuth);
  EXPECT_EQ(open_packet(rotating, "n", sealed_new).error, OpenError::kNone);
}

TEST(KeyRing, RejectsBadKeysAndRemovingThePrimary) {
  std::vector<std::byte> short_key(31);
  EXPECT_FALSE(KeyRing::create(short_key).ok());
  KeyRing ring = ring_of(1);
  EXPECT_THAT(ring.remove(key_of(1)), rpcnet::testing::StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(ring.remove(key_of(9)), rpcnet::testing::StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(ring.use(key_of(9)), rpcnet::testing::StatusIs(StatusCode::kNotFound));
  EXPECT_FALSE(ring.add(short_key).ok());
  for (int i = 2; i <= static_cast<int>(KeyRing::kMaxKeys); ++i) ASSERT_TRUE(ring.add(key_of(i * 3)).ok());
  EXPECT_THAT(ring.add(key_of(200)), rpcnet::testing::StatusIs(StatusCode::kResourceExhausted));
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

// Boot ids are start times: a packet captured any number of restarts ago is older than the
// current boot, so it can neither be accepted nor retire the current boot (with a list of the
// last few boot ids, the sixth-oldest boot counted as new and muted the real one).
TEST(ReplayGuard, APacketFromManyRestartsAgoCannotDisplaceTheCurrentBoot) {
  ReplayGuard guard(8);
  for (std::uint64_t boot = 1000; boot <= 1005; ++boot) EXPECT_TRUE(guard.accept("a", boot, 1, at(0)));
  EXPECT_FALSE(guard.accept("a", 1000, 2, at(1)));  // captured five restarts earlier
  EXPECT_FALSE(guard.accept("a", 1004, 7, at(2)));  // or one
  EXPECT_TRUE(guard.accept("a", 1005, 2, at(3))) << "the current boot is still heard";
}

TEST(ReplayGuard, TracksAtMostMaxSenders) {
  ReplayGuard guard(3);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(guard.accept("s" + std::to_string(i), 1, 1, at(i)));
  EXPECT_EQ(guard.senders(), 3u);
}

}  // namespace
}  // namespace rpcnet::cluster

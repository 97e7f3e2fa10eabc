// The gossip plaintext codec: round trips, golden bytes, and hostile input.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cluster/gossip_codec.h"
#include "cluster/prng.h"

namespace rpcnet::cluster::gossip {
namespace {

Buffer bytes(std::initializer_list<int> values) {
  Buffer out;
  for (const int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

SocketAddress addr(const char* ip, unsigned short port) {
  return SocketAddress(asio::ip::make_address(ip), port);
}

std::vector<Message> every_message() {
  return {
      Ping{7, "node-b"},
      PingReq{8, "node-c", addr("10.0.0.3", 7946), true},
      Ack{9},
      Nack{4000000000u},
      Alive{300, "n1", addr("::1", 1), {{"role", "db"}, {"zone", "eu-1"}}},
      Suspect{2, "n2", "n3"},
      Dead{(std::uint64_t{1} << 40), "n4", "n5"},
      Left{3, "n6"},
      PushPull{PushPull::kJoinReply, 17, 1, 3,
               {StateEntry{"a", addr("10.1.2.3", 9), 5, MemberState::kSuspect, {{"k", "v"}}},
                StateEntry{"b", addr("fe80::1", 65535), 0, MemberState::kLeft, {}}}},
      Join{},
      StateDigest{StateDigest::kWantReply, 99, {0, 0xffffffffffffffffULL, 0x0123456789abcdefULL}},
  };
}

Buffer packet_of(const std::vector<Message>& messages, std::uint64_t seq = 1) {
  std::vector<Buffer> framed;
  for (const auto& m : messages) framed.push_back(encode_message(m));
  return encode_packet({"sender-1", 0xdeadbeefcafef00dULL, seq}, framed);
}

TEST(GossipCodec, EveryMessageTypeRoundTripsInOnePacket) {
  const auto messages = every_message();
  const auto decoded = decode_packet(packet_of(messages, 123456789), 64);
  ASSERT_EQ(decoded.error, DecodeError::kNone);
  EXPECT_EQ(decoded.packet.envelope.sender, "sender-1");
  EXPECT_EQ(decoded.packet.envelope.boot_id, 0xdeadbeefcafef00dULL);
  EXPECT_EQ(decoded.packet.envelope.seq, 123456789u);
  ASSERT_EQ(decoded.packet.messages.size(), messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) EXPECT_TRUE(decoded.packet.messages[i] == messages[i]) << i;
}

TEST(GossipCodec, PingPacketMatchesGoldenBytes) {
  const Buffer packet = encode_packet({"a", 0x0102030405060708ULL, 1}, std::vector<Buffer>{encode_message(Ping{5, "b"})});
  EXPECT_EQ(packet, bytes({0x01, 0x01, 0x61, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x01, 0x01,
                           0x01, 0x03, 0x05, 0x01, 0x62}));
}

TEST(GossipCodec, AliveMessageMatchesGoldenBytes) {
  const Buffer framed = encode_message(Alive{300, "n1", addr("10.0.0.1", 7946), {{"k", "v"}}});
  EXPECT_EQ(framed, bytes({0x05, 0x11, 0x41, 0x2c, 0x02, 0x6e, 0x31, 0x04, 0x0a, 0x00, 0x00, 0x01, 0x1f, 0x0a,
                           0x01, 0x01, 0x6b, 0x01, 0x76}));
}

TEST(GossipCodec, DigestMatchesGoldenBytes) {
  const Buffer framed = encode_message(StateDigest{StateDigest::kWantReply, 5, {0x0102030405060708ULL, 0}});
  EXPECT_EQ(framed, bytes({0x0b, 0x13, 0x01, 0x05, 0x02, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                           0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}));
}

TEST(GossipCodec, DigestFunctionsMatchGoldenValues) {
  // Computed by an independent implementation of the wire definition (gossip_codec.h, type 11):
  // both ends of a sync must agree bit for bit.
  EXPECT_EQ(digest_bucket("n1", 128), 64u);
  EXPECT_EQ(digest_bucket("node-7", 16), 5u);
  EXPECT_EQ(digest_bucket("anything", 1), 0u);
  const StateEntry e{"a", addr("10.0.0.1", 7946), 5, MemberState::kAlive, {{"k", "v"}}};
  EXPECT_EQ(digest_entry_hash(e), 0xa4768bbfaff32bf6ULL);
  StateEntry newer = e;
  newer.incarnation = 6;
  EXPECT_NE(digest_entry_hash(newer), digest_entry_hash(e));
}

TEST(GossipCodec, EveryTruncationIsMalformedNotACrash) {
  const Buffer packet = packet_of(every_message());
  for (std::size_t n = 0; n < packet.size(); ++n) {
    const auto decoded = decode_packet(std::span(packet).first(n), 64);
    EXPECT_EQ(decoded.error, DecodeError::kMalformed) << "prefix " << n;
    EXPECT_TRUE(decoded.packet.messages.empty());
  }
}

TEST(GossipCodec, TrailingBytesAfterTheLastMessageAreMalformed) {
  Buffer packet = packet_of({Ack{1}});
  packet.push_back(std::byte{0});
  EXPECT_EQ(decode_packet(packet, 64).error, DecodeError::kMalformed);
}

TEST(GossipCodec, WrongFormatVersionIsMalformed) {
  Buffer packet = packet_of({Ack{1}});
  packet[0] = std::byte{2};
  EXPECT_EQ(decode_packet(packet, 64).error, DecodeError::kMalformed);
}

TEST(GossipCodec, MoreMessagesThanTheCapAreRejected) {
  const std::vector<Message> many(10, Message{Ack{1}});
  EXPECT_EQ(decode_packet(packet_of(many), 9).error, DecodeError::kTooManyMessages);
  EXPECT_EQ(decode_packet(packet_of(many), 10).error, DecodeError::kNone);
}

TEST(GossipCodec, UnknownMessageTypeIsSkippedByLength) {
  std::vector<Buffer> framed{bytes({0x7f, 0x02, 0xaa, 0xbb}), encode_message(Ack{42})};
  const auto decoded = decode_packet(encode_packet({"s", 1, 1}, framed), 64);
  ASSERT_EQ(decoded.error, DecodeError::kNone);
  EXPECT_EQ(decoded.skipped_unknown, 1u);
  ASSERT_EQ(decoded.packet.messages.size(), 1u);
  EXPECT_TRUE(decoded.packet.messages[0] == Message{Ack{42}});
}

TEST(GossipCodec, HostileFieldsAreRejected) {
  // Member id longer than 128 bytes.
  const std::string long_id(129, 'x');
  EXPECT_EQ(decode_packet(packet_of({Ping{1, long_id}}), 64).error, DecodeError::kMalformed);
  // Empty member id.
  EXPECT_EQ(decode_packet(packet_of({Left{1, ""}}), 64).error, DecodeError::kMalformed);
  // Address family 5.
  Buffer pr = encode_message(PingReq{1, "t", addr("10.0.0.1", 1), false});
  pr[2 + 1 + 2] = std::byte{5};  // type, len, seq(1), str "t"(2) -> family byte
  EXPECT_EQ(decode_packet(encode_packet({"s", 1, 1}, std::vector<Buffer>{pr}), 64).error, DecodeError::kMalformed);
  // Member state 4 in a push-pull entry.
  Buffer pp = encode_message(PushPull{0, 1, 0, 1, {StateEntry{"a", addr("10.0.0.1", 1), 1, MemberState::kAlive, {}}}});
  pp[pp.size() - 2] = std::byte{4};  // state byte precedes the (empty) tag count
  EXPECT_EQ(decode_packet(encode_packet({"s", 1, 1}, std::vector<Buffer>{pp}), 64).error, DecodeError::kMalformed);
  // Chunk index >= chunk count.
  EXPECT_EQ(decode_packet(packet_of({PushPull{0, 1, 3, 3, {}}}), 64).error, DecodeError::kMalformed);
  // Duplicate tag key.
  Buffer alive = bytes({0x05, 0x0e, 0x01, 0x01, 0x61, 0x04, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x01, 0x02,
                        0x01, 0x6b, 0x00, 0x01, 0x6b, 0x00});
  alive[1] = static_cast<std::byte>(alive.size() - 2);
  EXPECT_EQ(decode_packet(encode_packet({"s", 1, 1}, std::vector<Buffer>{alive}), 64).error, DecodeError::kMalformed);
  // Digests with no bucket, more than 128, or fewer hashes than announced.
  EXPECT_EQ(decode_packet(packet_of({StateDigest{0, 1, {}}}), 64).error, DecodeError::kMalformed);
  EXPECT_EQ(decode_packet(packet_of({StateDigest{0, 1, std::vector<std::uint64_t>(129, 7)}}), 64).error,
            DecodeError::kMalformed);
  EXPECT_EQ(decode_packet(packet_of({StateDigest{0, 1, std::vector<std::uint64_t>(128, 7)}}), 64).error,
            DecodeError::kNone);
  Buffer digest = encode_message(StateDigest{0, 1, {7, 8}});
  digest[4] = std::byte{3};  // type, len, flags, exchange -> count claims 3 hashes, body holds 2
  EXPECT_EQ(decode_packet(encode_packet({"s", 1, 1}, std::vector<Buffer>{digest}), 64).error, DecodeError::kMalformed);
  // A body length beyond the packet.
  Buffer ack = encode_message(Ack{1});
  ack[1] = std::byte{0x3f};
  EXPECT_EQ(decode_packet(encode_packet({"s", 1, 1}, std::vector<Buffer>{ack}), 64).error, DecodeError::kMalformed);
}

TEST(GossipCodec, RandomGarbageNeverCrashesAndReencodesStably) {
  Prng rng(42);
  const Buffer valid = packet_of(every_message());
  for (int i = 0; i < 20000; ++i) {
    Buffer input = valid;
    const auto flips = 1 + rng.below(4);
    for (std::uint64_t f = 0; f < flips; ++f) {
      input[rng.below(input.size())] = static_cast<std::byte>(rng.below(256));
    }
    const auto decoded = decode_packet(input, 64);
    if (decoded.error != DecodeError::kNone) continue;
    std::vector<Buffer> framed;
    for (const auto& m : decoded.packet.messages) framed.push_back(encode_message(m));
    const auto again = decode_packet(encode_packet(decoded.packet.envelope, framed), 64);
    ASSERT_EQ(again.error, DecodeError::kNone);
    ASSERT_EQ(again.packet.messages.size(), decoded.packet.messages.size());
    for (std::size_t m = 0; m < again.packet.messages.size(); ++m) {
      ASSERT_TRUE(again.packet.messages[m] == decoded.packet.messages[m]);
    }
  }
}

TEST(GossipCodec, VarintSizesFollowQuicEncoding) {
  EXPECT_EQ(varint_size(63), 1u);
  EXPECT_EQ(varint_size(64), 2u);
  EXPECT_EQ(varint_size(16383), 2u);
  EXPECT_EQ(varint_size(16384), 4u);
  EXPECT_EQ(varint_size((1u << 30) - 1), 4u);
  EXPECT_EQ(varint_size(1u << 30), 8u);
  Buffer out;
  append_varint(out, 300);
  EXPECT_EQ(out, bytes({0x41, 0x2c}));
}

}  // namespace
}  // namespace rpcnet::cluster::gossip

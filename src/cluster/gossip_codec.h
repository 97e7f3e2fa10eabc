// gossip_codec.h — the plaintext wire format of gossip packets (inside the AEAD seal).
//
// Packet (all integers are QUIC-style varints unless sized; strings are varint length + bytes):
//   u8 format version (kFormatVersion = 1; any other value is rejected)
//   string sender id (1..128 bytes)      u64 boot id (8 bytes, big-endian)
//   varint packet sequence number        varint message count (1..max_messages)
//   count x { u8 type, varint body length, body }
// Message types (WIRE ENUM — APPEND ONLY). A receiver skips a type it does not know (its length
// is known), and ignores bytes after the fields it knows inside a body, so later versions can
// append fields. Bodies:
//   1 ping        varint seq, string target id
//   2 ping-req    varint seq, string target id, address target, u8 want_nack (0/1)
//   3 ack         varint seq
//   4 nack        varint seq
//   5 alive       varint incarnation, string id, address, tags        (also the tag update)
//   6 suspect     varint incarnation, string id, string from
//   7 dead        varint incarnation, string id, string from
//   8 left        varint incarnation, string id
//   9 push-pull   u8 flags (2 join reply; 1 reserved), varint exchange, varint chunk index,
//                 varint chunk count, varint entry count, entries:
//                 { string id, address, varint incarnation, u8 state, tags }
//  10 join        (empty) "send me your state"; the joiner's alive travels in the same packet
//  11 digest      u8 flags (1 want reply), varint exchange, varint bucket count B (1..128),
//                 B x u64 big-endian bucket hash. Member m falls in bucket
//                 fnv1a64(m.id) mod B; a bucket's hash is the sum mod 2^64 of
//                 mix64(fnv1a64(state entry bytes)) over its members (entry as in push-pull,
//                 self, dead and left members included; an empty bucket hashes to 0).
//                 The receiver answers only for buckets that differ: its entries in them
//                 (push-pull, flags 0) and, if asked, its own digest, so the initiator sends
//                 its entries in those buckets too. Equal views cost one small packet.
//  12 challenge   u64 token (8 bytes, big-endian): "prove you receive at the address this came
//                 from"; sent instead of a reply larger than the packet that asked for it.
//  13 response    u64 token: the answer, sent back to the challenge's source address.
// address = u8 family (4|6), 4|16 bytes, u16 port big-endian.
// tags    = varint count (<= kMaxTags), count x { string key, string value }.
// Decoding never trusts a length: every read is bounds-checked and capped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rpcnet/address.h"
#include "rpcnet/cluster/member.h"

namespace rpcnet::cluster::gossip {

using Buffer = std::vector<std::byte>;
using Tags = std::map<std::string, std::string>;

inline constexpr std::uint8_t kFormatVersion = 1;
inline constexpr std::size_t kMaxTags = 32;
inline constexpr std::size_t kMaxTagWireBytes = 16383;  // tag key/value decode cap
inline constexpr std::size_t kMaxPushPullEntries = 255;
inline constexpr std::size_t kMaxDigestBuckets = 128;
inline constexpr std::uint64_t kMaxVarint = (std::uint64_t{1} << 62) - 1;

enum class MessageType : std::uint8_t {
  kPing = 1, kPingReq = 2, kAck = 3, kNack = 4, kAlive = 5, kSuspect = 6, kDead = 7, kLeft = 8,
  kPushPull = 9, kJoin = 10, kStateDigest = 11, kChallenge = 12, kChallengeResponse = 13,
};

struct Ping { std::uint32_t seq = 0; std::string target; };
struct PingReq { std::uint32_t seq = 0; std::string target; SocketAddress target_address; bool want_nack = false; };
struct Ack { std::uint32_t seq = 0; };
struct Nack { std::uint32_t seq = 0; };
struct Alive { std::uint64_t incarnation = 0; std::string id; SocketAddress address; Tags tags; };
struct Suspect { std::uint64_t incarnation = 0; std::string id; std::string from; };
struct Dead { std::uint64_t incarnation = 0; std::string id; std::string from; };
struct Left { std::uint64_t incarnation = 0; std::string id; };
struct StateEntry {
  std::string id; SocketAddress address; std::uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive; Tags tags;
};
struct PushPull {
  static constexpr std::uint8_t kJoinReply = 2;
  std::uint8_t flags = 0; std::uint32_t exchange = 0; std::uint32_t chunk = 0;
  std::uint32_t chunks = 1; std::vector<StateEntry> entries;
};
struct Join {};
struct Challenge { std::uint64_t token = 0; };
struct ChallengeResponse { std::uint64_t token = 0; };
struct StateDigest {
  static constexpr std::uint8_t kWantReply = 1;
  std::uint8_t flags = 0; std::uint32_t exchange = 0; std::vector<std::uint64_t> buckets;
};

using Message = std::variant<Ping, PingReq, Ack, Nack, Alive, Suspect, Dead, Left, PushPull, Join, StateDigest,
                             Challenge, ChallengeResponse>;

bool operator==(const Ping&, const Ping&);
bool operator==(const PingReq&, const PingReq&);
bool operator==(const Ack&, const Ack&);
bool operator==(const Nack&, const Nack&);
bool operator==(const Alive&, const Alive&);
bool operator==(const Suspect&, const Suspect&);
bool operator==(const Dead&, const Dead&);
bool operator==(const Left&, const Left&);
bool operator==(const StateEntry&, const StateEntry&);
bool operator==(const PushPull&, const PushPull&);
bool operator==(const Join&, const Join&);
bool operator==(const StateDigest&, const StateDigest&);
bool operator==(const Challenge&, const Challenge&);
bool operator==(const ChallengeResponse&, const ChallengeResponse&);

struct Envelope {
  std::string sender;
  std::uint64_t boot_id = 0;
  std::uint64_t seq = 0;
};

struct Packet {
  Envelope envelope;
  std::vector<Message> messages;
};

// One framed message: type byte, varint length, body.
Buffer encode_message(const Message& message);
// Encodes one push-pull state entry on its own (to size chunks before framing them).
Buffer encode_state_entry(const StateEntry& entry);
// Framing bytes a push-pull message adds around its entries, worst case.
inline constexpr std::size_t kPushPullOverhead = 1 + 4 + 1 + 4 + 4 + 4 + 2;
// Framing bytes of a digest message besides its 8-byte bucket hashes, worst case.
inline constexpr std::size_t kDigestOverhead = 1 + 4 + 1 + 4 + 2;

// The digest's two functions (the wire defines them; both ends must agree bit for bit).
std::size_t digest_bucket(std::string_view member_id, std::size_t bucket_count);
std::uint64_t digest_entry_hash(const StateEntry& entry);

// Plaintext packet from already framed messages.
Buffer encode_packet(const Envelope& envelope, std::span<const Buffer> framed_messages);
// Worst-case envelope bytes for a sender id (what a packet costs besides its messages).
std::size_t envelope_overhead(std::size_t sender_id_bytes);

enum class DecodeError : std::uint8_t { kNone, kMalformed, kTooManyMessages };

struct DecodeResult {
  DecodeError error = DecodeError::kNone;
  Packet packet;
  std::size_t skipped_unknown = 0;  // messages of unknown type
};

DecodeResult decode_packet(std::span<const std::byte> plaintext, std::size_t max_messages);

// Sum of key and value sizes: what ClusterConfig::max_tags_bytes caps.
std::size_t tags_bytes(const Tags& tags);

// Varint helpers (exposed for tests).
void append_varint(Buffer& out, std::uint64_t value);
std::size_t varint_size(std::uint64_t value);

}  // namespace rpcnet::cluster::gossip

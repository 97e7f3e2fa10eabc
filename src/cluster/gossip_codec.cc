// The gossip plaintext codec. Decoding is total: any byte string yields a packet or an error.
#include "cluster/gossip_codec.h"

#include "rpcnet/random.h"

#include <array>
#include <limits>
#include <type_traits>

namespace rpcnet::cluster::gossip {
namespace {

class Writer {
 public:
  explicit Writer(Buffer& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
  void u16(std::uint16_t v) { u8(static_cast<std::uint8_t>(v >> 8)); u8(static_cast<std::uint8_t>(v)); }
  void u64(std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) u8(static_cast<std::uint8_t>(v >> shift));
  }
  void varint(std::uint64_t v) { append_varint(out_, v); }
  void str(std::string_view s) {
    varint(s.size());
    for (const char c : s) u8(static_cast<std::uint8_t>(c));
  }
  void address(const SocketAddress& a) {
    const auto ip = a.address();
    if (ip.is_v4()) {
      u8(4);
      for (const auto b : ip.to_v4().to_bytes()) u8(b);
    } else {
      u8(6);
      for (const auto b : ip.to_v6().to_bytes()) u8(b);
    }
    u16(a.port());
  }
  void tags(const Tags& t) {
    varint(t.size());
    for (const auto& [k, v] : t) {
      str(k);
      str(v);
    }
  }

 private:
  Buffer& out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  bool ok() const { return ok_; }
  bool empty() const { return pos_ >= in_.size(); }
  std::size_t remaining() const { return ok_ ? in_.size() - pos_ : 0; }
  void fail() { ok_ = false; }

  std::uint8_t u8() {
    if (!ok_ || pos_ >= in_.size()) return fail(), 0;
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint16_t u16() {
    const std::uint16_t hi = u8();
    return static_cast<std::uint16_t>((hi << 8) | u8());
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | u8();
    return v;
  }
  std::uint64_t varint() {
    if (!ok_ || pos_ >= in_.size()) return fail(), 0;
    const auto first = static_cast<std::uint8_t>(in_[pos_]);
    const std::size_t n = std::size_t{1} << (first >> 6);
    if (in_.size() - pos_ < n) return fail(), 0;
    std::uint64_t v = first & 0x3f;
    for (std::size_t i = 1; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(in_[pos_ + i]);
    pos_ += n;
    return v;
  }
  std::uint32_t u32_varint() {
    const std::uint64_t v = varint();
    if (v > std::numeric_limits<std::uint32_t>::max()) return fail(), 0;
    return static_cast<std::uint32_t>(v);
  }
  std::string str(std::size_t max, std::size_t min = 0) {
    const std::uint64_t n = varint();
    if (!ok_ || n > max || n < min || n > remaining()) return fail(), std::string();
    std::string s(reinterpret_cast<const char*>(in_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  std::string id() { return str(kMaxMemberIdBytes, 1); }
  SocketAddress address() {
    const std::uint8_t family = u8();
    if (family == 4) {
      asio::ip::address_v4::bytes_type b{};
      for (auto& x : b) x = u8();
      const std::uint16_t port = u16();
      if (!ok_) return {};
      return SocketAddress(asio::ip::address_v4(b), port);
    }
    if (family == 6) {
      asio::ip::address_v6::bytes_type b{};
      for (auto& x : b) x = u8();
      const std::uint16_t port = u16();
      if (!ok_) return {};
      return SocketAddress(asio::ip::address_v6(b), port);
    }
    fail();
    return {};
  }
  Tags tags() {
    Tags t;
    const std::uint64_t n = varint();
    if (!ok_ || n > kMaxTags) return fail(), Tags();
    for (std::uint64_t i = 0; i < n && ok_; ++i) {
      std::string k = str(kMaxTagWireBytes);
      std::string v = str(kMaxTagWireBytes);
      if (!ok_) break;
      // Keys must be unique (a map), so a duplicate is a malformed encoding, not a silent merge.
      if (!t.emplace(std::move(k), std::move(v)).second) fail();
    }
    return ok_ ? t : Tags();
  }
  std::span<const std::byte> take(std::size_t n) {
    if (!ok_ || n > remaining()) return fail(), std::span<const std::byte>();
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

void write_entry(Writer& w, const StateEntry& e) {
  w.str(e.id);
  w.address(e.address);
  w.varint(e.incarnation);
  w.u8(static_cast<std::uint8_t>(e.state));
  w.tags(e.tags);
}

StateEntry read_entry(Reader& r) {
  StateEntry e;
  e.id = r.id();
  e.address = r.address();
  e.incarnation = r.varint();
  const std::uint8_t state = r.u8();
  if (state > static_cast<std::uint8_t>(MemberState::kLeft)) r.fail();
  e.state = static_cast<MemberState>(state);
  e.tags = r.tags();
  return e;
}

MessageType type_of(const Message& m) {
  return static_cast<MessageType>(m.index() + 1);  // variant order == wire type order
}

void write_body(Writer& w, const Message& message) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Ping>) {
          w.varint(m.seq);
          w.str(m.target);
        } else if constexpr (std::is_same_v<T, PingReq>) {
          w.varint(m.seq);
          w.str(m.target);
          w.address(m.target_address);
          w.u8(m.want_nack ? 1 : 0);
        } else if constexpr (std::is_same_v<T, Ack> || std::is_same_v<T, Nack>) {
          w.varint(m.seq);
        } else if constexpr (std::is_same_v<T, Alive>) {
          w.varint(m.incarnation);
          w.str(m.id);
          w.address(m.address);
          w.tags(m.tags);
        } else if constexpr (std::is_same_v<T, Suspect> || std::is_same_v<T, Dead>) {
          w.varint(m.incarnation);
          w.str(m.id);
          w.str(m.from);
        } else if constexpr (std::is_same_v<T, Left>) {
          w.varint(m.incarnation);
          w.str(m.id);
        } else if constexpr (std::is_same_v<T, PushPull>) {
          w.u8(m.flags);
          w.varint(m.exchange);
          w.varint(m.chunk);
          w.varint(m.chunks);
          w.varint(m.entries.size());
          for (const auto& e : m.entries) write_entry(w, e);
        } else if constexpr (std::is_same_v<T, StateDigest>) {
          w.u8(m.flags);
          w.varint(m.exchange);
          w.varint(m.buckets.size());
          for (const std::uint64_t h : m.buckets) w.u64(h);
        } else if constexpr (std::is_same_v<T, Challenge> || std::is_same_v<T, ChallengeResponse>) {
          w.u64(m.token);
        } else {
          static_assert(std::is_same_v<T, Join>);
        }
      },
      message);
}

PingReq read_ping_req(Reader& r) {
  PingReq m;
  m.seq = r.u32_varint();
  m.target = r.id();
  m.target_address = r.address();
  const std::uint8_t nack = r.u8();
  if (nack > 1) r.fail();
  m.want_nack = nack == 1;
  return m;
}

Alive read_alive(Reader& r) {
  Alive m;
  m.incarnation = r.varint();
  m.id = r.id();
  m.address = r.address();
  m.tags = r.tags();
  return m;
}

// Suspect and Dead: a member accused at an incarnation, by another.
template <class Accusation>
Accusation read_accusation(Reader& r) {
  Accusation m;
  m.incarnation = r.varint();
  m.id = r.id();
  m.from = r.id();
  return m;
}

PushPull read_push_pull(Reader& r) {
  PushPull m;
  m.flags = r.u8();
  m.exchange = r.u32_varint();
  m.chunk = r.u32_varint();
  m.chunks = r.u32_varint();
  if (m.chunks == 0 || m.chunk >= m.chunks) r.fail();
  const std::uint64_t n = r.varint();
  if (n > kMaxPushPullEntries) r.fail();
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) m.entries.push_back(read_entry(r));
  return m;
}

StateDigest read_state_digest(Reader& r) {
  StateDigest m;
  m.flags = r.u8();
  m.exchange = r.u32_varint();
  const std::uint64_t n = r.varint();
  if (n == 0 || n > kMaxDigestBuckets || n * 8 > r.remaining()) r.fail();
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) m.buckets.push_back(r.u64());
  return m;
}

std::optional<Message> read_body(MessageType type, Reader& r) {
  switch (type) {
    case MessageType::kPing: {
      Ping m;
      m.seq = r.u32_varint();
      m.target = r.id();
      return m;
    }
    case MessageType::kPingReq: return read_ping_req(r);
    case MessageType::kAck: return Ack{r.u32_varint()};
    case MessageType::kNack: return Nack{r.u32_varint()};
    case MessageType::kAlive: return read_alive(r);
    case MessageType::kSuspect: return read_accusation<Suspect>(r);
    case MessageType::kDead: return read_accusation<Dead>(r);
    case MessageType::kLeft: {
      Left m;
      m.incarnation = r.varint();
      m.id = r.id();
      return m;
    }
    case MessageType::kPushPull: return read_push_pull(r);
    case MessageType::kJoin: return Join{};
    case MessageType::kStateDigest: return read_state_digest(r);
    case MessageType::kChallenge: return Challenge{r.u64()};
    case MessageType::kChallengeResponse: return ChallengeResponse{r.u64()};
  }
  return std::nullopt;  // unknown type: skipped by the caller
}

}  // namespace

std::size_t varint_size(std::uint64_t value) {
  if (value < (1u << 6)) return 1;
  if (value < (1u << 14)) return 2;
  if (value < (1u << 30)) return 4;
  return 8;
}

void append_varint(Buffer& out, std::uint64_t value) {
  if (value > kMaxVarint) value = kMaxVarint;  // callers never exceed it; clamp, never UB
  const std::size_t n = varint_size(value);
  const std::uint8_t prefix = n == 1 ? 0x00 : n == 2 ? 0x40 : n == 4 ? 0x80 : 0xc0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint8_t b = static_cast<std::uint8_t>(value >> (8 * (n - 1 - i)));
    if (i == 0) b = static_cast<std::uint8_t>(b | prefix);
    out.push_back(static_cast<std::byte>(b));
  }
}

std::size_t tags_bytes(const Tags& tags) {
  std::size_t total = 0;
  for (const auto& [k, v] : tags) total += k.size() + v.size();
  return total;
}

Buffer encode_message(const Message& message) {
  Buffer body;
  Writer bw(body);
  write_body(bw, message);
  Buffer out;
  out.reserve(body.size() + 5);
  Writer w(out);
  w.u8(static_cast<std::uint8_t>(type_of(message)));
  w.varint(body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Buffer encode_state_entry(const StateEntry& entry) {
  Buffer out;
  Writer w(out);
  write_entry(w, entry);
  return out;
}

std::size_t envelope_overhead(std::size_t sender_id_bytes) {
  return 1 + varint_size(sender_id_bytes) + sender_id_bytes + 8 + 8 + 2;
}

Buffer encode_packet(const Envelope& envelope, std::span<const Buffer> framed_messages) {
  Buffer out;
  std::size_t total = envelope_overhead(envelope.sender.size());
  for (const auto& m : framed_messages) total += m.size();
  out.reserve(total);
  Writer w(out);
  w.u8(kFormatVersion);
  w.str(envelope.sender);
  w.u64(envelope.boot_id);
  w.varint(envelope.seq);
  w.varint(framed_messages.size());
  for (const auto& m : framed_messages) out.insert(out.end(), m.begin(), m.end());
  return out;
}

DecodeResult decode_packet(std::span<const std::byte> plaintext, std::size_t max_messages) {
  DecodeResult result;
  const auto malformed = [&] {
    result.error = DecodeError::kMalformed;
    result.packet = {};
    return result;
  };
  Reader r(plaintext);
  if (r.u8() != kFormatVersion) return malformed();
  result.packet.envelope.sender = r.id();
  result.packet.envelope.boot_id = r.u64();
  result.packet.envelope.seq = r.varint();
  const std::uint64_t count = r.varint();
  if (!r.ok() || count == 0) return malformed();
  if (count > max_messages) {
    result.error = DecodeError::kTooManyMessages;
    result.packet = {};
    return result;
  }
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint8_t type = r.u8();
    const std::uint64_t length = r.varint();
    if (!r.ok() || length > r.remaining()) return malformed();
    Reader body(r.take(static_cast<std::size_t>(length)));
    if (type == 0 || type > static_cast<std::uint8_t>(MessageType::kChallengeResponse)) {
      ++result.skipped_unknown;
      continue;
    }
    auto message = read_body(static_cast<MessageType>(type), body);
    if (!body.ok() || !message) return malformed();
    result.packet.messages.push_back(std::move(*message));
  }
  if (!r.empty()) return malformed();  // bytes after the last message
  return result;
}

bool operator==(const Ping& a, const Ping& b) { return a.seq == b.seq && a.target == b.target; }
bool operator==(const PingReq& a, const PingReq& b) {
  return a.seq == b.seq && a.target == b.target && a.target_address == b.target_address &&
         a.want_nack == b.want_nack;
}
bool operator==(const Ack& a, const Ack& b) { return a.seq == b.seq; }
bool operator==(const Nack& a, const Nack& b) { return a.seq == b.seq; }
bool operator==(const Alive& a, const Alive& b) {
  return a.incarnation == b.incarnation && a.id == b.id && a.address == b.address && a.tags == b.tags;
}
bool operator==(const Suspect& a, const Suspect& b) {
  return a.incarnation == b.incarnation && a.id == b.id && a.from == b.from;
}
bool operator==(const Dead& a, const Dead& b) {
  return a.incarnation == b.incarnation && a.id == b.id && a.from == b.from;
}
bool operator==(const Left& a, const Left& b) { return a.incarnation == b.incarnation && a.id == b.id; }
bool operator==(const StateEntry& a, const StateEntry& b) {
  return a.id == b.id && a.address == b.address && a.incarnation == b.incarnation &&
         a.state == b.state && a.tags == b.tags;
}
bool operator==(const PushPull& a, const PushPull& b) {
  return a.flags == b.flags && a.exchange == b.exchange && a.chunk == b.chunk &&
         a.chunks == b.chunks && a.entries == b.entries;
}
bool operator==(const Join&, const Join&) { return true; }
bool operator==(const StateDigest& a, const StateDigest& b) {
  return a.flags == b.flags && a.exchange == b.exchange && a.buckets == b.buckets;
}
bool operator==(const Challenge& a, const Challenge& b) { return a.token == b.token; }
bool operator==(const ChallengeResponse& a, const ChallengeResponse& b) { return a.token == b.token; }

std::size_t digest_bucket(std::string_view member_id, std::size_t bucket_count) {
  if (bucket_count <= 1) return 0;
  return static_cast<std::size_t>(rpcnet::fnv1a64(std::as_bytes(std::span(member_id))) % bucket_count);
}

// mix64 on top of FNV: FNV alone changes few high bits for a change in the last bytes, and
// bucket hashes are sums, so each term must look random for differences not to cancel.
std::uint64_t digest_entry_hash(const StateEntry& entry) { return rpcnet::mix64(rpcnet::fnv1a64(encode_state_entry(entry))); }

}  // namespace rpcnet::cluster::gossip

// libFuzzer target: the cluster gossip receive path.
//
// Input: one mode byte, then the payload.
//   mode % 3 == 0  plaintext decoder (gossip::decode_packet). Oracle: a decoded packet re-encodes
//                  to bytes that decode to the same packet.
//   mode % 3 == 1  open_packet with a fixed key at member "fuzz-target" (the payload is a sealed
//                  datagram), then decode. Oracle: whatever opens re-seals (addressed the same way)
//                  and opens to the same plaintext.
//   mode % 3 == 2  the payload is the plaintext of an *authenticated* peer: it is sealed with the
//                  cluster key (addressed to the core, or unaddressed when mode / 3 is odd) and
//                  fed to a fresh SwimCore (so every message handler sees hostile but authentic
//                  input), followed by timer steps. Oracles: every datagram the core emits is
//                  <= max_packet_bytes, opens with the key at one of the ids the core could have
//                  addressed and decodes cleanly; the member table stays within max_members.
#include <chrono>
#include <string>
#include <type_traits>
#include <variant>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "cluster/gossip_codec.h"
#include "cluster/packet_seal.h"
#include "cluster/swim_core.h"

namespace {

using namespace rpcnet::cluster;
using rpcnet::SocketAddress;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

Key fixed_key() {
  Key k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(0xa5 ^ i);
  return k;
}

const KeyRing& ring() {
  static const KeyRing r = std::move(*KeyRing::create(fixed_key()));
  return r;
}

bool same(const gossip::Packet& a, const gossip::Packet& b) {
  if (a.envelope.sender != b.envelope.sender || a.envelope.boot_id != b.envelope.boot_id ||
      a.envelope.seq != b.envelope.seq || a.messages.size() != b.messages.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.messages.size(); ++i) {
    if (!(a.messages[i] == b.messages[i])) return false;
  }
  return true;
}

void decode_and_reencode(std::span<const std::byte> plain) {
  const auto decoded = gossip::decode_packet(plain, 64);
  if (decoded.error != gossip::DecodeError::kNone) {
    check(decoded.packet.messages.empty());
    return;
  }
  // Only unknown (skipped) messages: valid, but there is nothing to re-encode (count >= 1).
  if (decoded.packet.messages.empty()) return;
  std::vector<gossip::Buffer> framed;
  for (const auto& m : decoded.packet.messages) framed.push_back(gossip::encode_message(m));
  const auto again = gossip::decode_packet(gossip::encode_packet(decoded.packet.envelope, framed), 64);
  check(again.error == gossip::DecodeError::kNone);
  check(same(again.packet, decoded.packet));
}

constexpr const char* kTarget = "fuzz-target";

NonceSequence& nonces() {
  static NonceSequence sequence(NonceSequence::Secret{});
  return sequence;
}

void open_path(std::span<const std::byte> sealed) {
  const auto opened = open_packet(ring(), kTarget, sealed);
  if (opened.error != OpenError::kNone) {
    check(opened.plaintext.empty());
    return;
  }
  const auto resealed = seal_packet(ring(), nonces(), opened.addressed ? kTarget : "", opened.plaintext);
  check(resealed.ok());
  const auto reopened = open_packet(ring(), kTarget, *resealed);
  check(reopened.error == OpenError::kNone && reopened.plaintext == opened.plaintext &&
        reopened.addressed == opened.addressed);
  decode_and_reencode(opened.plaintext);
}

// Every member id the input names: the core can only address packets to these (or to none).
std::vector<std::string> ids_named(std::span<const std::byte> plain) {
  std::vector<std::string> ids{""};
  const auto decoded = gossip::decode_packet(plain, 64);
  ids.push_back(decoded.packet.envelope.sender);
  for (const auto& message : decoded.packet.messages) {
    std::visit(
        [&](const auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (requires { m.target; }) ids.push_back(m.target);
          if constexpr (requires { m.id; }) ids.push_back(m.id);
          if constexpr (std::is_same_v<T, gossip::PushPull>) {
            for (const auto& e : m.entries) ids.push_back(e.id);
          }
        },
        message);
  }
  return ids;
}

void core_path(std::span<const std::byte> plain, bool addressed) {
  ClusterConfig config = ClusterConfig::Lan();
  config.node_id = kTarget;
  config.bind_address = SocketAddress(asio::ip::address_v4(0x0a000001), 7946);
  config.max_members = 32;
  const Time start = Time{} + std::chrono::hours(1);
  SwimCore core(config, ring(), CoreStart::simulated(42, start), start);
  const SocketAddress peer(asio::ip::address_v4(0x0a000002), 7946);
  const auto sealed = seal_packet(ring(), nonces(), addressed ? kTarget : "", plain);
  check(sealed.ok());
  if (sealed->size() > config.max_packet_bytes) return;
  core.on_datagram(peer, *sealed, start);
  core.on_datagram(peer, *sealed, start);  // the replay must be dropped, never re-applied
  const auto ids = ids_named(plain);
  Time now = start;
  for (int step = 0; step < 8; ++step) {
    while (auto d = core.poll_datagram()) {
      check(d->bytes.size() <= config.max_packet_bytes);
      Opened opened;
      opened.error = OpenError::kAuth;
      for (std::size_t i = 0; i < ids.size() && opened.error != OpenError::kNone; ++i) {
        opened = open_packet(ring(), ids[i], d->bytes);
      }
      check(opened.error == OpenError::kNone);
      check(gossip::decode_packet(opened.plaintext, config.max_messages_per_packet).error ==
            gossip::DecodeError::kNone);
    }
    while (core.poll_event()) {
    }
    check(core.members().size() <= config.max_members);
    now = std::max(now + std::chrono::milliseconds(250), core.next_deadline());
    core.on_timer(now);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 4096) return 0;
  const std::span<const std::byte> payload(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: decode_and_reencode(payload); break;
    case 1: open_path(payload); break;
    default: core_path(payload, (data[0] / 3) % 2 == 0); break;
  }
  return 0;
}

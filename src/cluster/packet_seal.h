// packet_seal.h — AES-256-GCM sealing of gossip packets (GnuTLS gnutls_aead_cipher_*).
//
// Sealed packet: u8 seal version (1) | u32 key id (big-endian, KeyRing::key_id) | 12-byte nonce |
// ciphertext | 16-byte tag. The 17-byte header is the AEAD additional data, so flipping the key
// id or version breaks authentication. Nonces are random (from the core's PRNG): 96 bits make a
// collision under one key negligible for far more packets than a key ever seals.
// Replay protection is not here: the sealed plaintext carries sender, boot id and sequence
// number (gossip_codec.h) and the core's ReplayGuard checks them after open().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rpcnet/cluster/key_ring.h"

namespace rpcnet::cluster {

class Prng;

inline constexpr std::uint8_t kSealVersion = 1;
inline constexpr std::size_t kSealHeaderBytes = 1 + 4 + 12;
inline constexpr std::size_t kSealTagBytes = 16;
inline constexpr std::size_t kSealOverhead = kSealHeaderBytes + kSealTagBytes;

// Seals `plaintext` with the ring's primary key. Empty result only if GnuTLS fails (never
// expected; the caller counts it as not sent).
std::vector<std::byte> seal_packet(const KeyRing& keys, Prng& rng, std::span<const std::byte> plaintext);

enum class OpenError : std::uint8_t { kNone, kMalformed /*too short, unknown version*/,
                                      kAuth /*no installed key opens it*/ };
struct Opened {
  OpenError error = OpenError::kNone;
  std::vector<std::byte> plaintext;
};
Opened open_packet(const KeyRing& keys, std::span<const std::byte> sealed);

}  // namespace rpcnet::cluster

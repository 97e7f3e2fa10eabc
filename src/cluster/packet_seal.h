// packet_seal.h — AES-256-GCM sealing of gossip packets (GnuTLS gnutls_aead_cipher_*).
//
// Sealed packet: u8 seal format | u32 key id (big-endian, KeyRing::key_id) | 12-byte nonce |
// ciphertext | 16-byte tag. Two formats:
//   2 addressed    the additional data is the 17-byte header followed by the recipient's node
//                  id, so a packet opens only at the member it was sent to: a copy captured on
//                  its way to C and replayed at B fails authentication there.
//   3 unaddressed  the additional data is the header alone. Only a join to a seed whose id the
//                  sender does not know yet goes out so; receivers accept nothing in it but the
//                  join itself (swim_core.cc).
// Flipping the format, key id or nonce breaks authentication.
//
// Nonces (NonceSequence): an 8-byte prefix followed by a 4-byte big-endian counter. A process
// starts from a 32-byte secret drawn from gnutls_rnd(GNUTLS_RND_NONCE); prefix k is the first 8
// bytes of HMAC-SHA-256(secret, k), and after 2^32 packets the sequence moves to prefix k+1, so
// no process ever repeats a nonce and no counter wraps. Two processes sharing the cluster key
// repeat a nonce only if they hold the same prefix: with q prefixes in use under one key over its
// lifetime (one per process start, plus one per 2^32 packets), the chance is at most q^2 / 2^65
// (doc/membership.md, "Threat model").
//
// Replay protection is not here: the sealed plaintext carries sender, boot id and sequence
// number (gossip_codec.h) and the core's ReplayGuard checks them after open().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "rpcnet/cluster/key_ring.h"
#include "rpcnet/result.h"

namespace rpcnet::cluster {

inline constexpr std::uint8_t kSealAddressed = 2;
inline constexpr std::uint8_t kSealUnaddressed = 3;
inline constexpr std::size_t kSealNonceBytes = 12;
inline constexpr std::size_t kSealHeaderBytes = 1 + 4 + kSealNonceBytes;
inline constexpr std::size_t kSealTagBytes = 16;
inline constexpr std::size_t kSealOverhead = kSealHeaderBytes + kSealTagBytes;

using Nonce = std::array<std::byte, kSealNonceBytes>;

class NonceSequence {
 public:
  using Secret = std::array<std::byte, 32>;
  static constexpr std::uint64_t kNoncesPerPrefix = std::uint64_t{1} << 32;

  // `secret` must be unpredictable and fresh per process (gnutls_rnd). `first_counter` lets a
  // test start near the end of a prefix; anything else starts at 0.
  explicit NonceSequence(const Secret& secret, std::uint64_t first_counter = 0);

  // Never the same value twice from one sequence.
  Nonce next();
  std::uint64_t prefixes_used() const { return prefix_index_ + 1; }

 private:
  void derive_prefix();

  Secret secret_;
  std::uint64_t prefix_index_ = 0;
  std::array<std::byte, 8> prefix_{};
  std::uint64_t counter_ = 0;
};

// Seals `plaintext` with the ring's primary key, addressed to `recipient_id` (the unaddressed
// format when it is empty). Errors: kInternal if GnuTLS fails (never expected).
Result<std::vector<std::byte>> seal_packet(const KeyRing& keys, NonceSequence& nonces,
                                           std::string_view recipient_id,
                                           std::span<const std::byte> plaintext);

enum class OpenError : std::uint8_t { kNone, kMalformed /*too short, unknown format*/,
                                      kAuth /*no installed key opens it for this recipient*/ };
struct Opened {
  OpenError error = OpenError::kNone;
  bool addressed = false;  // format 2: it was sealed for `self_id`
  std::vector<std::byte> plaintext;
};
// Opens a packet received by the member `self_id`.
Opened open_packet(const KeyRing& keys, std::string_view self_id, std::span<const std::byte> sealed);

}  // namespace rpcnet::cluster

// Peer certificate chains a TlsCredentials object has verified (a client its servers', a server
// requiring client certificates its clients'), so that the next handshake presenting the same
// chain skips verifying it again.
//
// Verifying a chain is X.509 path building plus a signature check per link: with the usual
// CA-signed P-256 certificate an ECDSA verification (about 120 µs in nettle on this project's
// machines) and the parsing around it. Skipping it took a new connection's connect + first call
// from 1,375 to 1,015 µs on loopback (doc/performance.md). Reconnecting to the same peer is the
// common case (pools, cluster members, reconnects after an idle close), and the answer to "does
// this exact chain lead to our trust anchors, for the purpose (and server name) we require"
// cannot change while the trust store, the requirements and the chain bytes stay the same —
// they do, for one TlsCredentials object (immutable; a rotated trust file yields new
// credentials, see client_credentials_cache.h) — and while the clock stays inside the chain's
// validity. The rest of the handshake is unchanged: every handshake still checks the peer's
// CertificateVerify signature, the proof that the peer holds the certificate's private key, so
// a peer replaying a remembered certificate without its key fails as before.
//
// An entry is keyed by the exact DER bytes of every certificate in the order sent, and lasts
// until the time it is remembered with or `ttl` after it was verified, whichever comes first.
// tls.cc remembers a chain until the earliest notAfter of its certificates and of the trust
// anchor that issued it (chain_expiry.h); `ttl` is a second bound, in case anything else
// that a full verification checks changes. Both are calendar time (a clock set back keeps
// entries longer). A handshake with a stapled OCSP response is always verified in full
// (tls.cc): the response is not part of the key. Bounded: when full, the entry that expires first goes; a chain of more than
// kMaxChainBytes (a peer may send extra certificates) is verified every time instead of held, so
// the cache holds at most capacity × 16 KiB. Only successes are stored.
// Thread-safe: the credentials, and so the cache, are shared by every connection built from
// them.
//
// Example:
//   VerifiedChainCache cache;
//   const auto now = VerifiedChainCache::Clock::now();
//   if (!cache.contains(chain, now)) {
//     if (!verify_in_full(chain)) return fail();
//     cache.remember(chain, not_after, now);
//   }
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/thread_annotations.h"

namespace rpcnet::quic {

class VerifiedChainCache {
 public:
  // Certificate validity is calendar time.
  using Clock = std::chrono::system_clock;
  static constexpr std::size_t kDefaultCapacity = 64;
  static constexpr Clock::duration kDefaultTtl = std::chrono::minutes(10);
  // Real chains are a few KiB (a P-256 leaf and its CA: about 1.2 KiB).
  static constexpr std::size_t kMaxChainBytes = 16 * 1024;

  explicit VerifiedChainCache(std::size_t capacity = kDefaultCapacity, Clock::duration ttl = kDefaultTtl);

  // The key for a chain: each certificate's DER bytes behind its length, so that no two
  // different chains share a key.
  static std::string key_of(const std::vector<std::string_view>& certificates_der);

  // True when `chain` (a key_of) was remembered and has not expired at `now`; an expired entry
  // is dropped.
  bool contains(std::string_view chain, Clock::time_point now);

  // Stores a chain verified in full at `now`, valid until `not_after` (the earliest notAfter of
  // its certificates). A chain already past `not_after`, or longer than kMaxChainBytes, is not
  // stored.
  void remember(std::string chain, Clock::time_point not_after, Clock::time_point now);

  std::size_t size() const;

 private:
  struct Entry {
    std::string chain;
    Clock::time_point expires;
  };

  const std::size_t capacity_;
  const Clock::duration ttl_;
  mutable Mutex mutex_;
  std::vector<Entry> entries_ RPCNET_GUARDED_BY(mutex_);
};

}  // namespace rpcnet::quic

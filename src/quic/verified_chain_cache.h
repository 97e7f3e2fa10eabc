// Server certificate chains a client's credentials have verified, so that the next connection
// presenting the same chain skips verifying it again.
//
// Verifying a chain is X.509 path building plus one signature check per link: with the usual
// CA-signed P-256 certificate, an ECDSA verification (about 120 µs with nettle on this project's
// machines), a quarter of a full handshake's client crypto. Reconnecting to the same server is
// the common case (pools, cluster clients, reconnects after an idle close), and the answer to
// "does this exact chain lead to our trust anchors, for our server name and the serverAuth
// purpose" cannot change while the trust store, the name and the chain bytes stay the same —
// they do, for one TlsCredentials object (immutable; a rotated trust file yields new
// credentials, see client_credentials_cache.h) — and while the clock stays inside the chain's
// validity. The handshake itself is unchanged: TLS 1.3 still checks the server's
// CertificateVerify signature, the proof that the server holds the certificate's private key,
// before any chain verification runs, so a peer replaying a remembered certificate without
// its key fails as before.
//
// An entry is keyed by the exact DER bytes of every certificate in the order sent, and lasts
// until the earliest notAfter of the chain or `ttl` after it was verified, whichever comes
// first. Bounded: when full, the entry that expires first goes. Only successes are stored.
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

  explicit VerifiedChainCache(std::size_t capacity = kDefaultCapacity, Clock::duration ttl = kDefaultTtl);

  // The key for a chain: each certificate's DER bytes behind its length, so that no two
  // different chains share a key.
  static std::string key_of(const std::vector<std::string_view>& certificates_der);

  // True when `chain` (a key_of) was remembered and has not expired at `now`; an expired entry
  // is dropped.
  bool contains(std::string_view chain, Clock::time_point now);

  // Stores a chain verified in full at `now`, valid until `not_after` (the earliest notAfter of
  // its certificates). A chain already past `not_after` is not stored.
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

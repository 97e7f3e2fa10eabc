// Admission control for a server's new connections: how many may be open, how many may be in
// their handshake, when a client must first prove its address with a Retry round trip, and how
// fast one source address may start handshakes. Shared by every event loop of one server
// (thread-safe); consulted only for Initial packets that would create a connection, so the data
// path never touches its lock. Sans-I/O: time is a parameter.
//
//   decide()  in this order:
//     connections open >= max_connections                  -> kRefuseConnections
//     no valid Retry token and handshakes >= retry_threshold -> kRetry (costs us no TLS work)
//     handshakes in progress >= max_handshakes              -> kRefuseHandshakes
//     handshakes >= retry_threshold (under pressure) and
//       the source's token bucket is empty                  -> kRefuseSourceRate
//     otherwise                                             -> kAccept (counted at once)
//
// The per-source rate applies only under pressure: a client opening connections in bulk on an
// idle server (a connection pool, a benchmark) is never throttled, while during a flood no one
// source can take more than its share.
//
// The source-rate table holds at most `tracked_sources` addresses; when it is full of active
// sources a new one is admitted untracked (fail open) — the handshake cap still bounds the work.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "rpcnet/thread_annotations.h"
#include "quic/transport_settings.h"
#include "runtime/keyed_hash.h"

namespace rpcnet::quic {

class Admission {
 public:
  enum class Decision : std::uint8_t {
    kAccept,
    kRetry,
    kRefuseConnections,
    kRefuseHandshakes,
    kRefuseSourceRate,
  };

  Admission(AdmissionLimits limits, const runtime::SipKey& key);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // A new connection's first Initial from `source`. kAccept counts the connection and its
  // handshake at once; call on_handshake_ended / on_connection_finished (or, if creating the
  // connection failed, both) later.
  Decision decide(const sockaddr* source, bool address_validated, std::uint64_t now_ns);
  void on_handshake_ended();
  void on_connection_finished();

  std::size_t connections() const;
  std::size_t handshakes() const;
  std::size_t tracked_sources() const;
  const AdmissionLimits& limits() const noexcept { return limits_; }

 private:
  struct SourceKey {
    std::array<std::uint8_t, 9> bytes{};  // family, then the IPv4 address or the IPv6 /64
    friend bool operator==(const SourceKey&, const SourceKey&) = default;
  };
  struct SourceHash {
    runtime::SipKey key;
    std::size_t operator()(const SourceKey& source) const noexcept;
  };
  struct Bucket {
    double tokens = 0;
    std::uint64_t updated_ns = 0;
  };
  static SourceKey source_key(const sockaddr* source);
  double refilled(const Bucket& bucket, std::uint64_t now_ns) const;
  bool take_source_token(const sockaddr* source, std::uint64_t now_ns) RPCNET_REQUIRES(mutex_);

  const AdmissionLimits limits_;
  mutable Mutex mutex_;
  std::size_t connections_ RPCNET_GUARDED_BY(mutex_) = 0;
  std::size_t handshakes_ RPCNET_GUARDED_BY(mutex_) = 0;
  std::unordered_map<SourceKey, Bucket, SourceHash> sources_ RPCNET_GUARDED_BY(mutex_);
  std::uint64_t last_sweep_ns_ RPCNET_GUARDED_BY(mutex_) = 0;
};

}  // namespace rpcnet::quic

// Client TLS credentials shared by the connections that would build identical ones.
//
// Building client credentials reads and parses the trust file (and the client's certificate and
// key under mutual TLS): about 7 % of a new connection's client CPU on loopback, paid again by
// every RpcClient::connect to the same server with the same settings. The credentials are
// immutable once built, so connections may share them.
//
// An entry is keyed by every option (trust, identity, server name, ALPN, resumption key,
// groups) and SSLKEYLOGFILE's value, and stamped with each named file's identity (device, inode,
// size, modification and status-change times to the nanosecond; the status-change time moves on
// any write, even one that puts the modification time back, as `cp -p` does): a certificate
// rotated on disk yields fresh credentials at the next connect. A build that fails is not cached. Bounded: the least recently used entry goes.
// Thread-safe.
//
// Example:
//   auto credentials = ClientCredentialsCache::process().get(options);
//   if (!credentials) return std::move(credentials).error();
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quic/tls.h"
#include "rpcnet/result.h"
#include "rpcnet/thread_annotations.h"

namespace rpcnet::quic {

class ClientCredentialsCache {
 public:
  static constexpr std::size_t kDefaultCapacity = 32;

  // The process-wide cache RpcClient::connect uses.
  static ClientCredentialsCache& process();

  explicit ClientCredentialsCache(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // The credentials for `options`: shared when an entry with the same options and unchanged
  // files exists, built by TlsCredentials::for_client otherwise (and its errors returned).
  Result<std::shared_ptr<const TlsCredentials>> get(const ClientTlsOptions& options);

  std::size_t size() const;

 private:
  struct FileStamp {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::int64_t size = 0;
    std::int64_t modified_ns = 0;
    std::int64_t changed_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  struct Entry {
    std::string key;
    std::vector<FileStamp> stamps;
    std::shared_ptr<const TlsCredentials> credentials;
    std::uint64_t last_used = 0;
  };

  static std::string key_of(const ClientTlsOptions& options);
  // The stamps of the named files, in a fixed order; false if one cannot be read.
  static bool stamp_files(const ClientTlsOptions& options, std::vector<FileStamp>& stamps);

  const std::size_t capacity_;
  mutable Mutex mutex_;
  std::vector<Entry> entries_ RPCNET_GUARDED_BY(mutex_);
  std::uint64_t clock_ RPCNET_GUARDED_BY(mutex_) = 0;
};

}  // namespace rpcnet::quic

// Client-side TLS session tickets, so a reconnect to the same server resumes its session: no
// certificate chain to send, sign or verify, roughly half the handshake's CPU.
//
// Process-wide and thread-safe. Keyed by everything that identifies the peer and our trust in
// it (server name, address, trust and identity files), so a ticket is only offered to the server
// it came from, under the same verification rules. Bounded: the oldest entries are dropped.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rpcnet/thread_annotations.h"

namespace rpcnet::quic {

class SessionCache {
 public:
  static SessionCache& instance();

  void store(const std::string& key, std::vector<std::uint8_t> ticket);
  std::optional<std::vector<std::uint8_t>> find(const std::string& key) const;
  void clear();

 private:
  static constexpr std::size_t kMaxEntries = 1024;
  mutable Mutex mutex_;
  std::unordered_map<std::string, std::pair<std::uint64_t, std::vector<std::uint8_t>>> tickets_
      RPCNET_GUARDED_BY(mutex_);
  std::uint64_t clock_ RPCNET_GUARDED_BY(mutex_) = 0;  // insertion counter: evicts the oldest entry when full
};

}  // namespace rpcnet::quic

// Connection IDs as table keys, hashed with a secret key: a client chooses its first Destination
// Connection ID, and an unkeyed hash would let it aim every ID at one bucket.
//
// CidDirectory maps each connection ID a server issued (and each client-chosen first DCID it
// accepted) to the event loop that owns the connection. Loops consult it only for packets whose
// ID they do not know themselves, so a packet is forwarded to another loop only when that loop
// really has the connection — junk IDs cost a lookup, not a cross-thread hop. Thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "rpcnet/thread_annotations.h"
#include "runtime/keyed_hash.h"

namespace rpcnet::quic {

struct CidKey {
  std::uint8_t len = 0;
  std::array<std::uint8_t, 20> bytes{};

  static CidKey of(const std::uint8_t* cid, std::size_t len) noexcept {
    CidKey key;
    key.len = static_cast<std::uint8_t>(len < key.bytes.size() ? len : key.bytes.size());
    std::memcpy(key.bytes.data(), cid, key.len);
    return key;
  }
  friend bool operator==(const CidKey&, const CidKey&) = default;
};

struct CidHash {
  runtime::SipKey key;
  std::size_t operator()(const CidKey& cid) const noexcept {
    return static_cast<std::size_t>(runtime::siphash13(key, cid.bytes.data(), cid.len));
  }
};

class CidDirectory {
 public:
  explicit CidDirectory(const runtime::SipKey& key) : owners_(64, CidHash{key}) {}
  CidDirectory(const CidDirectory&) = delete;
  CidDirectory& operator=(const CidDirectory&) = delete;

  void add(const CidKey& cid, std::uint8_t loop) {
    MutexLock lock(mutex_);
    owners_[cid] = loop;
  }
  // Removes `cid` if `loop` still owns it.
  void remove(const CidKey& cid, std::uint8_t loop) {
    MutexLock lock(mutex_);
    auto it = owners_.find(cid);
    if (it != owners_.end() && it->second == loop) owners_.erase(it);
  }
  std::optional<std::uint8_t> owner(const CidKey& cid) const {
    MutexLock lock(mutex_);
    auto it = owners_.find(cid);
    if (it == owners_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable Mutex mutex_;
  std::unordered_map<CidKey, std::uint8_t, CidHash> owners_ RPCNET_GUARDED_BY(mutex_);
};

}  // namespace rpcnet::quic

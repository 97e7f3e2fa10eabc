// rpcnet/cluster/key_ring.h — the cluster's gossip keys (AES-256-GCM, 32 bytes each).
//
// Contract: packets are sealed with the primary key and opened with any installed key, so a key
// can be rotated without downtime:
//   1. add(new) on every node          (everyone can open packets sealed with `new`),
//   2. use(new) on every node          (everyone now seals with `new`; `old` still opens),
//   3. remove(old) on every node       (packets sealed with `old` are rejected from now on).
// A key is named on the wire by its id: the first 4 bytes (big-endian) of SHA-256(key). Keys are
// secrets: they are never logged, and a KeyRing has no printable form.
//
// Example:
//   #include <cstdlib>
//
//   #include "rpcnet/cluster/membership.h"
//
//   rpcnet::Result<rpcnet::cluster::ClusterMembership> start_member(
//       rpcnet::cluster::ClusterConfig config) {
//     const char* key = std::getenv("RPCNET_CLUSTER_KEY");  // base64 or hex
//     auto ring = rpcnet::cluster::KeyRing::from_text(key != nullptr ? key : "");
//     if (!ring) return ring.error();
//     return rpcnet::cluster::ClusterMembership::start(std::move(config), std::move(*ring));
//   }
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "rpcnet/cluster/member.h"
#include "rpcnet/result.h"

namespace rpcnet::cluster {

inline constexpr std::size_t kKeyBytes = 32;
using Key = std::array<std::byte, kKeyBytes>;

class KeyRing {
 public:
  // Errors: kConfig (kInvalidArgument) unless the key is exactly 32 bytes.
  static Result<KeyRing> create(std::span<const std::byte> primary_key);
  // Accepts 64 hex digits or the standard base64 of 32 bytes (44 characters, with padding);
  // surrounding whitespace is ignored. Errors: kConfig.
  static Result<KeyRing> from_text(std::string_view base64_or_hex);

  // Installs a key for opening (no-op if present). Errors: kConfig for a wrong size, or
  // kResourceExhausted beyond kMaxKeys.
  Status add(std::span<const std::byte> key);
  // Makes an installed key the primary. Errors: kNotFound if it is not installed.
  Status use(std::span<const std::byte> key);
  // Uninstalls a key. Errors: kFailedPrecondition for the primary, kNotFound if absent.
  Status remove(std::span<const std::byte> key);

  static constexpr std::size_t kMaxKeys = 16;

  // The key used to seal.
  const Key& primary() const noexcept { return keys_[primary_]; }
  // Every installed key, primary included, in installation order.
  std::span<const Key> keys() const noexcept { return keys_; }
  // key_id() of each key in keys(), same order (cached: ids are looked up per packet).
  std::span<const std::uint32_t> key_ids() const noexcept { return ids_; }
  std::uint32_t primary_id() const noexcept { return ids_[primary_]; }
  bool contains(std::span<const std::byte> key) const noexcept;
  // First 4 bytes of SHA-256(key), big-endian.
  static std::uint32_t key_id(const Key& key) noexcept;

 private:
  KeyRing() = default;
  std::vector<Key> keys_;
  std::vector<std::uint32_t> ids_;
  std::size_t primary_ = 0;
};

}  // namespace rpcnet::cluster

// KeyRing: installed AEAD keys, with one primary for sealing.
#include "rpcnet/cluster/key_ring.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <string>

namespace rpcnet::cluster {
namespace {

std::optional<Key> to_key(std::span<const std::byte> bytes) {
  if (bytes.size() != kKeyBytes) return std::nullopt;
  Key key;
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return key;
}

RpcError bad_size() { return RpcError::config("cluster key must be exactly 32 bytes"); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<Key> decode_hex(std::string_view text) {
  if (text.size() != 2 * kKeyBytes) return std::nullopt;
  Key key;
  for (std::size_t i = 0; i < kKeyBytes; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key[i] = static_cast<std::byte>(hi * 16 + lo);
  }
  return key;
}

// Standard base64 of exactly 32 bytes: 43 symbols and one '='.
std::optional<Key> decode_base64(std::string_view text) {
  if (text.size() != 44 || text[43] != '=') return std::nullopt;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t out = 0;
  Key key;
  for (std::size_t i = 0; i < 43; ++i) {
    const int v = base64_value(text[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out >= kKeyBytes) return std::nullopt;
      key[out++] = static_cast<std::byte>((acc >> bits) & 0xff);
    }
  }
  // 43 symbols = 258 bits: 256 bits of key and 2 bits that must be zero (canonical encoding).
  if (out != kKeyBytes || (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return key;
}

}  // namespace

Result<KeyRing> KeyRing::create(std::span<const std::byte> primary_key) {
  auto key = to_key(primary_key);
  if (!key) return bad_size();
  KeyRing ring;
  ring.keys_.push_back(*key);
  ring.ids_.push_back(key_id(*key));
  ring.primary_ = 0;
  return ring;
}

Result<KeyRing> KeyRing::from_text(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  std::optional<Key> key = decode_hex(text);
  if (!key) key = decode_base64(text);
  if (!key) {
    return RpcError::config("cluster key must be 64 hex digits or the base64 of 32 bytes");
  }
  return create(*key);
}

bool KeyRing::contains(std::span<const std::byte> bytes) const noexcept {
  const auto key = to_key(bytes);
  return key && std::find(keys_.begin(), keys_.end(), *key) != keys_.end();
}

Status KeyRing::add(std::span<const std::byte> bytes) {
  const auto key = to_key(bytes);
  if (!key) return bad_size();
  if (contains(bytes)) return ok();
  if (keys_.size() >= kMaxKeys) {
    return RpcError::status(StatusCode::kResourceExhausted, "key ring holds at most 16 keys");
  }
  keys_.push_back(*key);
  ids_.push_back(key_id(*key));
  return ok();
}

Status KeyRing::use(std::span<const std::byte> bytes) {
  const auto key = to_key(bytes);
  if (!key) return bad_size();
  const auto it = std::find(keys_.begin(), keys_.end(), *key);
  if (it == keys_.end()) return RpcError::status(StatusCode::kNotFound, "key is not installed");
  primary_ = static_cast<std::size_t>(it - keys_.begin());
  return ok();
}

Status KeyRing::remove(std::span<const std::byte> bytes) {
  const auto key = to_key(bytes);
  if (!key) return bad_size();
  const auto it = std::find(keys_.begin(), keys_.end(), *key);
  if (it == keys_.end()) return RpcError::status(StatusCode::kNotFound, "key is not installed");
  const auto index = static_cast<std::size_t>(it - keys_.begin());
  if (index == primary_) {
    return RpcError::status(StatusCode::kFailedPrecondition, "cannot remove the primary key");
  }
  ids_.erase(ids_.begin() + (it - keys_.begin()));
  keys_.erase(it);
  if (index < primary_) --primary_;
  return ok();
}

std::uint32_t KeyRing::key_id(const Key& key) noexcept {
  unsigned char digest[32] = {};
  // SHA-256 of a 32-byte buffer cannot fail short of a broken GnuTLS; on failure the id is
  // derived from the zero digest, which only costs a failed lookup, never a wrong key.
  (void)gnutls_hash_fast(GNUTLS_DIG_SHA256, key.data(), key.size(), digest);
  return (std::uint32_t{digest[0]} << 24) | (std::uint32_t{digest[1]} << 16) |
         (std::uint32_t{digest[2]} << 8) | std::uint32_t{digest[3]};
}

}  // namespace rpcnet::cluster

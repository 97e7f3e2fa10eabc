// AEAD sealing with GnuTLS. A cipher handle is created per operation: it keeps KeyRing a plain
// value and costs one AES key schedule, negligible next to a gossip packet's other work.
#include "cluster/packet_seal.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <array>

#include "cluster/prng.h"

namespace rpcnet::cluster {
namespace {

class Aead {
 public:
  explicit Aead(const Key& key) {
    gnutls_datum_t datum{const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(key.data())),
                         static_cast<unsigned>(key.size())};
    if (gnutls_aead_cipher_init(&handle_, GNUTLS_CIPHER_AES_256_GCM, &datum) < 0) handle_ = nullptr;
  }
  ~Aead() {
    if (handle_ != nullptr) gnutls_aead_cipher_deinit(handle_);
  }
  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;
  gnutls_aead_cipher_hd_t get() const { return handle_; }

 private:
  gnutls_aead_cipher_hd_t handle_ = nullptr;
};

void put_u32(std::byte* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::byte>(v >> (24 - 8 * i));
}

std::uint32_t get_u32(const std::byte* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | std::to_integer<std::uint32_t>(in[i]);
  return v;
}

}  // namespace

std::vector<std::byte> seal_packet(const KeyRing& keys, Prng& rng, std::span<const std::byte> plaintext) {
  const Key& key = keys.primary();
  std::vector<std::byte> out(kSealHeaderBytes + plaintext.size() + kSealTagBytes);
  out[0] = static_cast<std::byte>(kSealVersion);
  put_u32(out.data() + 1, keys.primary_id());
  rng.fill(std::span<std::byte>(out.data() + 5, 12));
  Aead aead(key);
  if (aead.get() == nullptr) return {};
  std::size_t out_len = out.size() - kSealHeaderBytes;
  const int rc = gnutls_aead_cipher_encrypt(aead.get(), out.data() + 5, 12, out.data(), kSealHeaderBytes,
                                            kSealTagBytes, plaintext.data(), plaintext.size(),
                                            out.data() + kSealHeaderBytes, &out_len);
  if (rc < 0 || out_len != plaintext.size() + kSealTagBytes) return {};
  return out;
}

Opened open_packet(const KeyRing& keys, std::span<const std::byte> sealed) {
  Opened result;
  if (sealed.size() < kSealOverhead ||
      std::to_integer<std::uint8_t>(sealed[0]) != kSealVersion) {
    result.error = OpenError::kMalformed;
    return result;
  }
  const std::uint32_t id = get_u32(sealed.data() + 1);
  const auto body = sealed.subspan(kSealHeaderBytes);
  const auto ids = keys.key_ids();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != id) continue;  // ids can collide: try every key that matches
    const Key& key = keys.keys()[i];
    Aead aead(key);
    if (aead.get() == nullptr) continue;
    std::vector<std::byte> plain(body.size());
    std::size_t plain_len = plain.size();
    const int rc = gnutls_aead_cipher_decrypt(aead.get(), sealed.data() + 5, 12, sealed.data(),
                                              kSealHeaderBytes, kSealTagBytes, body.data(),
                                              body.size(), plain.data(), &plain_len);
    if (rc >= 0 && plain_len + kSealTagBytes == body.size()) {
      plain.resize(plain_len);
      result.plaintext = std::move(plain);
      return result;
    }
  }
  result.error = OpenError::kAuth;
  return result;
}

}  // namespace rpcnet::cluster

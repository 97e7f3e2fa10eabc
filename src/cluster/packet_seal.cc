// AEAD sealing with GnuTLS. A cipher handle is created per operation: it keeps KeyRing a plain
// value and costs one AES key schedule, negligible next to a gossip packet's other work.
#include "cluster/packet_seal.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <algorithm>
#include <cstring>

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

void put_be(std::byte* out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<std::byte>(v >> (8 * (bytes - 1 - i)));
}

std::uint32_t get_u32(const std::byte* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | std::to_integer<std::uint32_t>(in[i]);
  return v;
}

// Header, then the recipient id when addressed: what the tag authenticates besides the body.
// On the stack: it is built for every packet in and out.
class AdditionalData {
 public:
  AdditionalData(std::span<const std::byte> header, std::string_view recipient)
      : size_(header.size() + std::min(recipient.size(), kMaxMemberIdBytes)) {
    std::memcpy(bytes_.data(), header.data(), header.size());
    std::memcpy(bytes_.data() + header.size(), recipient.data(), size_ - header.size());
  }
  const std::byte* data() const { return bytes_.data(); }
  std::size_t size() const { return size_; }

 private:
  std::array<std::byte, kSealHeaderBytes + kMaxMemberIdBytes> bytes_;
  std::size_t size_;
};

}  // namespace

NonceSequence::NonceSequence(const Secret& secret, std::uint64_t first_counter)
    : secret_(secret), counter_(first_counter % kNoncesPerPrefix) {
  derive_prefix();
}

void NonceSequence::derive_prefix() {
  std::byte index[8];
  put_be(index, prefix_index_, 8);
  std::array<std::byte, 32> mac{};
  // HMAC-SHA-256 cannot fail for these fixed sizes; were it to, the zero prefix still never
  // repeats within this process, which is the property the counter relies on.
  (void)gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret_.data(), secret_.size(), index, sizeof index, mac.data());
  std::memcpy(prefix_.data(), mac.data(), prefix_.size());
}

Nonce NonceSequence::next() {
  if (counter_ == kNoncesPerPrefix) {
    ++prefix_index_;
    counter_ = 0;
    derive_prefix();
  }
  Nonce nonce{};
  std::memcpy(nonce.data(), prefix_.data(), prefix_.size());
  put_be(nonce.data() + prefix_.size(), counter_++, 4);
  return nonce;
}

Result<std::vector<std::byte>> seal_packet(const KeyRing& keys, NonceSequence& nonces,
                                           std::string_view recipient_id,
                                           std::span<const std::byte> plaintext) {
  std::vector<std::byte> out(kSealHeaderBytes + plaintext.size() + kSealTagBytes);
  out[0] = static_cast<std::byte>(recipient_id.empty() ? kSealUnaddressed : kSealAddressed);
  put_be(out.data() + 1, keys.primary_id(), 4);
  const Nonce nonce = nonces.next();
  std::memcpy(out.data() + 5, nonce.data(), nonce.size());
  Aead aead(keys.primary());
  if (aead.get() == nullptr) return RpcError::status(StatusCode::kInternal, "AES-256-GCM unavailable");
  const AdditionalData ad(std::span(out.data(), kSealHeaderBytes), recipient_id);
  std::size_t out_len = out.size() - kSealHeaderBytes;
  const int rc = gnutls_aead_cipher_encrypt(aead.get(), nonce.data(), nonce.size(), ad.data(), ad.size(),
                                            kSealTagBytes, plaintext.data(), plaintext.size(),
                                            out.data() + kSealHeaderBytes, &out_len);
  if (rc < 0 || out_len != plaintext.size() + kSealTagBytes) {
    return RpcError::status(StatusCode::kInternal, "sealing failed");
  }
  return out;
}

Opened open_packet(const KeyRing& keys, std::string_view self_id, std::span<const std::byte> sealed) {
  Opened result;
  const auto format = sealed.empty() ? 0 : std::to_integer<std::uint8_t>(sealed[0]);
  if (sealed.size() < kSealOverhead || (format != kSealAddressed && format != kSealUnaddressed)) {
    result.error = OpenError::kMalformed;
    return result;
  }
  result.addressed = format == kSealAddressed;
  const std::uint32_t id = get_u32(sealed.data() + 1);
  const auto body = sealed.subspan(kSealHeaderBytes);
  const AdditionalData ad(sealed.first(kSealHeaderBytes), result.addressed ? self_id : "");
  const auto ids = keys.key_ids();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != id) continue;  // ids can collide: try every key that matches
    Aead aead(keys.keys()[i]);
    if (aead.get() == nullptr) continue;
    std::vector<std::byte> plain(body.size());
    std::size_t plain_len = plain.size();
    const int rc = gnutls_aead_cipher_decrypt(aead.get(), sealed.data() + 5, kSealNonceBytes, ad.data(),
                                              ad.size(), kSealTagBytes, body.data(), body.size(),
                                              plain.data(), &plain_len);
    if (rc >= 0 && plain_len + kSealTagBytes == body.size()) {
      plain.resize(plain_len);
      result.plaintext = std::move(plain);
      return result;
    }
  }
  result.error = OpenError::kAuth;
  result.addressed = false;
  return result;
}

}  // namespace rpcnet::cluster

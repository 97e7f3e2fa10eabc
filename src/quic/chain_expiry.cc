#include "quic/chain_expiry.h"

#include <ctime>

namespace rpcnet::quic {

namespace {

using TimePoint = VerifiedChainCache::Clock::time_point;

std::optional<TimePoint> not_after(gnutls_x509_crt_t crt) {
  const time_t expiry = gnutls_x509_crt_get_expiration_time(crt);
  if (expiry == static_cast<time_t>(-1)) return std::nullopt;
  return VerifiedChainCache::Clock::from_time_t(expiry);
}

// The notAfter of the trust anchor that issued `crt`; nullopt when `anchors` has none.
std::optional<TimePoint> issuer_not_after(gnutls_x509_trust_list_t anchors, gnutls_x509_crt_t crt) {
  if (anchors == nullptr) return std::nullopt;
  gnutls_x509_crt_t issuer = nullptr;
  // A copy: the list may be backed by a PKCS #11 store, whose certificates are not kept.
  if (gnutls_x509_trust_list_get_issuer(anchors, crt, &issuer, GNUTLS_TL_GET_COPY) != 0 || issuer == nullptr) {
    return std::nullopt;
  }
  const auto expiry = not_after(issuer);
  gnutls_x509_crt_deinit(issuer);
  return expiry;
}

}  // namespace

std::optional<TimePoint> chain_valid_until(const gnutls_datum_t* certs, unsigned count,
                                           gnutls_x509_trust_list_t anchors) {
  std::optional<TimePoint> earliest;
  const auto include = [&earliest](TimePoint at) {
    if (!earliest || at < *earliest) earliest = at;
  };
  for (unsigned i = 0; i < count; ++i) {
    gnutls_x509_crt_t crt = nullptr;
    if (gnutls_x509_crt_init(&crt) != 0) return std::nullopt;
    std::optional<TimePoint> expiry;
    if (gnutls_x509_crt_import(crt, &certs[i], GNUTLS_X509_FMT_DER) == 0) expiry = not_after(crt);
    if (expiry && i + 1 == count) {
      if (const auto anchor = issuer_not_after(anchors, crt)) include(*anchor);
    }
    gnutls_x509_crt_deinit(crt);
    if (!expiry) return std::nullopt;
    include(*expiry);
  }
  return earliest;
}

}  // namespace rpcnet::quic

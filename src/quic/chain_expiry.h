// When a verified peer certificate chain stops being valid, for VerifiedChainCache: the earliest
// notAfter of the certificates the peer sent and of the trust anchor that issued the last of
// them.
//
// The anchor counts because a full verification checks its validity too (GnuTLS checks the
// times of trusted certificates): a chain remembered past its CA's notAfter would be accepted
// from memory where verifying it again fails. An anchor the peer sends itself is counted as one
// of the peer's certificates.
//
// Example:
//   if (const auto until = chain_valid_until(certs, count, anchors)) {
//     cache.remember(std::move(key), *until, now);
//   }
#pragma once

#include <optional>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "quic/verified_chain_cache.h"

namespace rpcnet::quic {

// nullopt when a certificate does not parse (the chain is then not remembered). `anchors` may be
// null, or lack the issuer: then only the peer's certificates count.
std::optional<VerifiedChainCache::Clock::time_point> chain_valid_until(const gnutls_datum_t* certs,
                                                                       unsigned count,
                                                                       gnutls_x509_trust_list_t anchors);

}  // namespace rpcnet::quic

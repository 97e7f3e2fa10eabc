// The length of the connection IDs this library issues, and the randomness they are drawn from.
// One definition for the two places that depend on it: connections issue IDs of this length,
// and the server endpoint parses short-header packets by it (their DCID carries no length).
#pragma once

#include <gnutls/crypto.h>

#include <cstddef>
#include <cstdint>

namespace rpcnet::quic {

inline constexpr std::size_t kConnectionIdLength = 16;

// Unpredictable bytes for connection IDs, reset tokens and padding: GnuTLS's nonce generator,
// which never blocks and is reseeded from the kernel.
inline void random_nonce_bytes(std::uint8_t* out, std::size_t len) { gnutls_rnd(GNUTLS_RND_NONCE, out, len); }

}  // namespace rpcnet::quic

// Secrets a server endpoint keys its stateless mechanisms with.
//
//   stateless_reset  keys the stateless reset token of every connection ID the server issues
//                    (RFC 9000 §10.3). Derived from the server's private key, so a server that
//                    restarts with the same key can still reset connections of its previous
//                    incarnation: their clients fail in one round trip instead of waiting out the
//                    idle timeout. One-way (HMAC-SHA256), so tokens reveal nothing of the key.
//   token            keys Retry (address validation) tokens. Random per process: a Retry token
//                    lives for seconds, and a restart only costs such a client one more Retry.
//   cid_table        keys the hash of the connection-ID table, whose keys a client partly
//                    chooses (its first Destination Connection ID), so it cannot aim collisions.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "rpcnet/result.h"
#include "runtime/keyed_hash.h"

namespace rpcnet::quic {

struct ServerSecrets {
  std::array<std::uint8_t, 32> stateless_reset{};
  std::array<std::uint8_t, 32> token{};
  runtime::SipKey cid_table{};

  // Errors: kConfig when the key file cannot be read.
  static Result<ServerSecrets> derive(const std::string& private_key_path);
};

}  // namespace rpcnet::quic

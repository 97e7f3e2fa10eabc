#include "quic/server_secrets.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <fstream>
#include <iterator>
#include <vector>

namespace rpcnet::quic {

namespace {
constexpr char kStatelessResetLabel[] = "rpcnet/1 stateless reset secret";
}  // namespace

Result<ServerSecrets> ServerSecrets::derive(const std::string& private_key_path) {
  std::ifstream in(private_key_path, std::ios::binary);
  if (!in) return RpcError::config("private key \"" + private_key_path + "\": cannot be read");
  std::vector<char> key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (key.empty()) return RpcError::config("private key \"" + private_key_path + "\": empty");

  ServerSecrets secrets;
  const int rv = gnutls_hmac_fast(GNUTLS_MAC_SHA256, key.data(), key.size(), kStatelessResetLabel,
                                  sizeof kStatelessResetLabel - 1, secrets.stateless_reset.data());
  gnutls_memset(key.data(), 0, key.size());
  if (rv != 0) return RpcError::tls(std::string("HMAC-SHA256: ") + gnutls_strerror(rv));
  if (gnutls_rnd(GNUTLS_RND_KEY, secrets.token.data(), secrets.token.size()) != 0 ||
      gnutls_rnd(GNUTLS_RND_KEY, &secrets.cid_table, sizeof secrets.cid_table) != 0) {
    return RpcError::tls("cannot draw random server secrets");
  }
  return secrets;
}

}  // namespace rpcnet::quic

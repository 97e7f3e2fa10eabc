// GnuTLS glue for QUIC: credentials loaded once per endpoint (shared read-only by every
// connection and loop) and per-connection session setup. The only file besides connection.cc
// that knows GnuTLS.
//
// Security rules enforced here (see doc/protocol.md §2):
//   - TLS 1.3 only; ALPN "rpcnet/1" is mandatory: a ClientHello without it or with another
//     protocol fails the handshake (no_application_protocol).
//   - Clients always verify the server certificate chain and name (GnuTLS does not by default).
//   - A server configured with a client CA requires and verifies client certificates (mTLS).
#pragma once

#include <gnutls/gnutls.h>

#include <memory>
#include <string>

#include "rpcnet/result.h"

namespace rpcnet::quic {

inline constexpr char kAlpn[] = "rpcnet/1";

struct ServerTlsOptions {
  std::string cert_path;       // PEM certificate chain
  std::string key_path;        // PEM private key
  std::string client_ca_path;  // non-empty: require client certificates issued by this CA
};

struct ClientTlsOptions {
  std::string trust_path;   // PEM CA (or the server's own certificate) to verify the server with
  std::string cert_path;    // optional client certificate (mTLS)
  std::string key_path;     // its key
  std::string server_name;  // name to verify in the server certificate (DNS name or IP literal)
  std::string alpn = kAlpn; // tests may offer another protocol to check refusal
  // Non-empty: resume TLS sessions through SessionCache under this key (see session_cache.h).
  std::string resumption_key;
};

class TlsCredentials {
 public:
  // Errors: kConfig naming the file and GnuTLS's reason (missing, unreadable, bad key,
  // key not matching the certificate, no certificate in a trust file).
  static Result<std::shared_ptr<const TlsCredentials>> for_server(const ServerTlsOptions& options);
  static Result<std::shared_ptr<const TlsCredentials>> for_client(const ClientTlsOptions& options);
  ~TlsCredentials();
  TlsCredentials(const TlsCredentials&) = delete;
  TlsCredentials& operator=(const TlsCredentials&) = delete;

  // Creates a session configured for QUIC (ngtcp2_crypto_gnutls) with these credentials.
  // `conn_ref` must outlive the session. Errors: kTls.
  Result<gnutls_session_t> new_session(void* conn_ref) const;

  // Server: sends the session ticket a client needs to resume (after the handshake completed).
  static void send_session_ticket(gnutls_session_t session);
  static bool resumed(gnutls_session_t session);

 private:
  TlsCredentials() = default;

  bool server_ = false;
  bool require_client_cert_ = false;
  std::string server_name_;
  std::string alpn_;
  std::string resumption_key_;         // client: where tickets are cached; empty: no resumption
  gnutls_datum_t ticket_key_{};        // server: encrypts the tickets it issues
  gnutls_certificate_credentials_t credentials_ = nullptr;
  gnutls_priority_t priority_ = nullptr;
  // GnuTLS keeps a pointer to this array (it does not copy it): it must outlive every session.
  gnutls_typed_vdata_st verify_data_[2] = {};
  unsigned verify_elements_ = 0;
};

// A readable reason for a failed handshake on `session`, given the TLS alert ngtcp2 recorded.
std::string describe_handshake_failure(gnutls_session_t session, unsigned alert);

}  // namespace rpcnet::quic

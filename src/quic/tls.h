// GnuTLS glue for QUIC: credentials loaded once per endpoint (shared read-only by every
// connection and loop) and per-connection session setup. Only tls.cc and connection.cc know
// GnuTLS: this header names its handles by their opaque struct tags and includes no GnuTLS
// header, so the layers above (src/rpc, src/cluster) compile without one (a header fence in
// cmake/HeaderFence.cmake fails their build if one slips in).
//
// Security rules enforced here (see doc/protocol.md §2):
//   - TLS 1.3 only; ALPN "rpcnet/1" is mandatory: a ClientHello without it or with another
//     protocol fails the handshake (no_application_protocol).
//   - Clients always verify the server certificate chain and name (GnuTLS does not by default);
//     a chain the same credentials verified before passes from memory (verified_chain_cache.h).
//   - A server configured with a client CA requires and verifies client certificates (mTLS),
//     remembering verified chains the same way.
//   - SSLKEYLOGFILE, when set as credentials are made, gets every session's secrets (tls_log.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rpcnet/result.h"
#include "transport/call_stream.h"

// GnuTLS's handle types are pointers to these (gnutls_session_t, gnutls_certificate_credentials_t,
// gnutls_priority_t); naming the tags keeps <gnutls/gnutls.h> out of every includer.
struct gnutls_session_int;
struct gnutls_certificate_credentials_st;
struct gnutls_priority_st;

namespace rpcnet::quic {

inline constexpr char kAlpn[] = "rpcnet/1";

// TLS 1.3 key-exchange groups in order of preference, by GnuTLS name (GROUP-<name> in a
// priority string): X25519, SECP256R1, SECP384R1.
inline const std::vector<std::string> kDefaultGroups = {"X25519", "SECP256R1", "SECP384R1"};

struct ServerTlsOptions {
  std::string cert_path;       // PEM certificate chain
  std::string key_path;        // PEM private key
  std::string client_ca_path;  // non-empty: require client certificates issued by this CA
  std::vector<std::string> groups = kDefaultGroups;
};

using transport::NegotiatedTls;

struct ClientTlsOptions {
  std::string trust_path;   // PEM CA (or the server's own certificate) to verify the server with
  std::string cert_path;    // optional client certificate (mTLS)
  std::string key_path;     // its key
  std::string server_name;  // name to verify in the server certificate (DNS name or IP literal)
  std::string alpn = kAlpn; // tests may offer another protocol to check refusal
  // Non-empty: resume TLS sessions through SessionCache under this key (see session_cache.h).
  std::string resumption_key;
  std::vector<std::string> groups = kDefaultGroups;
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
  Result<gnutls_session_int*> new_session(void* conn_ref) const;

  // Creates a session for TLS 1.3 over a byte stream (TCP; see tls_stream.h) with these
  // credentials: the same certificates, priorities, verification and key log as new_session,
  // with `alpn` as the one mandatory protocol, and none of the QUIC setup (no ngtcp2_crypto, no
  // transport parameters, no session tickets). `server` must match the side these credentials
  // were made for. The caller owns the session (gnutls_deinit) and sets its transport (push and
  // pull functions). Errors: kConfig for the wrong side or an empty or over-long `alpn`; kTls.
  Result<gnutls_session_int*> new_stream_session(bool server, const std::string& alpn) const;

  // The subject DN of the certificate the peer of `session` presented (RFC 4514 form, e.g.
  // "CN=client"); empty when it presented none.
  static std::string peer_certificate_subject(gnutls_session_int* session);

  // Server: sends the session ticket a client needs to resume (after the handshake completed).
  static void send_session_ticket(gnutls_session_int* session);
  static bool resumed(gnutls_session_int* session);
  static NegotiatedTls negotiated(gnutls_session_int* session);

  // A readable reason for a failed handshake on `session` (one of these credentials'), given the
  // TLS alert ngtcp2 recorded: the alert, and what certificate verification found wrong.
  std::string describe_handshake_failure(gnutls_session_int* session, unsigned alert) const;

  // GnuTLS's verification status bits (gnutls_certificate_status_t) for the peer of `session`:
  // 0 when its certificate was not found wrong (or not verified yet).
  unsigned verification_status(gnutls_session_int* session) const;

  // Peer certificate chains (a client's server, a server's clients under mTLS) verified in full,
  // i.e. not answered by the chain cache (verified_chain_cache.h). For tests and diagnostics.
  std::uint64_t full_chain_verifications() const noexcept;

 private:
  // The members GnuTLS defines by value (the ticket key, the verification data); tls.cc only.
  struct ByValue;

  TlsCredentials();

  bool server_ = false;
  bool require_client_cert_ = false;
  bool key_log_ = false;  // SSLKEYLOGFILE was set when these credentials were made
  std::string server_name_;
  std::string alpn_;
  gnutls_certificate_credentials_st* credentials_ = nullptr;
  gnutls_priority_st* priority_ = nullptr;
  std::unique_ptr<ByValue> by_value_;
};

}  // namespace rpcnet::quic

#include "quic/tls.h"

#include "quic/chain_expiry.h"
#include "quic/session_cache.h"
#include "quic/tls_log.h"
#include "quic/verified_chain_cache.h"

#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>
#include <vector>

namespace rpcnet::quic {

namespace {

// TLS 1.3 only, the AEADs QUIC defines, the key-exchange groups asked for (in their order); QUIC
// forbids the TLS 1.3 middlebox compatibility mode. Group names come from rpcnet's own list
// (transport_config.cc), never from a peer.
std::string priority_for(const std::vector<std::string>& groups) {
  std::string priority =
      "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
      "+AES-128-CCM:-GROUP-ALL:";
  for (const std::string& group : groups) priority += "+GROUP-" + group + ":";
  priority += "%DISABLE_TLS13_COMPAT_MODE";
  return priority;
}

Result<void> init_priority(gnutls_priority_t* priority, const std::vector<std::string>& groups) {
  if (groups.empty()) return RpcError::config("no TLS key-exchange group to offer");
  const char* error_at = nullptr;
  if (gnutls_priority_init(priority, priority_for(groups).c_str(), &error_at) != 0) {
    return RpcError::tls("cannot initialise GnuTLS priorities" +
                         std::string(error_at != nullptr ? std::string(" at \"") + error_at + "\"" : ""));
  }
  return {};
}

RpcError file_error(const std::string& what, const std::string& path, const std::string& why) {
  return RpcError::config(what + " \"" + path + "\": " + why);
}

// A clear message for files that are missing or unreadable, before GnuTLS's generic one.
Result<void> check_readable(const std::string& what, const std::string& path) {
  if (path.empty()) return RpcError::config(what + " path is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return file_error(what, path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return file_error(what, path, "not a regular file");
  std::ifstream in(path);
  if (!in) return file_error(what, path, "cannot be read");
  return {};
}

// Rejects a ClientHello that carried no ALPN: GNUTLS_ALPN_MANDATORY alone lets it through.
int require_alpn_hook(gnutls_session_t session, unsigned, unsigned when, unsigned, const gnutls_datum_t*) {
  if (when != GNUTLS_HOOK_POST) return 0;
  gnutls_datum_t selected{};
  if (gnutls_alpn_get_selected_protocol(session, &selected) != 0 ||
      selected.size != sizeof(kAlpn) - 1 || std::memcmp(selected.data, kAlpn, selected.size) != 0) {
    return GNUTLS_E_NO_APPLICATION_PROTOCOL;
  }
  return 0;
}

Result<void> load_key_pair(gnutls_certificate_credentials_t credentials, const std::string& cert,
                           const std::string& key) {
  RPCNET_TRY(check_readable("certificate", cert));
  RPCNET_TRY(check_readable("private key", key));
  const int rv = gnutls_certificate_set_x509_key_file(credentials, cert.c_str(), key.c_str(),
                                                      GNUTLS_X509_FMT_PEM);
  if (rv < 0) {
    return RpcError::config("certificate \"" + cert + "\" with key \"" + key +
                            "\": " + gnutls_strerror(rv));
  }
  return {};
}

Result<void> load_trust(gnutls_certificate_credentials_t credentials, const std::string& what,
                        const std::string& path) {
  RPCNET_TRY(check_readable(what, path));
  const int rv =
      gnutls_certificate_set_x509_trust_file(credentials, path.c_str(), GNUTLS_X509_FMT_PEM);
  if (rv < 0) return file_error(what, path, gnutls_strerror(rv));
  if (rv == 0) return file_error(what, path, "contains no PEM certificate");
  return {};
}

// What a session's callbacks need from its credentials, reached through the session's database
// pointer (GnuTLS uses it only for a server's session database, which rpcnet does not set up:
// resumption is by tickets). Lives as long as the credentials, which outlive their sessions.
struct PeerVerification {
  std::string resumption_key;  // client: where tickets are cached; empty: no resumption
  // What the peer's certificate must satisfy besides the chain: the serverAuth purpose and the
  // server name (client), or the clientAuth purpose (server requiring client certificates).
  // The name points into the credentials' server_name_.
  gnutls_typed_vdata_st verify_data[2] = {};
  unsigned verify_elements = 0;
  VerifiedChainCache verified_chains;
  std::atomic<std::uint64_t> full_verifications{0};
};

PeerVerification& peer_verification(gnutls_session_t session) {
  return *static_cast<PeerVerification*>(gnutls_db_get_ptr(session));
}

// Client: a NewSessionTicket arrived; keep the session data so the next connection resumes.
int store_ticket_hook(gnutls_session_t session, unsigned, unsigned when, unsigned,
                      const gnutls_datum_t*) {
  if (when != GNUTLS_HOOK_POST) return 0;
  const std::string& key = peer_verification(session).resumption_key;
  gnutls_datum_t data{};
  if (key.empty() || gnutls_session_get_data2(session, &data) != 0) return 0;
  SessionCache::instance().store(key, std::vector<std::uint8_t>(data.data, data.data + data.size));
  gnutls_free(data.data);
  return 0;
}

// The trust anchors `session`'s peer chain is verified against (its certificate credentials').
gnutls_x509_trust_list_t trust_anchors(gnutls_session_t session) {
  void* credentials = nullptr;
  if (gnutls_credentials_get(session, GNUTLS_CRD_CERTIFICATE, &credentials) != 0 || credentials == nullptr) {
    return nullptr;
  }
  gnutls_x509_trust_list_t anchors = nullptr;
  gnutls_certificate_get_trust_list(static_cast<gnutls_certificate_credentials_t>(credentials), &anchors);
  return anchors;
}

// The peer's certificate chain (a client checking its server, or a server requiring client
// certificates); GnuTLS checks the peer's CertificateVerify signature either way. A chain these
// credentials verified before (verified_chain_cache.h) passes from memory; any other is verified
// in full — chain, purpose, and a client's server name — and remembered when good, until the
// chain or its trust anchor expires (chain_expiry.h). A failure leaves the status to
// TlsCredentials::verification_status.
int verify_peer_chain(gnutls_session_t session) {
  PeerVerification& state = peer_verification(session);
  unsigned count = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &count);
  if (certs == nullptr || count == 0) return GNUTLS_E_CERTIFICATE_ERROR;
  std::vector<std::string_view> der;
  der.reserve(count);
  for (unsigned i = 0; i < count; ++i) der.emplace_back(reinterpret_cast<const char*>(certs[i].data), certs[i].size);
  std::string chain = VerifiedChainCache::key_of(der);
  const auto now = VerifiedChainCache::Clock::now();
  // A stapled OCSP response is part of what a full verification checks (a "revoked" answer
  // fails it) and not part of the key: such a handshake is always verified in full.
  gnutls_datum_t stapled{};
  const bool has_ocsp_response = gnutls_ocsp_status_request_get2(session, 0, &stapled) == 0;
  if (!has_ocsp_response && state.verified_chains.contains(chain, now)) return 0;
  state.full_verifications.fetch_add(1, std::memory_order_relaxed);
  unsigned status = 0;
  if (gnutls_certificate_verify_peers(session, state.verify_data, state.verify_elements, &status) < 0) {
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  if (status != 0) return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
  if (has_ocsp_response) return 0;
  if (const auto valid_until = chain_valid_until(certs, count, trust_anchors(session))) {
    state.verified_chains.remember(std::move(chain), *valid_until, now);
  }
  return 0;
}

// Stream sessions: rejects a ClientHello that carried no ALPN. The server offers exactly one
// protocol and GnuTLS selects only from the server's list, so any selection is that protocol.
int require_stream_alpn_hook(gnutls_session_t session, unsigned, unsigned when, unsigned,
                             const gnutls_datum_t*) {
  if (when != GNUTLS_HOOK_POST) return 0;
  gnutls_datum_t selected{};
  if (gnutls_alpn_get_selected_protocol(session, &selected) != 0 || selected.size == 0) {
    return GNUTLS_E_NO_APPLICATION_PROTOCOL;
  }
  return 0;
}

// SNI carries DNS names only; an IP literal is still verified against the certificate's IP
// subjectAltNames (the verification data, not SNI, does that).
void set_server_name_indication(gnutls_session_t session, const std::string& server_name) {
  const bool is_ip = server_name.find_first_not_of("0123456789.") == std::string::npos ||
                     server_name.find(':') != std::string::npos;
  if (!server_name.empty() && !is_ip) {
    gnutls_server_name_set(session, GNUTLS_NAME_DNS, server_name.data(), server_name.size());
  }
}

// GnuTLS stores a protocol name in a fixed 32-byte slot and refuses names that fill it (RFC 7301
// would allow 255 bytes); checked first so the error names the protocol.
constexpr std::size_t kMaxAlpnLength = 31;

}  // namespace

void TlsCredentials::send_session_ticket(gnutls_session_t session) {
  gnutls_session_ticket_send(session, 1, 0);
}

bool TlsCredentials::resumed(gnutls_session_t session) {
  return gnutls_session_is_resumed(session) != 0;
}

NegotiatedTls TlsCredentials::negotiated(gnutls_session_t session) {
  NegotiatedTls out;
  if (const char* suite = gnutls_ciphersuite_get(session); suite != nullptr) out.cipher_suite = suite;
  if (const char* group = gnutls_group_get_name(gnutls_group_get(session)); group != nullptr) {
    out.group = group;
  }
  return out;
}

struct TlsCredentials::ByValue {
  ByValue() = default;
  ByValue(const ByValue&) = delete;
  ByValue& operator=(const ByValue&) = delete;
  ~ByValue() {
    if (ticket_key.data != nullptr) {
      gnutls_memset(ticket_key.data, 0, ticket_key.size);
      gnutls_free(ticket_key.data);
    }
  }

  gnutls_datum_t ticket_key{};  // server: encrypts the tickets it issues
  PeerVerification peer;        // client, and a server requiring client certificates
};

TlsCredentials::TlsCredentials() : by_value_(std::make_unique<ByValue>()) {}

TlsCredentials::~TlsCredentials() {
  if (credentials_) gnutls_certificate_free_credentials(credentials_);
  if (priority_) gnutls_priority_deinit(priority_);
}

Result<std::shared_ptr<const TlsCredentials>> TlsCredentials::for_server(
    const ServerTlsOptions& options) {
  std::shared_ptr<TlsCredentials> tls(new TlsCredentials());
  tls->server_ = true;
  tls->key_log_ = !key_log_from_environment().empty();
  tls->alpn_ = kAlpn;
  if (gnutls_certificate_allocate_credentials(&tls->credentials_) != 0) {
    return RpcError::tls("cannot initialise GnuTLS");
  }
  RPCNET_TRY(init_priority(&tls->priority_, options.groups));
  if (auto r = load_key_pair(tls->credentials_, options.cert_path, options.key_path); !r) {
    return std::move(r).error();
  }
  if (gnutls_session_ticket_key_generate(&tls->by_value_->ticket_key) != 0) {
    return RpcError::tls("cannot generate a session ticket key");
  }
  if (!options.client_ca_path.empty()) {
    if (auto r = load_trust(tls->credentials_, "client CA", options.client_ca_path); !r) {
      return std::move(r).error();
    }
    tls->require_client_cert_ = true;
    // Require the clientAuth purpose: a server certificate from the same CA is no client ID.
    tls->by_value_->peer.verify_data[0] = {
        GNUTLS_DT_KEY_PURPOSE_OID, reinterpret_cast<unsigned char*>(const_cast<char*>(GNUTLS_KP_TLS_WWW_CLIENT)), 0};
    tls->by_value_->peer.verify_elements = 1;
  }
  return std::shared_ptr<const TlsCredentials>(std::move(tls));
}

Result<std::shared_ptr<const TlsCredentials>> TlsCredentials::for_client(
    const ClientTlsOptions& options) {
  std::shared_ptr<TlsCredentials> tls(new TlsCredentials());
  tls->server_ = false;
  tls->key_log_ = !key_log_from_environment().empty();
  tls->server_name_ = options.server_name;
  tls->alpn_ = options.alpn;
  PeerVerification& client = tls->by_value_->peer;
  client.resumption_key = options.resumption_key;
  client.verify_data[0] = {GNUTLS_DT_KEY_PURPOSE_OID,
                           reinterpret_cast<unsigned char*>(const_cast<char*>(GNUTLS_KP_TLS_WWW_SERVER)), 0};
  client.verify_data[1] = {GNUTLS_DT_DNS_HOSTNAME,
                           reinterpret_cast<unsigned char*>(tls->server_name_.data()), 0};
  client.verify_elements = tls->server_name_.empty() ? 1 : 2;
  if (gnutls_certificate_allocate_credentials(&tls->credentials_) != 0) {
    return RpcError::tls("cannot initialise GnuTLS");
  }
  RPCNET_TRY(init_priority(&tls->priority_, options.groups));
  if (auto r = load_trust(tls->credentials_, "trusted certificate", options.trust_path); !r) {
    return std::move(r).error();
  }
  if (!options.cert_path.empty() || !options.key_path.empty()) {
    if (auto r = load_key_pair(tls->credentials_, options.cert_path, options.key_path); !r) {
      return std::move(r).error();
    }
  }
  return std::shared_ptr<const TlsCredentials>(std::move(tls));
}

Result<gnutls_session_t> TlsCredentials::new_session(void* conn_ref) const {
  gnutls_session_t session = nullptr;
  const unsigned flags = (server_ ? GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET : GNUTLS_CLIENT) |
                         GNUTLS_NO_END_OF_EARLY_DATA;
  if (gnutls_init(&session, flags) != 0) return RpcError::tls("gnutls_init failed");
  const auto fail = [&](const char* what) -> Result<gnutls_session_t> {
    gnutls_deinit(session);
    return RpcError::tls(what);
  };
  const int configured = server_ ? ngtcp2_crypto_gnutls_configure_server_session(session)
                                 : ngtcp2_crypto_gnutls_configure_client_session(session);
  if (configured != 0) return fail("cannot configure the TLS session for QUIC");
  if (gnutls_priority_set(session, priority_) != 0) return fail("cannot set TLS priorities");
  if (gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, credentials_) != 0) {
    return fail("cannot set TLS credentials");
  }
  gnutls_session_set_ptr(session, conn_ref);
  sync_gnutls_log();
  if (key_log_) attach_key_log(session);

  gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>(alpn_.data())),
                      static_cast<unsigned>(alpn_.size())};
  if (server_) {
    gnutls_session_ticket_enable_server(session, &by_value_->ticket_key);
    gnutls_alpn_set_protocols(session, &alpn, 1,
                              GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE);
    gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST,
                                       require_alpn_hook);
    if (require_client_cert_) {
      gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
      gnutls_db_set_ptr(session, &by_value_->peer);
      gnutls_session_set_verify_function(session, verify_peer_chain);
    }
  } else {
    if (!alpn_.empty()) gnutls_alpn_set_protocols(session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    // SNI carries DNS names only; an IP literal is still verified against the certificate's
    // IP subjectAltNames.
    const bool is_ip = server_name_.find_first_not_of("0123456789.") == std::string::npos ||
                       server_name_.find(':') != std::string::npos;
    if (!server_name_.empty() && !is_ip) {
      gnutls_server_name_set(session, GNUTLS_NAME_DNS, server_name_.data(), server_name_.size());
    }
    // GnuTLS verifies nothing unless asked: chain, name and the serverAuth purpose.
    gnutls_db_set_ptr(session, &by_value_->peer);
    gnutls_session_set_verify_function(session, verify_peer_chain);
    const std::string& resumption_key = by_value_->peer.resumption_key;
    if (!resumption_key.empty()) {
      if (auto ticket = SessionCache::instance().find(resumption_key)) {
        gnutls_session_set_data(session, ticket->data(), ticket->size());
      }
      gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET,
                                         GNUTLS_HOOK_POST, store_ticket_hook);
    }
  }
  return session;
}

Result<gnutls_session_t> TlsCredentials::new_stream_session(bool server,
                                                            const std::string& alpn) const {
  if (server != server_) {
    return RpcError::config(server ? "a TLS server session needs server credentials (for_server)"
                                   : "a TLS client session needs client credentials (for_client)");
  }
  if (alpn.empty()) return RpcError::config("the ALPN protocol of a TLS stream session is empty");
  if (alpn.size() > kMaxAlpnLength) {
    return RpcError::config("ALPN protocol \"" + alpn + "\" is longer than " +
                            std::to_string(kMaxAlpnLength) + " bytes");
  }
  gnutls_session_t session = nullptr;
  // No tickets issued: stream sessions do not resume (yet). A client still accepts a ticket a
  // server sends, and drops it with the session.
  const unsigned flags =
      (server_ ? GNUTLS_SERVER | GNUTLS_NO_TICKETS : GNUTLS_CLIENT) | GNUTLS_NONBLOCK;
  if (gnutls_init(&session, flags) != 0) return RpcError::tls("gnutls_init failed");
  const auto fail = [&](const char* what) -> Result<gnutls_session_t> {
    gnutls_deinit(session);
    return RpcError::tls(what);
  };
  if (gnutls_priority_set(session, priority_) != 0) return fail("cannot set TLS priorities");
  if (gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, credentials_) != 0) {
    return fail("cannot set TLS credentials");
  }
  // The owner of the byte stream enforces the handshake deadline; GnuTLS's own wall-clock
  // timeout would fail a sans-I/O session between two calls.
  gnutls_handshake_set_timeout(session, 0);
  sync_gnutls_log();
  if (key_log_) attach_key_log(session);

  gnutls_datum_t protocol{reinterpret_cast<unsigned char*>(const_cast<char*>(alpn.data())),
                          static_cast<unsigned>(alpn.size())};
  if (server_) {
    if (gnutls_alpn_set_protocols(session, &protocol, 1,
                                  GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE) != 0) {
      return fail("cannot set the ALPN protocol");
    }
    gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST,
                                       require_stream_alpn_hook);
    if (require_client_cert_) {
      gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
      gnutls_db_set_ptr(session, &by_value_->peer);
      gnutls_session_set_verify_function(session, verify_peer_chain);
    }
  } else {
    if (gnutls_alpn_set_protocols(session, &protocol, 1, GNUTLS_ALPN_MANDATORY) != 0) {
      return fail("cannot set the ALPN protocol");
    }
    set_server_name_indication(session, server_name_);
    // GnuTLS verifies nothing unless asked: chain, name and the serverAuth purpose.
    gnutls_db_set_ptr(session, &by_value_->peer);
    gnutls_session_set_verify_function(session, verify_peer_chain);
  }
  return session;
}

std::string TlsCredentials::peer_certificate_subject(gnutls_session_t session) {
  unsigned count = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &count);
  if (certs == nullptr || count == 0) return {};
  gnutls_x509_crt_t crt = nullptr;
  if (gnutls_x509_crt_init(&crt) != 0) return {};
  std::string subject;
  gnutls_datum_t dn{};
  if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
      gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
    subject.assign(reinterpret_cast<const char*>(dn.data), dn.size);
    gnutls_free(dn.data);
  }
  gnutls_x509_crt_deinit(crt);
  return subject;
}

unsigned TlsCredentials::verification_status(gnutls_session_t session) const {
  // Peer chains are verified by verify_peer_chain, which GnuTLS gives no place to put the
  // status: ask again (a failed handshake keeps the peer's certificates).
  const PeerVerification& peer = by_value_->peer;
  unsigned status = 0;
  if (peer.verify_elements == 0 ||
      gnutls_certificate_verify_peers(session, const_cast<gnutls_typed_vdata_st*>(peer.verify_data),
                                      peer.verify_elements, &status) < 0) {
    return 0;
  }
  return status;
}

std::uint64_t TlsCredentials::full_chain_verifications() const noexcept {
  return by_value_->peer.full_verifications.load(std::memory_order_relaxed);
}

std::string TlsCredentials::describe_handshake_failure(gnutls_session_t session, unsigned alert) const {
  std::string out = "TLS handshake failed";
  if (alert != 0) {
    const char* name = gnutls_alert_get_name(static_cast<gnutls_alert_description_t>(alert));
    out += ": alert ";
    out += name ? name : std::to_string(alert);
  }
  const unsigned status = verification_status(session);
  if (status != 0) {
    gnutls_datum_t text{};
    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
      out += " (";
      out.append(reinterpret_cast<const char*>(text.data), text.size);
      out += ")";
      gnutls_free(text.data);
    }
  }
  return out;
}

}  // namespace rpcnet::quic

// TlsStreamSession: GnuTLS driven through memory transport callbacks. GnuTLS believes it talks
// to a non-blocking socket: pull() hands it the bytes of the current receive_ciphertext() call
// and answers EAGAIN when they run out, push() appends to the outgoing buffer and never blocks.
// So every GnuTLS call runs until it needs bytes that have not arrived, and GNUTLS_E_AGAIN means
// "wait for the peer" — except after a post-handshake message (NewSessionTicket, KeyUpdate),
// where GnuTLS returns it with bytes still unread: the loops below go on while bytes remain.
#include "quic/tls_stream.h"

#include <gnutls/gnutls.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace rpcnet::quic {

namespace {

// The most plaintext a TLS record carries (RFC 8446 §5.1).
constexpr std::size_t kMaxRecordPlaintext = 16384;

// Consecutive GnuTLS calls that neither consumed a byte nor produced one before a loop gives up:
// every legitimate non-final return (a warning alert, a post-handshake message) consumes input,
// so this only stops a GnuTLS that would otherwise spin.
constexpr int kMaxCallsWithoutProgress = 64;

// The alert the peer sent, e.g. "GNUTLS_A_BAD_CERTIFICATE (Certificate is bad)".
std::string received_alert(gnutls_session_t session) {
  const gnutls_alert_description_t alert = gnutls_alert_get(session);
  const char* code = gnutls_alert_get_strname(alert);
  const char* text = gnutls_alert_get_name(alert);
  std::string out = code != nullptr ? code : std::to_string(static_cast<int>(alert));
  if (text != nullptr) out += std::string(" (") + text + ")";
  return out;
}

// What the certificate verification found wrong (`status`: TlsCredentials::verification_status),
// in GnuTLS's words.
std::string describe_verification(unsigned status) {
  gnutls_datum_t text{};
  if (status == 0 ||
      gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) != 0) {
    return "unknown reason";
  }
  std::string out(reinterpret_cast<const char*>(text.data), text.size);
  gnutls_free(text.data);
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n')) out.pop_back();
  return out;
}

std::string selected_alpn(gnutls_session_t session) {
  gnutls_datum_t selected{};
  if (gnutls_alpn_get_selected_protocol(session, &selected) != 0) return {};
  return std::string(reinterpret_cast<const char*>(selected.data), selected.size);
}

}  // namespace

struct TlsStreamSession::Transport {
  static ssize_t push(gnutls_transport_ptr_t context, const void* data, std::size_t size) {
    auto* self = static_cast<TlsStreamSession*>(context);
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    self->outgoing_.insert(self->outgoing_.end(), bytes, bytes + size);
    return static_cast<ssize_t>(size);
  }

  static ssize_t pull(gnutls_transport_ptr_t context, void* data, std::size_t size) {
    auto* self = static_cast<TlsStreamSession*>(context);
    if (self->incoming_.empty()) return would_block(self);
    const std::size_t n = std::min(size, self->incoming_.size());
    std::memcpy(data, self->incoming_.data(), n);
    self->incoming_ = self->incoming_.subspan(n);
    return static_cast<ssize_t>(n);
  }

  // Only asked when a timeout is set (none is: see new_stream_session); answers without waiting.
  static int pull_timeout(gnutls_transport_ptr_t context, unsigned) {
    auto* self = static_cast<TlsStreamSession*>(context);
    if (self->incoming_.empty()) return static_cast<int>(would_block(self));
    return 1;
  }

  static ssize_t would_block(TlsStreamSession* self) {
    gnutls_transport_set_errno(self->session_, EAGAIN);
    return -1;
  }
};

Result<std::unique_ptr<TlsStreamSession>> TlsStreamSession::server(
    std::shared_ptr<const TlsCredentials> credentials, StreamTlsOptions options) {
  return make(std::move(credentials), std::move(options), true);
}

Result<std::unique_ptr<TlsStreamSession>> TlsStreamSession::client(
    std::shared_ptr<const TlsCredentials> credentials, StreamTlsOptions options) {
  return make(std::move(credentials), std::move(options), false);
}

Result<std::unique_ptr<TlsStreamSession>> TlsStreamSession::make(
    std::shared_ptr<const TlsCredentials> credentials, StreamTlsOptions options, bool server) {
  if (credentials == nullptr) return RpcError::config("a TLS stream session needs credentials");
  auto session = credentials->new_stream_session(server, options.alpn);
  if (!session) return std::move(session).error();
  return std::unique_ptr<TlsStreamSession>(
      new TlsStreamSession(std::move(credentials), std::move(options), server, *session));
}

TlsStreamSession::TlsStreamSession(std::shared_ptr<const TlsCredentials> credentials,
                                   StreamTlsOptions options, bool server,
                                   gnutls_session_t session)
    : credentials_(std::move(credentials)),
      options_(std::move(options)),
      server_(server),
      session_(session) {
  gnutls_transport_set_ptr(session_, this);
  gnutls_transport_set_push_function(session_, &Transport::push);
  gnutls_transport_set_pull_function(session_, &Transport::pull);
  gnutls_transport_set_pull_timeout_function(session_, &Transport::pull_timeout);
}

TlsStreamSession::~TlsStreamSession() { gnutls_deinit(session_); }

Result<void> TlsStreamSession::start() {
  if (failure_) return *failure_;
  if (server_ || handshake_complete_) return {};
  return continue_handshake();
}

Result<void> TlsStreamSession::receive_ciphertext(ByteView data) {
  if (failure_) return *failure_;
  if (peer_closed_) return {};
  incoming_ = data;
  Result<void> result = handshake_complete_ ? read_records() : continue_handshake();
  // Whatever is left follows a failure or the peer's close_notify: nothing to read it for.
  incoming_ = {};
  return result;
}

Result<void> TlsStreamSession::continue_handshake() {
  for (int idle_calls = 0; idle_calls < kMaxCallsWithoutProgress;) {
    const std::size_t unread = incoming_.size();
    const int rv = gnutls_handshake(session_);
    if (rv == GNUTLS_E_SUCCESS) return finish_handshake();
    if (gnutls_error_is_fatal(rv) != 0) return fail_on(rv);
    if (rv == GNUTLS_E_AGAIN && incoming_.empty()) return {};  // the peer's turn
    idle_calls = incoming_.size() < unread ? 0 : idle_calls + 1;
  }
  return fail("TLS handshake failed: GnuTLS made no progress on the bytes received");
}

Result<void> TlsStreamSession::finish_handshake() {
  // The server's hook refuses a ClientHello without the protocol; a client checks here that the
  // server selected it (GnuTLS lets a server that selects nothing through).
  if (selected_alpn(session_) != options_.alpn) return fail_on(GNUTLS_E_NO_APPLICATION_PROTOCOL);
  handshake_complete_ = true;
  if (closed_) {
    before_handshake_.clear();
    (void)gnutls_bye(session_, GNUTLS_SHUT_WR);
  } else if (!before_handshake_.empty()) {
    const Bytes held = std::exchange(before_handshake_, {});
    RPCNET_TRY(encrypt(held));
  }
  return read_records();
}

Result<void> TlsStreamSession::read_records() {
  std::array<std::uint8_t, kMaxRecordPlaintext> record;  // filled by GnuTLS: not initialised
  for (int idle_calls = 0; idle_calls < kMaxCallsWithoutProgress;) {
    const std::size_t unread = incoming_.size();
    const ssize_t rv = gnutls_record_recv(session_, record.data(), record.size());
    if (rv > 0) {
      plaintext_.insert(plaintext_.end(), record.begin(), record.begin() + rv);
      idle_calls = 0;
      continue;
    }
    if (rv == 0) {
      peer_closed_ = true;
      return {};
    }
    const int error = static_cast<int>(rv);
    // A TLS 1.3-only session never sees a real renegotiation request; like a warning alert it
    // is ignored (as GnuTLS allows), and reading goes on.
    const bool ignorable = error == GNUTLS_E_AGAIN || error == GNUTLS_E_INTERRUPTED ||
                           error == GNUTLS_E_REHANDSHAKE ||
                           error == GNUTLS_E_WARNING_ALERT_RECEIVED;
    if (!ignorable) return fail_on(error);
    const bool all_decrypted = incoming_.empty() && gnutls_record_check_pending(session_) == 0;
    if (error == GNUTLS_E_AGAIN && all_decrypted) return {};
    idle_calls = incoming_.size() < unread ? 0 : idle_calls + 1;
  }
  return fail("TLS session failed: GnuTLS made no progress on the bytes received");
}

Bytes TlsStreamSession::take_plaintext() { return std::exchange(plaintext_, {}); }

Result<void> TlsStreamSession::send_plaintext(ByteView data) {
  if (failure_) return *failure_;
  if (closed_) return RpcError::tls("TLS session closed: no more data can be sent");
  if (!handshake_complete_) {
    before_handshake_.insert(before_handshake_.end(), data.begin(), data.end());
    return {};
  }
  return encrypt(data);
}

Result<void> TlsStreamSession::encrypt(ByteView data) {
  while (!data.empty()) {
    const std::size_t size = std::min(data.size(), kMaxRecordPlaintext);
    const ssize_t rv = gnutls_record_send(session_, data.data(), size);
    // push() never blocks, so GnuTLS has no reason to stop short of an error.
    if (rv <= 0) return fail_on(rv == 0 ? GNUTLS_E_INTERNAL_ERROR : static_cast<int>(rv));
    data = data.subspan(static_cast<std::size_t>(rv));
  }
  return {};
}

void TlsStreamSession::take_ciphertext(Bytes& out) {
  if (out.empty()) {
    out.swap(outgoing_);
  } else {
    out.insert(out.end(), outgoing_.begin(), outgoing_.end());
  }
  outgoing_.clear();
}

void TlsStreamSession::close() {
  if (closed_ || failure_) return;
  closed_ = true;
  before_handshake_.clear();
  if (handshake_complete_) (void)gnutls_bye(session_, GNUTLS_SHUT_WR);
}

std::string TlsStreamSession::alpn() const {
  return handshake_complete_ ? selected_alpn(session_) : std::string();
}

std::string TlsStreamSession::peer_certificate_subject() const {
  if (!server_ || !handshake_complete_) return {};
  return TlsCredentials::peer_certificate_subject(session_);
}

NegotiatedTls TlsStreamSession::negotiated() const {
  return handshake_complete_ ? TlsCredentials::negotiated(session_) : NegotiatedTls{};
}

std::string TlsStreamSession::describe(int gnutls_error) const {
  std::string out = handshake_complete_ ? "TLS session failed: " : "TLS handshake failed: ";
  switch (gnutls_error) {
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
      return out + "the peer sent alert " + received_alert(session_);
    case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
      return out + (server_ ? "the client" : "the server") +
             " certificate failed verification: " + describe_verification(credentials_->verification_status(session_));
    case GNUTLS_E_NO_APPLICATION_PROTOCOL:
      return out + "no application protocol (ALPN) in common: the " +
             (server_ ? "client did not offer \"" : "server did not select \"") + options_.alpn +
             "\"";
    case GNUTLS_E_CERTIFICATE_REQUIRED:
    case GNUTLS_E_NO_CERTIFICATE_FOUND:
      if (server_) {
        return out + "the client sent no certificate, and one issued by the client CA is required";
      }
      break;
    default:
      break;
  }
  return out + gnutls_strerror(gnutls_error);
}

RpcError TlsStreamSession::fail_on(int gnutls_error) {
  std::string reason = describe(gnutls_error);
  // The peer learns why, unless it is the one that said so.
  if (gnutls_error != GNUTLS_E_FATAL_ALERT_RECEIVED) {
    (void)gnutls_alert_send_appropriate(session_, gnutls_error);
  }
  return fail(std::move(reason));
}

RpcError TlsStreamSession::fail(std::string reason) {
  failure_ = RpcError::tls(std::move(reason));
  before_handshake_.clear();
  return *failure_;
}

}  // namespace rpcnet::quic

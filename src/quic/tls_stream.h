// TLS 1.3 over a byte stream (TCP), sans I/O: the gRPC-compatible HTTP/2 listener speaks TLS on
// sockets that QUIC's ngtcp2 integration cannot drive, yet it must enforce the same rules with the
// same certificates. So a TlsStreamSession is made from the very TlsCredentials a QUIC endpoint
// loads (tls.h) and knows nothing of sockets, loops or time: the owner of the socket feeds it the
// bytes it reads, writes out what take_ciphertext() hands back, and keeps its own deadlines (no
// handshake timeout runs in here).
//
// Rules, the same as QUIC's (tls.h), except for the protocol:
//   - TLS 1.3 only, the credentials' priorities and key-exchange groups.
//   - ALPN is mandatory and exactly StreamTlsOptions::alpn ("h2" by default, never "rpcnet/1"):
//     a server refuses a ClientHello offering none or only others (no_application_protocol), and
//     a client fails when the server selected none.
//   - A client verifies the server's chain, name and serverAuth purpose; a server made with a
//     client CA requires and verifies a client certificate.
//   - SSLKEYLOGFILE, when set as the credentials were made, gets every session's secrets.
//   - No session tickets are issued and none are used to resume.
//
// Errors: every failure is kTls with a readable reason, and it is final: the session stays failed
// (every later call returns the same error), and take_ciphertext() may still hold the alert that
// tells the peer why: send it, then close the socket. Nothing a peer sends can make this class
// assert or crash.
//
// Memory: ciphertext in is handed to GnuTLS in the call that delivers it (GnuTLS buffers at most
// the incomplete record it is reading); decrypted plaintext accumulates until take_plaintext(),
// and ciphertext out until take_ciphertext(): callers bound those by taking them after each call
// (and by not reading the socket while they hold more than they want to).
//
// Not thread-safe: one owner (one event loop) uses a session.
//
// Example (fragment):
//   auto server = quic::TlsStreamSession::server(credentials);  // from TlsCredentials::for_server
//   RPCNET_TRY(server->receive_ciphertext(bytes_read));          // drives the handshake
//   server->take_ciphertext(to_write);                           // ServerHello ... Finished
//   if (server->handshake_complete()) h2.consume(server->take_plaintext());
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "quic/tls.h"
#include "rpcnet/bytes.h"
#include "rpcnet/result.h"

namespace rpcnet::quic {

struct StreamTlsOptions {
  std::string alpn = "h2";  // the one protocol offered (client) or accepted (server)
};

class TlsStreamSession {
 public:
  // `credentials` from TlsCredentials::for_server / for_client (the side must match). Shares
  // them with every other session and endpoint using them. Errors: kConfig for missing or
  // wrong-side credentials, an empty or over-long ALPN; kTls when GnuTLS cannot set up a session.
  static Result<std::unique_ptr<TlsStreamSession>> server(
      std::shared_ptr<const TlsCredentials> credentials, StreamTlsOptions options = {});
  static Result<std::unique_ptr<TlsStreamSession>> client(
      std::shared_ptr<const TlsCredentials> credentials, StreamTlsOptions options = {});
  ~TlsStreamSession();
  TlsStreamSession(const TlsStreamSession&) = delete;
  TlsStreamSession& operator=(const TlsStreamSession&) = delete;

  // Client: queues the ClientHello. Server: nothing to do (it waits for the ClientHello).
  Result<void> start();

  // Bytes read from the socket, in any chunking (a record may arrive a byte at a time). Drives
  // the handshake, then decrypts records into take_plaintext(); post-handshake messages
  // (NewSessionTicket, KeyUpdate) are handled in here, a KeyUpdate's answer queued as
  // ciphertext. Errors: kTls naming the reason: a malformed record or non-TLS bytes, an alert
  // received, a certificate that failed verification (and why), no ALPN protocol in common, a
  // client certificate missing. Bytes after the peer's close_notify are ignored.
  Result<void> receive_ciphertext(ByteView data);

  bool handshake_complete() const noexcept { return handshake_complete_; }

  // The plaintext decrypted since the last call, moved out (empty when none).
  Bytes take_plaintext();

  // Encrypts `data` as application data records (at most 16 KiB of plaintext each). Before the
  // handshake completes the data is held, in order, and encrypted the moment it completes (a
  // client may write its HTTP/2 preface right after start()); it is dropped if the handshake
  // fails. Errors: the session's failure, or kTls after close().
  Result<void> send_plaintext(ByteView data);

  // Appends the ciphertext waiting for the socket (handshake messages, records, alerts) to `out`.
  void take_ciphertext(Bytes& out);

  // Queues a close_notify (at once, or as soon as the handshake completes if it has not yet;
  // data held by send_plaintext before it is dropped) and refuses further send_plaintext.
  // Receiving goes on: the peer may still send until its own close_notify (TLS 1.3 half-close).
  // Nothing is sent on a failed session: its alert already says why.
  void close();

  // The peer's close_notify arrived: no more plaintext will come.
  bool peer_closed() const noexcept { return peer_closed_; }

  // The negotiated ALPN protocol; empty before the handshake completes.
  std::string alpn() const;

  // Server with a client CA: the subject DN of the client's certificate (e.g. "CN=client").
  // Empty before the handshake completes, on a client, and on a server without mTLS.
  std::string peer_certificate_subject() const;

  // Cipher suite and key-exchange group, once the handshake completed (empty before).
  NegotiatedTls negotiated() const;

 private:
  // GnuTLS's transport callbacks over the buffers below (tls_stream.cc): never blocking.
  struct Transport;

  TlsStreamSession(std::shared_ptr<const TlsCredentials> credentials, StreamTlsOptions options,
                   bool server, gnutls_session_int* session);
  static Result<std::unique_ptr<TlsStreamSession>> make(
      std::shared_ptr<const TlsCredentials> credentials, StreamTlsOptions options, bool server);

  Result<void> continue_handshake();
  Result<void> finish_handshake();
  Result<void> read_records();
  Result<void> encrypt(ByteView data);
  std::string describe(int gnutls_error) const;
  RpcError fail_on(int gnutls_error);
  RpcError fail(std::string reason);

  // Co-owned with the endpoint that made the credentials and every other session using them:
  // the GnuTLS session points into them (certificates, priorities, verification data).
  std::shared_ptr<const TlsCredentials> credentials_;
  StreamTlsOptions options_;
  bool server_;
  gnutls_session_int* session_;  // owned: gnutls_deinit in the destructor

  // The part of the current receive_ciphertext() argument GnuTLS has not pulled yet; empty
  // between calls (GnuTLS pulls until it runs dry, unless the session failed or the peer closed).
  ByteView incoming_;
  Bytes outgoing_;          // ciphertext for the socket, until take_ciphertext()
  Bytes plaintext_;         // decrypted, until take_plaintext()
  Bytes before_handshake_;  // send_plaintext() before the handshake completed
  std::optional<RpcError> failure_;  // set once: the session is dead
  bool handshake_complete_ = false;
  bool closed_ = false;       // close() called
  bool peer_closed_ = false;  // close_notify received
};

}  // namespace rpcnet::quic

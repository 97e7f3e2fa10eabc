// TlsStreamSession, a client and a server pumped back to back in memory: what the HTTP/2 listener
// relies on. The handshake agrees on "h2" with the credentials QUIC loads, application data
// survives any chunking of the byte stream, every refusal (protocol, chain, name, client
// certificate, non-TLS bytes) is a kTls error saying why, and close_notify reaches the peer.
// The last tests face a bare GnuTLS peer (BareGnutlsPeer), the only way to meet a peer that
// offers or selects no protocol, or sends a session ticket and a KeyUpdate.
#include <gmock/gmock.h>
#include <gnutls/gnutls.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "quic/tls.h"
#include "quic/tls_stream.h"
#include "rpcnet/certs.h"
#include "support/temp_certificates.h"
#include "support/error_matchers.h"

namespace rpcnet::quic {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using rpcnet::testing::ErrorIs;

constexpr char kClientName[] = "tls-stream-client";
constexpr std::size_t kMebibyte = 1024 * 1024;

// Two unrelated CAs, each with its server and client certificates; made once for the whole
// suite, removed when the process exits.
struct CertificateDirectory {
  testing::TempCertificateDirectory dir{"rpcnet-tls-stream"};
  DevCertificatePaths trusted = dir.make("trusted", kClientName);    // what the sessions use
  DevCertificatePaths stranger = dir.make("stranger", kClientName);  // nothing of it is trusted

  static const CertificateDirectory& get() {
    static const CertificateDirectory directory;
    return directory;
  }
};

const DevCertificatePaths& trusted() { return CertificateDirectory::get().trusted; }
const DevCertificatePaths& stranger() { return CertificateDirectory::get().stranger; }

std::shared_ptr<const TlsCredentials> server_credentials(const std::string& client_ca = "") {
  auto credentials = TlsCredentials::for_server({trusted().server_cert, trusted().server_key, client_ca});
  if (!credentials) throw std::runtime_error(credentials.error().to_string());
  return *credentials;
}

struct ClientSetup {
  std::string trust = trusted().ca_cert;
  std::string cert = "";  // client certificate (mTLS), none by default
  std::string key = "";
  std::string server_name = "localhost";
};

std::shared_ptr<const TlsCredentials> client_credentials(const ClientSetup& setup = {}) {
  ClientTlsOptions options;
  options.trust_path = setup.trust;
  options.cert_path = setup.cert;
  options.key_path = setup.key;
  options.server_name = setup.server_name;
  // options.alpn stays "rpcnet/1": a stream session must offer its own protocol instead.
  auto credentials = TlsCredentials::for_client(options);
  if (!credentials) throw std::runtime_error(credentials.error().to_string());
  return *credentials;
}

std::unique_ptr<TlsStreamSession> must(Result<std::unique_ptr<TlsStreamSession>> session) {
  if (!session) throw std::runtime_error(session.error().to_string());
  return std::move(session).value();
}

// A client and a server session wired back to back. pump() moves ciphertext both ways until
// neither side has any left to send, keeping each side's first error; a failed side's last
// words (its alert) still reach the other.
struct SessionPair {
  std::unique_ptr<TlsStreamSession> client;
  std::unique_ptr<TlsStreamSession> server;
  std::optional<RpcError> client_error;
  std::optional<RpcError> server_error;

  SessionPair(std::shared_ptr<const TlsCredentials> client_tls,
              std::shared_ptr<const TlsCredentials> server_tls, StreamTlsOptions client_options = {})
      : client(must(TlsStreamSession::client(std::move(client_tls), client_options))),
        server(must(TlsStreamSession::server(std::move(server_tls)))) {}

  static void deliver(TlsStreamSession& to, ByteView bytes, std::optional<RpcError>& error) {
    if (bytes.empty() || error) return;
    if (auto r = to.receive_ciphertext(bytes); !r) error = r.error();
  }

  void pump() {
    for (int round = 0; round < 20; ++round) {
      Bytes to_server;
      Bytes to_client;
      client->take_ciphertext(to_server);
      server->take_ciphertext(to_client);
      if (to_server.empty() && to_client.empty()) return;
      deliver(*server, to_server, server_error);
      deliver(*client, to_client, client_error);
    }
    ADD_FAILURE() << "the sessions were still exchanging bytes after 20 rounds";
  }

  void handshake() {
    if (auto r = client->start(); !r) client_error = r.error();
    pump();
  }
};

// Deterministic pseudo-random bytes: a lost, repeated or reordered byte shows in a comparison.
Bytes pattern(std::size_t size, std::uint32_t seed) {
  Bytes out(size);
  std::uint32_t state = seed;
  for (auto& byte : out) {
    state = state * 1664525u + 1013904223u;
    byte = static_cast<std::uint8_t>(state >> 24);
  }
  return out;
}

// Feeds `ciphertext` to `to` in chunks of 1, 7, 2, 13, ... bytes (cycling through sizes below,
// within and across record boundaries), taking the plaintext after every chunk.
Bytes deliver_in_odd_chunks(TlsStreamSession& to, const Bytes& ciphertext) {
  static constexpr std::size_t kSizes[] = {1, 7, 2, 13, 16384 + 5, 5000, 3, 40000, 1, 1, 1, 4, 999};
  Bytes plaintext;
  std::size_t offset = 0;
  for (std::size_t i = 0; offset < ciphertext.size(); ++i) {
    const std::size_t size = std::min(kSizes[i % std::size(kSizes)], ciphertext.size() - offset);
    auto received = to.receive_ciphertext(ByteView(ciphertext).subspan(offset, size));
    if (!received) {
      ADD_FAILURE() << "chunk at offset " << offset << ": " << received.error();
      break;
    }
    Bytes chunk = to.take_plaintext();
    plaintext.insert(plaintext.end(), chunk.begin(), chunk.end());
    offset += size;
  }
  return plaintext;
}

struct RecordShape {
  std::size_t count = 0;
  std::size_t largest = 0;
  bool all_application_data = true;
  bool well_formed = true;
};

// Walks TLS record headers (type, version, 16-bit length) over `ciphertext`.
RecordShape records_in(const Bytes& ciphertext) {
  RecordShape shape;
  std::size_t offset = 0;
  while (offset + 5 <= ciphertext.size()) {
    const std::size_t length = (std::size_t{ciphertext[offset + 3]} << 8) | ciphertext[offset + 4];
    shape.all_application_data = shape.all_application_data && ciphertext[offset] == 23;
    shape.largest = std::max(shape.largest, length);
    ++shape.count;
    offset += 5 + length;
  }
  shape.well_formed = offset == ciphertext.size();
  return shape;
}

TEST(TlsStreamSession, HandshakeAgreesOnH2AndAes128Gcm) {
  SessionPair pair(client_credentials(), server_credentials());
  EXPECT_FALSE(pair.client->handshake_complete());
  EXPECT_EQ(pair.client->alpn(), "");
  EXPECT_EQ(pair.client->negotiated().cipher_suite, "");

  pair.handshake();

  ASSERT_FALSE(pair.client_error) << *pair.client_error;
  ASSERT_FALSE(pair.server_error) << *pair.server_error;
  EXPECT_TRUE(pair.client->handshake_complete());
  EXPECT_TRUE(pair.server->handshake_complete());
  EXPECT_EQ(pair.client->alpn(), "h2");
  EXPECT_EQ(pair.server->alpn(), "h2");
  EXPECT_EQ(pair.client->negotiated().cipher_suite, "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(pair.server->negotiated().cipher_suite, "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(pair.server->negotiated().group, "X25519");
  EXPECT_EQ(pair.server->peer_certificate_subject(), "");  // no client CA: no client certificate
  EXPECT_FALSE(pair.client->peer_closed());
  EXPECT_FALSE(pair.server->peer_closed());
}

TEST(TlsStreamSession, ServerStartIsANoOpAndSendsNothing) {
  auto server = must(TlsStreamSession::server(server_credentials()));
  ASSERT_TRUE(server->start());
  Bytes out;
  server->take_ciphertext(out);
  EXPECT_THAT(out, IsEmpty());
}

TEST(TlsStreamSession, ApplicationDataCrossesInBothDirections) {
  SessionPair pair(client_credentials(), server_credentials());
  pair.handshake();
  ASSERT_TRUE(pair.server->handshake_complete());

  ASSERT_TRUE(pair.client->send_plaintext(to_bytes("ping from the client")));
  ASSERT_TRUE(pair.server->send_plaintext(to_bytes("pong from the server")));
  pair.pump();

  EXPECT_EQ(to_string(pair.server->take_plaintext()), "ping from the client");
  EXPECT_EQ(to_string(pair.client->take_plaintext()), "pong from the server");
  EXPECT_THAT(pair.server->take_plaintext(), IsEmpty());  // taken: nothing left behind
}

TEST(TlsStreamSession, PlaintextSentBeforeTheHandshakeFollowsIt) {
  SessionPair pair(client_credentials(), server_credentials());
  ASSERT_TRUE(pair.client->start());
  ASSERT_TRUE(pair.client->send_plaintext(to_bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")));
  ASSERT_TRUE(pair.client->send_plaintext(to_bytes("then SETTINGS")));
  pair.pump();

  ASSERT_TRUE(pair.server->handshake_complete());
  EXPECT_EQ(to_string(pair.server->take_plaintext()), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nthen SETTINGS");
}

TEST(TlsStreamSession, OneMebibyteArrivesIntactInOddSizedChunksBothWays) {
  SessionPair pair(client_credentials(), server_credentials());
  pair.handshake();
  ASSERT_TRUE(pair.server->handshake_complete());

  const Bytes upload = pattern(kMebibyte, 1);
  ASSERT_TRUE(pair.client->send_plaintext(upload));
  Bytes to_server;
  pair.client->take_ciphertext(to_server);
  // One call, 64 full records: 16384 bytes of plaintext, the content type and a 16-byte tag.
  const RecordShape shape = records_in(to_server);
  EXPECT_TRUE(shape.well_formed);
  EXPECT_TRUE(shape.all_application_data);
  EXPECT_EQ(shape.count, 64u);
  EXPECT_EQ(shape.largest, 16384u + 1 + 16);
  EXPECT_TRUE(deliver_in_odd_chunks(*pair.server, to_server) == upload);

  const Bytes download = pattern(kMebibyte + 3, 2);
  ASSERT_TRUE(pair.server->send_plaintext(download));
  Bytes to_client;
  pair.server->take_ciphertext(to_client);
  EXPECT_TRUE(deliver_in_odd_chunks(*pair.client, to_client) == download);
}

TEST(TlsStreamSession, ClientOfferingAnotherProtocolIsRefused) {
  SessionPair pair(client_credentials(), server_credentials(), StreamTlsOptions{.alpn = "http/1.1"});
  pair.handshake();

  ASSERT_THAT(pair.server_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(pair.server_error->message(), HasSubstr("client did not offer \"h2\""));
  ASSERT_THAT(pair.client_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(pair.client_error->message(), HasSubstr("alert GNUTLS_A_NO_APPLICATION_PROTOCOL"));
  EXPECT_FALSE(pair.server->handshake_complete());
  EXPECT_FALSE(pair.client->handshake_complete());
  EXPECT_EQ(pair.server->alpn(), "");
}

TEST(TlsStreamSession, ClientTrustingAnotherCaFailsVerification) {
  SessionPair pair(client_credentials({.trust = stranger().ca_cert}), server_credentials());
  pair.handshake();

  ASSERT_THAT(pair.client_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(pair.client_error->message(), HasSubstr("server certificate failed verification"));
  EXPECT_THAT(pair.client_error->message(), HasSubstr("issuer is unknown"));
  ASSERT_THAT(pair.server_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(pair.server_error->message(), HasSubstr("the peer sent alert GNUTLS_A_BAD_CERTIFICATE"));
  EXPECT_FALSE(pair.client->handshake_complete());
  EXPECT_FALSE(pair.server->handshake_complete());
}

TEST(TlsStreamSession, ClientRefusesAServerCertificateForAnotherName) {
  SessionPair pair(client_credentials({.server_name = "elsewhere.example"}), server_credentials());
  pair.handshake();

  ASSERT_THAT(pair.client_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(pair.client_error->message(), HasSubstr("server certificate failed verification"));
  EXPECT_THAT(pair.client_error->message(), HasSubstr("does not match"));
  EXPECT_FALSE(pair.client->handshake_complete());
}

// Credentials remember the chains they verified (quic/verified_chain_cache.h); another chain, or
// one that failed, is verified in full each time.
TEST(TlsStreamSession, ClientCredentialsVerifyAKnownServerChainFromMemory) {
  const auto client = client_credentials();
  for (int i = 0; i < 3; ++i) {
    SessionPair pair(client, server_credentials());
    pair.handshake();
    ASSERT_FALSE(pair.client_error) << *pair.client_error;
    EXPECT_TRUE(pair.client->handshake_complete());
  }
  EXPECT_EQ(client->full_chain_verifications(), 1u);

  // A server of another CA, after the known chain: verified in full, refused, not remembered.
  const auto stranger_server = TlsCredentials::for_server({stranger().server_cert, stranger().server_key, ""});
  ASSERT_TRUE(stranger_server) << stranger_server.error();
  for (int i = 0; i < 2; ++i) {
    SessionPair pair(client, *stranger_server);
    pair.handshake();
    ASSERT_THAT(pair.client_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
    EXPECT_THAT(pair.client_error->message(), HasSubstr("issuer is unknown"));
  }
  EXPECT_EQ(client->full_chain_verifications(), 3u);

  // The known chain still passes from memory.
  SessionPair again(client, server_credentials());
  again.handshake();
  EXPECT_FALSE(again.client_error);
  EXPECT_EQ(client->full_chain_verifications(), 3u);
}

// The memory is the credentials': other credentials (here naming another server) verify the
// same chain themselves, and refuse it.
TEST(TlsStreamSession, AChainRememberedByOneClientIsCheckedAgainByAnother) {
  const auto first = client_credentials();
  SessionPair known(first, server_credentials());
  known.handshake();
  ASSERT_FALSE(known.client_error) << *known.client_error;

  SessionPair other(client_credentials({.server_name = "elsewhere.example"}), server_credentials());
  other.handshake();
  ASSERT_THAT(other.client_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(other.client_error->message(), HasSubstr("does not match"));
}

TEST(TlsStreamSession, MutualTlsServerSeesTheClientCertificateSubject) {
  SessionPair pair(client_credentials({.cert = trusted().client_cert, .key = trusted().client_key}),
                   server_credentials(trusted().ca_cert));
  pair.handshake();

  ASSERT_FALSE(pair.client_error) << *pair.client_error;
  ASSERT_FALSE(pair.server_error) << *pair.server_error;
  EXPECT_TRUE(pair.server->handshake_complete());
  EXPECT_EQ(pair.server->peer_certificate_subject(), std::string("CN=") + kClientName);
  EXPECT_EQ(pair.client->peer_certificate_subject(), "");  // a server's identity is not asked for
}

TEST(TlsStreamSession, MutualTlsServerRefusesAClientWithoutCertificate) {
  SessionPair pair(client_credentials(), server_credentials(trusted().ca_cert));
  pair.handshake();

  ASSERT_THAT(pair.server_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(pair.server_error->message(), HasSubstr("the client sent no certificate"));
  EXPECT_FALSE(pair.server->handshake_complete());
  EXPECT_EQ(pair.server->peer_certificate_subject(), "");
  // TLS 1.3: the client finished its side before the server refused; the alert ends it.
  ASSERT_THAT(pair.client_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(pair.client_error->message(), HasSubstr("the peer sent alert GNUTLS_A_CERTIFICATE_REQUIRED"));
}

TEST(TlsStreamSession, MutualTlsServerRefusesAClientCertificateFromAnotherCa) {
  SessionPair pair(client_credentials({.cert = stranger().client_cert, .key = stranger().client_key}),
                   server_credentials(trusted().ca_cert));
  pair.handshake();

  ASSERT_THAT(pair.server_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(pair.server_error->message(), HasSubstr("client certificate failed verification"));
  EXPECT_THAT(pair.server_error->message(), HasSubstr("issuer is unknown"));
  EXPECT_FALSE(pair.server->handshake_complete());
}

// A server requiring client certificates remembers the client chains it verified, as clients
// do their servers': one full verification for three handshakes of the same client; a client
// of another CA is refused every time, a trusted server certificate presented as a client's is
// refused for its purpose.
TEST(TlsStreamSession, MutualTlsServerVerifiesAKnownClientChainFromMemory) {
  const auto server = server_credentials(trusted().ca_cert);
  const auto client = client_credentials({.cert = trusted().client_cert, .key = trusted().client_key});
  for (int i = 0; i < 3; ++i) {
    SessionPair pair(client, server);
    pair.handshake();
    ASSERT_FALSE(pair.server_error) << *pair.server_error;
    EXPECT_TRUE(pair.server->handshake_complete());
  }
  EXPECT_EQ(server->full_chain_verifications(), 1u);

  for (int i = 0; i < 2; ++i) {
    SessionPair pair(client_credentials({.cert = stranger().client_cert, .key = stranger().client_key}), server);
    pair.handshake();
    ASSERT_THAT(pair.server_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
    EXPECT_THAT(pair.server_error->message(), HasSubstr("issuer is unknown"));
  }
  SessionPair wrong_purpose(client_credentials({.cert = trusted().server_cert, .key = trusted().server_key}), server);
  wrong_purpose.handshake();
  ASSERT_THAT(wrong_purpose.server_error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(wrong_purpose.server_error->message(), HasSubstr("client certificate failed verification"));
  EXPECT_EQ(server->full_chain_verifications(), 4u);
}

TEST(TlsStreamSession, PlainHttpToAServerIsATlsErrorAndStaysOne) {
  auto server = must(TlsStreamSession::server(server_credentials()));
  auto first = server->receive_ciphertext(to_bytes("GET / HTTP/1.1\r\n\r\n"));
  ASSERT_THAT(first, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(first.error().message(), HasSubstr("TLS handshake failed"));
  EXPECT_FALSE(server->handshake_complete());
  EXPECT_THAT(server->take_plaintext(), IsEmpty());

  // Failed for good: the same error, whatever comes next, and nothing to send it with.
  EXPECT_EQ(server->receive_ciphertext(to_bytes("Host: x\r\n")).error(), first.error());
  EXPECT_EQ(server->send_plaintext(to_bytes("HTTP/1.1 400")).error(), first.error());
  server->close();
  Bytes out;
  server->take_ciphertext(out);
  // Only the alert that told the peer why, unencrypted: one record of type 21 (alert) holding
  // level 2 (fatal) and description 10 (unexpected_message).
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out[0], 21);
  EXPECT_EQ(out[5], 2);
  EXPECT_EQ(out[6], 10);
}

TEST(TlsStreamSession, MalformedRecordsAreTlsErrorsOnEitherSide) {
  const std::vector<Bytes> garbage = {
      Bytes{0x16, 0x03, 0x01, 0xff, 0xff},                   // a handshake record over the limit
      Bytes{0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00},  // an empty ClientHello
      Bytes{0x17, 0x03, 0x03, 0x00, 0x01, 0x00},             // application data before the handshake
      pattern(4096, 7),
  };
  for (const Bytes& bytes : garbage) {
    auto server = must(TlsStreamSession::server(server_credentials()));
    EXPECT_THAT(server->receive_ciphertext(bytes), ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable))
        << "first byte " << int{bytes[0]};
  }

  // After the handshake: a record the client never encrypted fails decryption.
  SessionPair pair(client_credentials(), server_credentials());
  pair.handshake();
  ASSERT_TRUE(pair.server->handshake_complete());
  Bytes forged = {0x17, 0x03, 0x03, 0x00, 0x20};
  const Bytes body = pattern(0x20, 9);
  forged.insert(forged.end(), body.begin(), body.end());
  auto received = pair.server->receive_ciphertext(forged);
  ASSERT_THAT(received, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(received.error().message(), HasSubstr("TLS session failed"));
}

TEST(TlsStreamSession, CloseNotifyReachesThePeerWhichMayStillSend) {
  SessionPair pair(client_credentials(), server_credentials());
  pair.handshake();
  ASSERT_TRUE(pair.server->handshake_complete());

  ASSERT_TRUE(pair.server->send_plaintext(to_bytes("last words")));
  pair.server->close();
  EXPECT_THAT(pair.server->send_plaintext(to_bytes("too late")),
              ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  pair.pump();
  EXPECT_EQ(to_string(pair.client->take_plaintext()), "last words");
  EXPECT_TRUE(pair.client->peer_closed());
  EXPECT_FALSE(pair.server->peer_closed());

  // Half-close: the client's direction is still open until it closes too.
  ASSERT_TRUE(pair.client->send_plaintext(to_bytes("acknowledged")));
  pair.client->close();
  pair.pump();
  EXPECT_EQ(to_string(pair.server->take_plaintext()), "acknowledged");
  EXPECT_TRUE(pair.server->peer_closed());
  EXPECT_FALSE(pair.client_error);
  EXPECT_FALSE(pair.server_error);
}

TEST(TlsStreamSession, CloseBeforeTheHandshakeSendsCloseNotifyOnceItCompletes) {
  SessionPair pair(client_credentials(), server_credentials());
  ASSERT_TRUE(pair.client->start());
  ASSERT_TRUE(pair.client->send_plaintext(to_bytes("dropped")));
  pair.client->close();
  pair.pump();

  EXPECT_TRUE(pair.server->handshake_complete());
  EXPECT_TRUE(pair.server->peer_closed());
  EXPECT_THAT(pair.server->take_plaintext(), IsEmpty());
}

TEST(TlsStreamSession, WrongSideOrMissingCredentialsOrAlpnAreConfigErrors) {
  const auto config_error = ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument);
  EXPECT_THAT(TlsStreamSession::server(client_credentials()), config_error);
  EXPECT_THAT(TlsStreamSession::client(server_credentials()), config_error);
  EXPECT_THAT(TlsStreamSession::server(nullptr), config_error);
  EXPECT_THAT(TlsStreamSession::server(server_credentials(), {.alpn = ""}), config_error);
  // GnuTLS holds at most 31 bytes of a protocol name.
  EXPECT_THAT(TlsStreamSession::client(client_credentials(), {.alpn = std::string(32, 'x')}),
              config_error);
  EXPECT_TRUE(TlsStreamSession::client(client_credentials(), {.alpn = std::string(31, 'x')}));
}

// Restores SSLKEYLOGFILE (set or not) as the test found it.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnvironment() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(TlsStreamSession, KeyLogGetsEachSideSecrets) {
  // A new file each run (--gtest_repeat): the process keeps the key log it opened for a path.
  static int run = 0;
  const std::filesystem::path path =
      CertificateDirectory::get().dir.root() / ("keys-" + std::to_string(++run) + ".log");
  std::shared_ptr<const TlsCredentials> client_tls;
  std::shared_ptr<const TlsCredentials> server_tls;
  {
    ScopedEnvironment key_log("SSLKEYLOGFILE", path.string());
    client_tls = client_credentials();
    server_tls = server_credentials();
  }
  SessionPair pair(client_tls, server_tls);
  pair.handshake();
  ASSERT_TRUE(pair.server->handshake_complete());

  std::ifstream in(path);
  std::string line;
  int traffic_secrets = 0;
  while (std::getline(in, line)) {
    if (line.rfind("CLIENT_TRAFFIC_SECRET_0 ", 0) == 0) ++traffic_secrets;
  }
  EXPECT_EQ(traffic_secrets, 2);  // one line from each side of the one session
}

// A bare GnuTLS peer over memory buffers: it can do what TlsStreamSession never does (offer or
// select no ALPN protocol; send a session ticket, a KeyUpdate asking the peer to update too).
class BareGnutlsPeer {
 public:
  enum class Side { kServer, kClient };

  // `alpn`: the one protocol offered or accepted; empty: no ALPN extension at all. A bare
  // client verifies nothing.
  // `server_key`: the key a server signs its CertificateVerify with; another than the trusted
  // server certificate's makes an impostor presenting that certificate.
  BareGnutlsPeer(Side side, const std::string& alpn, const std::string& server_key = trusted().server_key) {
    gnutls_certificate_allocate_credentials(&credentials_);
    unsigned flags = GNUTLS_NONBLOCK;
    if (side == Side::kServer) {
      gnutls_certificate_set_flags(credentials_, GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH);
      gnutls_certificate_set_x509_key_file(credentials_, trusted().server_cert.c_str(),
                                           server_key.c_str(), GNUTLS_X509_FMT_PEM);
      gnutls_session_ticket_key_generate(&ticket_key_);
      flags |= GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET;
    } else {
      flags |= GNUTLS_CLIENT;
    }
    gnutls_init(&session_, flags);
    gnutls_priority_set_direct(session_, "NORMAL:-VERS-ALL:+VERS-TLS1.3", nullptr);
    gnutls_credentials_set(session_, GNUTLS_CRD_CERTIFICATE, credentials_);
    if (side == Side::kServer) gnutls_session_ticket_enable_server(session_, &ticket_key_);
    if (!alpn.empty()) {
      gnutls_datum_t protocol{reinterpret_cast<unsigned char*>(const_cast<char*>(alpn.data())),
                              static_cast<unsigned>(alpn.size())};
      gnutls_alpn_set_protocols(session_, &protocol, 1, 0);
    }
    gnutls_transport_set_ptr(session_, this);
    gnutls_transport_set_push_function(session_, push);
    gnutls_transport_set_pull_function(session_, pull);
  }
  ~BareGnutlsPeer() {
    gnutls_deinit(session_);
    gnutls_certificate_free_credentials(credentials_);
    gnutls_free(ticket_key_.data);
  }
  BareGnutlsPeer(const BareGnutlsPeer&) = delete;
  BareGnutlsPeer& operator=(const BareGnutlsPeer&) = delete;

  gnutls_session_t session() const { return session_; }

  // Runs the handshake against `session` until it ends one way or another; returns GnuTLS's
  // last word (0: complete) and leaves the session's error, if any, in `error`.
  int handshake_with(TlsStreamSession& other, std::optional<RpcError>& error) {
    int rv = GNUTLS_E_AGAIN;
    for (int round = 0; round < 10; ++round) {
      other.take_ciphertext(incoming_);
      if (rv == GNUTLS_E_AGAIN) rv = gnutls_handshake(session_);
      const Bytes out = std::exchange(outgoing_, {});
      if (!out.empty() && !error) {
        if (auto r = other.receive_ciphertext(out); !r) error = r.error();
      }
      if (rv != GNUTLS_E_AGAIN && out.empty()) break;
    }
    return rv;
  }

  Bytes& incoming() { return incoming_; }
  Bytes take_outgoing() { return std::exchange(outgoing_, {}); }

  // Decrypts everything received (a KeyUpdate makes GnuTLS return E_AGAIN with bytes left).
  std::string receive_all() {
    std::string out;
    char buffer[4096];
    for (int call = 0; call < 100; ++call) {
      const ssize_t n = gnutls_record_recv(session_, buffer, sizeof buffer);
      if (n > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
      } else if (n != GNUTLS_E_AGAIN || incoming_.empty()) {
        break;
      }
    }
    return out;
  }

 private:
  static ssize_t push(gnutls_transport_ptr_t self, const void* data, std::size_t size) {
    auto& out = static_cast<BareGnutlsPeer*>(self)->outgoing_;
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    out.insert(out.end(), bytes, bytes + size);
    return static_cast<ssize_t>(size);
  }
  static ssize_t pull(gnutls_transport_ptr_t self, void* data, std::size_t size) {
    auto* peer = static_cast<BareGnutlsPeer*>(self);
    if (peer->incoming_.empty()) {
      gnutls_transport_set_errno(peer->session_, EAGAIN);
      return -1;
    }
    const std::size_t n = std::min(size, peer->incoming_.size());
    std::memcpy(data, peer->incoming_.data(), n);
    Bytes& in = peer->incoming_;
    in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
    return static_cast<ssize_t>(n);
  }

  gnutls_certificate_credentials_t credentials_ = nullptr;
  gnutls_session_t session_ = nullptr;
  gnutls_datum_t ticket_key_{};
  Bytes incoming_;
  Bytes outgoing_;
};

TEST(TlsStreamSession, ServerRefusesAClientOfferingNoProtocol) {
  BareGnutlsPeer client(BareGnutlsPeer::Side::kClient, "");
  auto server = must(TlsStreamSession::server(server_credentials()));
  std::optional<RpcError> error;
  const int client_result = client.handshake_with(*server, error);

  ASSERT_THAT(error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(error->message(), HasSubstr("client did not offer \"h2\""));
  EXPECT_FALSE(server->handshake_complete());
  EXPECT_EQ(client_result, GNUTLS_E_FATAL_ALERT_RECEIVED) << gnutls_strerror(client_result);
  EXPECT_EQ(gnutls_alert_get(client.session()), GNUTLS_A_NO_APPLICATION_PROTOCOL);
}

TEST(TlsStreamSession, ClientRefusesAServerSelectingNoProtocol) {
  BareGnutlsPeer server(BareGnutlsPeer::Side::kServer, "");
  auto client = must(TlsStreamSession::client(client_credentials()));
  ASSERT_TRUE(client->start());
  std::optional<RpcError> error;
  (void)server.handshake_with(*client, error);

  ASSERT_THAT(error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(error->message(), HasSubstr("server did not select \"h2\""));
  EXPECT_FALSE(client->handshake_complete());
  EXPECT_EQ(client->alpn(), "");
}

TEST(TlsStreamSession, ClientHandlesASessionTicketAndAKeyUpdateFromTheServer) {
  BareGnutlsPeer server(BareGnutlsPeer::Side::kServer, "h2");
  auto client = must(TlsStreamSession::client(client_credentials()));
  ASSERT_TRUE(client->start());
  std::optional<RpcError> error;
  ASSERT_EQ(server.handshake_with(*client, error), 0);
  ASSERT_FALSE(error) << *error;
  ASSERT_TRUE(client->handshake_complete());
  EXPECT_EQ(client->alpn(), "h2");
  client->take_ciphertext(server.incoming());  // the client's Finished
  EXPECT_EQ(server.receive_all(), "");

  // A ticket, a KeyUpdate asking the client to update its keys too, then data under the new
  // keys, all arriving in one read.
  ASSERT_EQ(gnutls_session_ticket_send(server.session(), 1, 0), 0);
  ASSERT_EQ(gnutls_session_key_update(server.session(), GNUTLS_KU_PEER), 0);
  ASSERT_EQ(gnutls_record_send(server.session(), "after the update", 16), 16);
  ASSERT_TRUE(client->receive_ciphertext(server.take_outgoing()));
  EXPECT_EQ(to_string(client->take_plaintext()), "after the update");

  // The client answered with its own KeyUpdate: the server reads what follows with new keys.
  ASSERT_TRUE(client->send_plaintext(to_bytes("reply under new keys")));
  client->take_ciphertext(server.incoming());
  EXPECT_EQ(server.receive_all(), "reply under new keys");
}

// A remembered chain is no credential by itself: an impostor presenting the trusted server's
// certificate (and its CA) without the certificate's key cannot sign the CertificateVerify, and
// the handshake fails although the chain is known.
TEST(TlsStreamSession, AnImpostorWithARememberedCertificateButAnotherKeyIsRefused) {
  const auto client = client_credentials();
  {
    BareGnutlsPeer genuine(BareGnutlsPeer::Side::kServer, "h2");
    auto session = must(TlsStreamSession::client(client));
    ASSERT_TRUE(session->start());
    std::optional<RpcError> error;
    ASSERT_EQ(genuine.handshake_with(*session, error), 0);
    ASSERT_FALSE(error) << *error;
    ASSERT_TRUE(session->handshake_complete());
  }
  ASSERT_EQ(client->full_chain_verifications(), 1u);

  BareGnutlsPeer impostor(BareGnutlsPeer::Side::kServer, "h2", stranger().server_key);
  auto session = must(TlsStreamSession::client(client));
  ASSERT_TRUE(session->start());
  std::optional<RpcError> error;
  impostor.handshake_with(*session, error);
  ASSERT_THAT(error, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_FALSE(session->handshake_complete());
  EXPECT_EQ(client->full_chain_verifications(), 1u);  // the chain itself was known
  EXPECT_THAT(error->message(), HasSubstr("signature verification has failed"));
}

}  // namespace
}  // namespace rpcnet::quic

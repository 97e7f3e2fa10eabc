// TLS over QUIC: certificate and name verification, mutual TLS, ALPN enforcement. Every test
// runs over loopback and over the in-memory network (TLS does not care which carries it).
#include <gtest/gtest.h>

#include "raw_quic.h"
#include "transport_harness.h"
#include "quic/tls.h"
#include "rpcnet/metrics.h"
#include "support/error_matchers.h"
#include "support/exposition_sample.h"

namespace rpcnet::testing {
namespace {

asio::awaitable<Result<Bytes>> echo(Bytes request) { co_return request; }

Result<RpcClient> connect_with(TransportServer& server, RpcConfig config) {
  return server.run(server.try_connect(std::move(config)));
}

class TlsTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_.server().register_method("echo", echo);
    server_.start();
  }
  TransportServer server_{GetParam()};
};

RPCNET_OVER_BOTH_TRANSPORTS(TlsTest);

TEST_P(TlsTest, ClientTrustingTheServerCertificateItselfConnects) {
  auto client = connect_with(server_, RpcConfig(certificates().main.server_cert, "127.0.0.1:0")
                                          .with_server_name("localhost"));
  EXPECT_TRUE(client) << client.error();
}

TEST_P(TlsTest, IpAddressIsVerifiedWhenNoServerNameIsGiven) {
  // The dev server certificate lists 127.0.0.1 as an IP subjectAltName.
  auto client = connect_with(server_, RpcConfig(certificates().main.ca_cert, "127.0.0.1:0"));
  EXPECT_TRUE(client) << client.error();
}

TEST_P(TlsTest, WrongServerNameIsATlsError) {
  auto client = connect_with(server_, RpcConfig(certificates().main.ca_cert, "127.0.0.1:0")
                                          .with_server_name("not-the-server.example"));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_NE(client.error().message().find("does not match"), std::string::npos) << client.error().message();
}

TEST_P(TlsTest, UntrustedServerCertificateIsATlsError) {
  auto client = connect_with(server_, RpcConfig(certificates().other.ca_cert, "127.0.0.1:0")
                                          .with_server_name("localhost"));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_NE(client.error().message().find("issuer is unknown"), std::string::npos) << client.error().message();
}

TEST_P(TlsTest, ServerKeepsServingAfterRefusedHandshakes) {
  for (int i = 0; i < 3; ++i) {
    auto refused = connect_with(server_, RpcConfig(certificates().other.ca_cert, "127.0.0.1:0"));
    ASSERT_FALSE(refused.ok());
  }
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    co_return co_await client.call("echo", to_bytes("fine"));
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(to_string(*result), "fine");
}

// ---- key exchange ----------------------------------------------------------------------------

// Connects with `client`'s config to a server with `server`'s and reports
// "<cipher suite> <group>" of the handshake, or the error.
std::string negotiated(Transport transport, RpcConfig server, RpcConfig client) {
  TransportServer peer(transport, std::move(server));
  peer.server().register_method("echo", echo);
  peer.start();
  auto connected = connect_with(peer, std::move(client));
  if (!connected) return connected.error().to_string();
  return connected->tls_parameters().cipher_suite + " " + connected->tls_parameters().key_exchange;
}

TEST_P(TlsTest, TheDefaultHandshakeIsAes128GcmOverX25519) {
  EXPECT_EQ(negotiated(GetParam(), server_config(), client_config()), "TLS_AES_128_GCM_SHA256 X25519");
}

TEST_P(TlsTest, KeyExchangeGroupsFollowTheConfigOnBothSides) {
  using enum KeyExchange;
  EXPECT_EQ(negotiated(GetParam(), server_config().with_key_exchange({kP256}),
                       client_config().with_key_exchange({kP256})),
            "TLS_AES_128_GCM_SHA256 P-256");
  EXPECT_EQ(negotiated(GetParam(), server_config(), client_config().with_key_exchange({kP384, kX25519})),
            "TLS_AES_128_GCM_SHA256 P-384");
  // The client's first choice, not the server's: the client sends its key share for it.
  EXPECT_EQ(negotiated(GetParam(), server_config().with_key_exchange({kX25519, kP256}),
                       client_config().with_key_exchange({kP256, kX25519})),
            "TLS_AES_128_GCM_SHA256 P-256");
}

TEST_P(TlsTest, NoKeyExchangeGroupInCommonIsATlsError) {
  using enum KeyExchange;
  TransportServer peer(GetParam(), server_config().with_key_exchange({kP256}));
  peer.start();
  auto client = connect_with(peer, client_config().with_key_exchange({kP384}));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  // The server keeps serving a client it shares a group with.
  EXPECT_TRUE(connect_with(peer, client_config().with_key_exchange({kP384, kP256})));
}

TEST(KeyExchangeConfigTest, AnEmptyOrRepeatingListIsAConfigErrorNamingTheSetter) {
  using enum KeyExchange;
  RpcServer empty(server_config().with_key_exchange({}));
  auto bound = empty.bind();
  ASSERT_FALSE(bound.ok());
  EXPECT_THAT(bound, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
  EXPECT_NE(bound.error().message().find("with_key_exchange: the list of key-exchange groups is empty"),
            std::string::npos)
      << bound.error();
  RpcServer twice(server_config().with_key_exchange({kP256, kX25519, kP256}));
  bound = twice.bind();
  ASSERT_FALSE(bound.ok());
  EXPECT_NE(bound.error().message().find("with_key_exchange: P-256 is listed twice"), std::string::npos)
      << bound.error();
}

// ---- session resumption ---------------------------------------------------------------------

// Connects twice (a call on the first connection makes sure its session ticket arrived) and
// reports "<first resumed>,<second resumed>,<second call>".
std::string connect_twice(TransportServer& server, const RpcConfig& config) {
  return server.run([&]() -> asio::awaitable<std::string> {
    auto first = co_await server.try_connect(config);
    if (!first) co_return first.error().to_string();
    (void)co_await first->call("echo", {});
    auto second = co_await server.try_connect(config);
    if (!second) co_return second.error().to_string();
    auto reply = co_await second->call("echo", to_bytes("ok"));
    co_return std::string(first->resumed_session() ? "resumed" : "full") + "," +
              (second->resumed_session() ? "resumed" : "full") + "," +
              (reply ? to_string(*reply) : reply.error().to_string());
  }());
}

TEST_P(TlsTest, ASecondConnectionResumesTheTlsSession) {
  EXPECT_EQ(connect_twice(server_, client_config()), "full,resumed,ok");
}

TEST_P(TlsTest, ResumptionCanBeTurnedOff) {
  EXPECT_EQ(connect_twice(server_, client_config().with_session_resumption(false)), "full,full,ok");
}

class TlsResumptionTest : public ::testing::TestWithParam<Transport> {};

RPCNET_OVER_BOTH_TRANSPORTS(TlsResumptionTest);

TEST_P(TlsResumptionTest, ATicketIsNotOfferedToAnotherServer) {
  TransportServer first(GetParam());
  first.server().register_method("echo", echo);
  first.start();
  TransportServer second(first, server_config());
  second.server().register_method("echo", echo);
  second.start();
  ASSERT_NE(first.address(), second.address());
  const std::string outcome = first.run([&]() -> asio::awaitable<std::string> {
    auto a = co_await first.try_connect();
    if (!a) co_return a.error().to_string();
    (void)co_await a->call("echo", {});
    auto b = co_await second.try_connect();
    if (!b) co_return b.error().to_string();
    co_return b->resumed_session() ? "resumed" : "full";
  }());
  EXPECT_EQ(outcome, "full");
}

// ---- ALPN, with a raw QUIC client that offers another protocol or none ----------------------

Result<void> raw_connect(TransportServer& server, std::string alpn) {
  quic::ClientTlsOptions options;
  options.trust_path = certificates().main.ca_cert;
  options.server_name = "localhost";
  options.alpn = std::move(alpn);
  auto tls = quic::TlsCredentials::for_client(options);
  if (!tls) return tls.error();
  return server.run([&]() -> asio::awaitable<Result<void>> {
    auto connection = co_await raw_quic_connect(server, *tls);
    if (!connection) co_return connection.error();
    (*connection)->close(0, "done");
    co_return ok();
  }());
}

TEST_P(TlsTest, ClientOfferingAnotherAlpnIsRefused) {
  auto result = raw_connect(server_, "h3");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_NE(result.error().message().find("No supported application protocol"), std::string::npos)
      << result.error().message();
}

TEST_P(TlsTest, ClientOfferingNoAlpnIsRefused) {
  auto result = raw_connect(server_, "");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

TEST_P(TlsTest, RawClientWithTheRightAlpnIsAccepted) {
  auto result = raw_connect(server_, quic::kAlpn);
  EXPECT_TRUE(result) << result.error();
}

// Credentials remember the server chains they verified (quic/verified_chain_cache.h): the second
// full handshake (no resumption) with the same server checks its chain from memory.
TEST_P(TlsTest, ReconnectingWithTheSameCredentialsVerifiesTheServerChainOnce) {
  quic::ClientTlsOptions options;
  options.trust_path = certificates().main.ca_cert;
  options.server_name = "localhost";
  auto tls = quic::TlsCredentials::for_client(options);
  ASSERT_TRUE(tls) << tls.error();
  for (int i = 0; i < 3; ++i) {
    auto connected = server_.run([&]() -> asio::awaitable<Result<void>> {
      auto connection = co_await raw_quic_connect(server_, *tls);
      if (!connection) co_return connection.error();
      const bool resumed = (*connection)->resumed();
      (*connection)->close(0, "done");
      if (resumed) co_return RpcError::tls("resumed: no certificate was sent");
      co_return ok();
    }());
    ASSERT_TRUE(connected) << "connection " << i << ": " << connected.error();
  }
  EXPECT_EQ((*tls)->full_chain_verifications(), 1u);
}

// ---- mutual TLS ---------------------------------------------------------------------------------

class MutualTlsTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_.server().register_method(
        "whoami", [](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
          co_return to_bytes(context.peer_identity());
        });
    server_.start();
  }
  TransportServer server_{GetParam(), server_config().with_ca_path(certificates().main.ca_cert)};
};

RPCNET_OVER_BOTH_TRANSPORTS(MutualTlsTest);

TEST_P(MutualTlsTest, ClientWithAValidCertificateIsAcceptedAndIdentified) {
  const auto& c = certificates().main;
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.try_connect(RpcConfig(c.client_cert, "127.0.0.1:0")
                                                   .with_key_path(c.client_key)
                                                   .with_ca_path(c.ca_cert)
                                                   .with_server_name("localhost"));
    if (!client) co_return client.error();
    co_return co_await client->call("whoami", {});
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_NE(to_string(*result).find("CN=rpcnet-dev-client"), std::string::npos) << to_string(*result);
}

TEST_P(MutualTlsTest, ClientWithoutACertificateIsRefused) {
  auto client = connect_with(server_, client_config());
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

TEST_P(MutualTlsTest, ClientCertificateFromAnotherCaIsRefused) {
  const auto& other = certificates().other;
  auto client = connect_with(server_, RpcConfig(other.client_cert, "127.0.0.1:0")
                                          .with_key_path(other.client_key)
                                          .with_ca_path(certificates().main.ca_cert)
                                          .with_server_name("localhost"));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

TEST_P(MutualTlsTest, ServerCertificateIsNotAcceptedAsAClientIdentity) {
  // Same CA, but the certificate lacks the clientAuth purpose.
  const auto& c = certificates().main;
  auto client = connect_with(server_, RpcConfig(c.server_cert, "127.0.0.1:0")
                                          .with_key_path(c.server_key)
                                          .with_ca_path(c.ca_cert)
                                          .with_server_name("localhost"));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

// RpcServer::stats() and /metrics count the client chains verified in full: once for a client
// that connects three times without resuming (the later handshakes find its chain in the cache).
TEST_P(MutualTlsTest, AClientChainIsVerifiedOnceAndCountedInStatsAndMetrics) {
  auto registry = std::make_shared<MetricsRegistry>();
  TransportServer server{GetParam(), server_config()
                                         .with_ca_path(certificates().main.ca_cert)
                                         .with_metrics_registry(registry)};
  server.server().register_method("ping", [](Bytes request, CallContext&) -> asio::awaitable<Result<Bytes>> {
    co_return request;
  });
  server.start();
  ASSERT_EQ(server.server().stats().client_chains_verified, 0u);
  const auto& c = certificates().main;
  for (int i = 0; i < 3; ++i) {
    auto called = server.run([&]() -> asio::awaitable<Result<Bytes>> {
      auto client = co_await server.try_connect(RpcConfig(c.client_cert, "127.0.0.1:0")
                                                    .with_key_path(c.client_key)
                                                    .with_ca_path(c.ca_cert)
                                                    .with_server_name("localhost")
                                                    .with_session_resumption(false));
      if (!client) co_return client.error();
      co_return co_await client->call("ping", to_bytes("x"));
    }());
    ASSERT_TRUE(called) << "connection " << i << ": " << called.error();
  }
  EXPECT_EQ(server.server().stats().client_chains_verified, 1u);
  const std::string text = registry->prometheus_text();
  EXPECT_EQ(sample(text, "rpcnet_server_client_chains_verified_total"), 1) << text;
}

class MutualTlsConfigTest : public ::testing::TestWithParam<Transport> {};

RPCNET_OVER_BOTH_TRANSPORTS(MutualTlsConfigTest);

TEST_P(MutualTlsConfigTest, ClientIdentityWithoutCaIsAConfigError) {
  TransportServer server(GetParam());
  server.start();
  const auto& c = certificates().main;
  auto client = connect_with(server, RpcConfig(c.client_cert, "127.0.0.1:0").with_key_path(c.client_key));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rpcnet::testing

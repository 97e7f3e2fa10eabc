// TLS over QUIC: certificate and name verification, mutual TLS, ALPN enforcement.
#include <gtest/gtest.h>

#include "harness.h"
#include "quic/connection.h"
#include "quic/tls.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

asio::awaitable<Result<Bytes>> echo(Bytes request) { co_return request; }

Result<RpcClient> connect_with(LoopbackServer& server, RpcConfig config) {
  return run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<RpcClient>> {
    co_return co_await RpcClient::connect(server.address(), std::move(config));
  }());
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.server().register_method("echo", echo);
    server_.start();
  }
  LoopbackServer server_;
};

TEST_F(TlsTest, ClientTrustingTheServerCertificateItselfConnects) {
  auto client = connect_with(server_, RpcConfig(certificates().main.server_cert, "127.0.0.1:0")
                                          .with_server_name("localhost"));
  EXPECT_TRUE(client) << client.error();
}

TEST_F(TlsTest, IpAddressIsVerifiedWhenNoServerNameIsGiven) {
  // The dev server certificate lists 127.0.0.1 as an IP subjectAltName.
  auto client = connect_with(server_, RpcConfig(certificates().main.ca_cert, "127.0.0.1:0"));
  EXPECT_TRUE(client) << client.error();
}

TEST_F(TlsTest, WrongServerNameIsATlsError) {
  auto client = connect_with(server_, RpcConfig(certificates().main.ca_cert, "127.0.0.1:0")
                                          .with_server_name("not-the-server.example"));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

TEST_F(TlsTest, UntrustedServerCertificateIsATlsError) {
  auto client = connect_with(server_, RpcConfig(certificates().other.ca_cert, "127.0.0.1:0")
                                          .with_server_name("localhost"));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

TEST_F(TlsTest, ServerKeepsServingAfterRefusedHandshakes) {
  for (int i = 0; i < 3; ++i) {
    auto refused = connect_with(server_, RpcConfig(certificates().other.ca_cert, "127.0.0.1:0"));
    ASSERT_FALSE(refused.ok());
  }
  auto result = run_bounded(server_.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    co_return co_await client.call("echo", to_bytes("fine"));
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(to_string(*result), "fine");
}

// ---- session resumption ---------------------------------------------------------------------

// Connects twice (a call on the first connection makes sure its session ticket arrived) and
// reports "<first resumed>,<second resumed>,<second call>".
std::string connect_twice(LoopbackServer& server, const RpcConfig& config) {
  return run_bounded(server.runtime(), [&]() -> asio::awaitable<std::string> {
    auto first = co_await RpcClient::connect(server.address(), config);
    if (!first) co_return first.error().to_string();
    (void)co_await first->call("echo", {});
    auto second = co_await RpcClient::connect(server.address(), config);
    if (!second) co_return second.error().to_string();
    auto reply = co_await second->call("echo", to_bytes("ok"));
    co_return std::string(first->resumed_session() ? "resumed" : "full") + "," +
              (second->resumed_session() ? "resumed" : "full") + "," +
              (reply ? to_string(*reply) : reply.error().to_string());
  }());
}

TEST_F(TlsTest, ASecondConnectionResumesTheTlsSession) {
  EXPECT_EQ(connect_twice(server_, client_config()), "full,resumed,ok");
}

TEST_F(TlsTest, ResumptionCanBeTurnedOff) {
  EXPECT_EQ(connect_twice(server_, client_config().with_session_resumption(false)), "full,full,ok");
}

TEST(TlsResumptionTest, ATicketIsNotOfferedToAnotherServer) {
  LoopbackServer first;
  first.server().register_method("echo", echo);
  first.start();
  LoopbackServer second;
  second.server().register_method("echo", echo);
  second.start();
  const std::string outcome = run_bounded(first.runtime(), [&]() -> asio::awaitable<std::string> {
    auto a = co_await RpcClient::connect(first.address(), client_config());
    if (!a) co_return a.error().to_string();
    (void)co_await a->call("echo", {});
    auto b = co_await RpcClient::connect(second.address(), client_config());
    if (!b) co_return b.error().to_string();
    co_return b->resumed_session() ? "resumed" : "full";
  }());
  EXPECT_EQ(outcome, "full");
}

// ---- ALPN, with a raw QUIC client that offers another protocol or none ----------------------

Result<void> raw_connect(LoopbackServer& server, std::string alpn) {
  quic::ClientTlsOptions options;
  options.trust_path = certificates().main.ca_cert;
  options.server_name = "localhost";
  options.alpn = std::move(alpn);
  auto tls = quic::TlsCredentials::for_client(options);
  if (!tls) return tls.error();
  return run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<void>> {
    auto connection = co_await quic::Connection::connect(server.address(), *tls, quic::TransportSettings{});
    if (!connection) co_return connection.error();
    (*connection)->close(0, "done");
    co_return ok();
  }());
}

TEST_F(TlsTest, ClientOfferingAnotherAlpnIsRefused) {
  auto result = raw_connect(server_, "h3");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_NE(result.error().message().find("No supported application protocol"), std::string::npos)
      << result.error().message();
}

TEST_F(TlsTest, ClientOfferingNoAlpnIsRefused) {
  auto result = raw_connect(server_, "");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

TEST_F(TlsTest, RawClientWithTheRightAlpnIsAccepted) {
  auto result = raw_connect(server_, quic::kAlpn);
  EXPECT_TRUE(result) << result.error();
}

// ---- mutual TLS ---------------------------------------------------------------------------------

class MutualTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.server().register_method(
        "whoami", [](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
          co_return to_bytes(context.peer_identity());
        });
    server_.start();
  }
  LoopbackServer server_{server_config().with_ca_path(certificates().main.ca_cert)};
};

TEST_F(MutualTlsTest, ClientWithAValidCertificateIsAcceptedAndIdentified) {
  const auto& c = certificates().main;
  auto result = run_bounded(server_.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await RpcClient::connect(
        server_.address(), RpcConfig(c.client_cert, "127.0.0.1:0")
                               .with_key_path(c.client_key)
                               .with_ca_path(c.ca_cert)
                               .with_server_name("localhost"));
    if (!client) co_return client.error();
    co_return co_await client->call("whoami", {});
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_NE(to_string(*result).find("CN=rpcnet-dev-client"), std::string::npos) << to_string(*result);
}

TEST_F(MutualTlsTest, ClientWithoutACertificateIsRefused) {
  auto client = connect_with(server_, client_config());
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

TEST_F(MutualTlsTest, ClientCertificateFromAnotherCaIsRefused) {
  const auto& other = certificates().other;
  auto client = connect_with(server_, RpcConfig(other.client_cert, "127.0.0.1:0")
                                          .with_key_path(other.client_key)
                                          .with_ca_path(certificates().main.ca_cert)
                                          .with_server_name("localhost"));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

TEST_F(MutualTlsTest, ServerCertificateIsNotAcceptedAsAClientIdentity) {
  // Same CA, but the certificate lacks the clientAuth purpose.
  const auto& c = certificates().main;
  auto client = connect_with(server_, RpcConfig(c.server_cert, "127.0.0.1:0")
                                          .with_key_path(c.server_key)
                                          .with_ca_path(c.ca_cert)
                                          .with_server_name("localhost"));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

TEST(MutualTlsConfigTest, ClientIdentityWithoutCaIsAConfigError) {
  LoopbackServer server;
  server.start();
  const auto& c = certificates().main;
  auto client = connect_with(server, RpcConfig(c.client_cert, "127.0.0.1:0").with_key_path(c.client_key));
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rpcnet::testing

// What rpcnet logs for an operator, captured with a test sink during real loopback handshakes
// and calls: refusals and handshake failures with their structured fields, resets with codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "harness.h"
#include "quic/connection.h"
#include "quic/tls.h"
#include "support/log_capture.h"

namespace rpcnet::testing {
namespace {

asio::awaitable<Result<Bytes>> echo(Bytes request) { co_return request; }

Result<void> connect_offering_alpn(LoopbackServer& server, std::string alpn) {
  quic::ClientTlsOptions options;
  options.trust_path = certificates().main.ca_cert;
  options.server_name = "localhost";
  options.alpn = std::move(alpn);
  auto tls = quic::TlsCredentials::for_client(options);
  if (!tls) return tls.error();
  return run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<void>> {
    auto connection =
        co_await quic::Connection::connect(server.address(), *tls, quic::TransportSettings{});
    if (!connection) co_return connection.error();
    (*connection)->close(0, "done");
    co_return ok();
  }());
}

std::string field_or_empty(const LogRecord& record, std::string_view key) {
  const std::string* value = record.field(key);
  return value ? *value : std::string();
}

TEST(LogTest, AnAlpnMismatchIsAHandshakeFailureWithTheAlertOnBothSides) {
  LogCapture log(LogLevel::kInfo);
  LoopbackServer server;
  server.server().register_method("echo", echo);
  server.start();
  ASSERT_FALSE(connect_offering_alpn(server, "h3").ok());

  const auto on_server = log.wait_for(LogCapture::message_with("handshake failed", "side", "server"));
  const auto on_client = log.wait_for(LogCapture::message_with("handshake failed", "side", "client"));
  ASSERT_TRUE(on_server.has_value());
  ASSERT_TRUE(on_client.has_value());
  EXPECT_EQ(on_server->component, LogComponent::kTls);
  EXPECT_EQ(on_server->level, LogLevel::kWarn);
  EXPECT_EQ(field_or_empty(*on_server, "alert"), "no_application_protocol");
  EXPECT_EQ(field_or_empty(*on_client, "alert"), "no_application_protocol");
  // The same connection ID names the connection in both processes' logs.
  EXPECT_EQ(field_or_empty(*on_server, "conn").size(), 32u);
  EXPECT_EQ(field_or_empty(*on_server, "conn"), field_or_empty(*on_client, "conn"));
  EXPECT_EQ(field_or_empty(*on_client, "peer"), to_string(server.address()));
  EXPECT_EQ(field_or_empty(*on_server, "peer").rfind("127.0.0.1:", 0), 0u);
  EXPECT_NE(field_or_empty(*on_client, "reason").find("No supported application protocol"),
            std::string::npos);
}

TEST(LogTest, AnUntrustedServerCertificateIsLoggedWithTheVerificationReason) {
  LogCapture log(LogLevel::kInfo);
  LoopbackServer server;
  server.server().register_method("echo", echo);
  server.start();
  auto refused = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<RpcClient>> {
    co_return co_await RpcClient::connect(
        server.address(),
        RpcConfig(certificates().other.ca_cert, "127.0.0.1:0").with_server_name("localhost"));
  }());
  ASSERT_FALSE(refused.ok());

  const auto on_client = log.wait_for(LogCapture::message_with("handshake failed", "side", "client"));
  ASSERT_TRUE(on_client.has_value());
  EXPECT_EQ(on_client->component, LogComponent::kTls);
  EXPECT_EQ(field_or_empty(*on_client, "alert"), "bad_certificate");
  EXPECT_NE(field_or_empty(*on_client, "reason").find("NOT trusted"), std::string::npos)
      << field_or_empty(*on_client, "reason");
  const auto on_server = log.wait_for(LogCapture::message_with("handshake failed", "side", "server"));
  ASSERT_TRUE(on_server.has_value());
  EXPECT_EQ(field_or_empty(*on_server, "alert"), "bad_certificate");
  EXPECT_EQ(field_or_empty(*on_server, "conn"), field_or_empty(*on_client, "conn"));
}

TEST(LogTest, ARefusalAtTheConnectionLimitNamesTheLimit) {
  LogCapture log(LogLevel::kInfo);
  LoopbackServer server(server_config().with_max_connections(1));
  server.server().register_method("echo", echo);
  server.start();
  const std::string second = run_bounded(server.runtime(), [&]() -> asio::awaitable<std::string> {
    auto first = co_await RpcClient::connect(server.address(), client_config());
    if (!first) co_return "first: " + first.error().to_string();
    auto refused = co_await RpcClient::connect(server.address(), client_config());
    co_return refused ? std::string("connected") : refused.error().message();
  }());
  EXPECT_NE(second.find("refused"), std::string::npos) << second;

  const auto on_server = log.wait_for(LogCapture::message_with("connection refused"));
  ASSERT_TRUE(on_server.has_value());
  EXPECT_EQ(on_server->component, LogComponent::kQuic);
  EXPECT_EQ(on_server->level, LogLevel::kWarn);
  EXPECT_EQ(field_or_empty(*on_server, "limit"), "connection_limit");
  EXPECT_EQ(field_or_empty(*on_server, "reason"), "the server has its maximum of 1 connections");
  EXPECT_EQ(field_or_empty(*on_server, "peer").rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(field_or_empty(*on_server, "conn").size(), 32u);
  const auto on_client = log.wait_for(
      LogCapture::message_with("connection failed before its handshake completed", "side", "client"));
  ASSERT_TRUE(on_client.has_value());
  EXPECT_EQ(field_or_empty(*on_client, "conn"), field_or_empty(*on_server, "conn"));
}

TEST(LogTest, ACallPastItsDeadlineIsResetWithTheDeadlineCodeOnBothSides) {
  LogCapture log(LogLevel::kInfo);
  LoopbackServer server;
  server.server().register_method("park", [](Bytes) -> asio::awaitable<Result<Bytes>> {
    asio::steady_timer forever(co_await asio::this_coro::executor,
                               asio::steady_timer::time_point::max());
    (void)co_await forever.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return Bytes{};
  });
  server.start();
  const std::string server_address = to_string(server.address());
  // Both sides know the deadline: whichever resets first, the server's record (its peer is the
  // client) says the stream ended with DEADLINE_EXCEEDED's code, 3.
  const auto reset_with_deadline_code = [&](bool on_client) {
    return [&, on_client](const LogRecord& record) {
      return record.message.rfind("stream reset", 0) == 0 &&
             field_or_empty(record, "code") == "3" &&
             (field_or_empty(record, "peer") == server_address) == on_client;
    };
  };
  const auto outcome = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect();
    CallOptions options;
    options.timeout = std::chrono::milliseconds(50);
    auto result = co_await client.call("park", {}, options);
    // Keep the connection open until the server has logged (this blocks the client's loop only).
    (void)log.wait_for(reset_with_deadline_code(false));
    co_return result;
  }());
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code(), StatusCode::kDeadlineExceeded);

  const auto on_client = log.wait_for(reset_with_deadline_code(true));
  const auto on_server = log.wait_for(reset_with_deadline_code(false));
  ASSERT_TRUE(on_client.has_value());
  ASSERT_TRUE(on_server.has_value());
  // The client's own deadline usually resets first ("stream reset"); on a slow machine the
  // server's copy of the deadline can fire first, and the client logs the peer's reset instead.
  EXPECT_THAT(on_client->message, ::testing::AnyOf("stream reset", "stream reset by peer"));
  EXPECT_EQ(on_client->level, LogLevel::kInfo);
  EXPECT_EQ(on_server->level, LogLevel::kInfo);
  EXPECT_EQ(field_or_empty(*on_client, "stream"), "0");
  EXPECT_EQ(field_or_empty(*on_server, "stream"), "0");
  EXPECT_EQ(field_or_empty(*on_client, "conn"), field_or_empty(*on_server, "conn"));
}

TEST(LogTest, NothingIsLoggedForASuccessfulCallAtInfo) {
  LogCapture log(LogLevel::kInfo);
  LoopbackServer server;
  server.server().register_method("echo", echo);
  server.start();
  const auto reply = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect();
    co_return co_await client.call("echo", to_bytes("hi"));
  }());
  ASSERT_TRUE(reply.ok());
  server.stop();
  for (const auto& record : log.records()) ADD_FAILURE() << format_log_record(record);
}

TEST(LogTest, AtTraceNgtcp2AndGnutlsDebugLinesReachTheSink) {
  LoopbackServer server;
  server.server().register_method("echo", echo);
  server.start();
  LogCapture log(LogLevel::kTrace);  // before the connection: ngtcp2's log is set per connection
  const auto reply = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect();
    co_return co_await client.call("echo", to_bytes("hi"));
  }());
  ASSERT_TRUE(reply.ok());
  const auto from_ngtcp2 = log.wait_for([](const LogRecord& r) {
    return r.component == LogComponent::kQuic && r.level == LogLevel::kTrace &&
           r.message.find(" frm ") != std::string::npos && r.field("conn") != nullptr;
  });
  const auto from_gnutls = log.wait_for([](const LogRecord& r) {
    return r.component == LogComponent::kTls && r.level == LogLevel::kTrace &&
           r.field("gnutls_level") != nullptr && r.message.find("HSK") != std::string::npos;
  });
  EXPECT_TRUE(from_ngtcp2.has_value());
  EXPECT_TRUE(from_gnutls.has_value());
}

}  // namespace
}  // namespace rpcnet::testing

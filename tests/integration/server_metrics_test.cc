// What an RpcServer reports to its registry and serves at /metrics, over loopback.
#include <gtest/gtest.h>

#include <cstdio>

#include "harness.h"
#include "support/exposition_sample.h"
#include "rpcnet/metrics.h"
#include "rpcnet/metrics_server.h"
#include "support/http_client.h"

namespace rpcnet::testing {
namespace {

asio::ip::tcp::endpoint tcp_endpoint(const SocketAddress& address) {
  return asio::ip::tcp::endpoint(address.address(), address.port());
}

TEST(ServerMetrics, MetricsEndpointServesTheServersCountersAfterCalls) {
  auto registry = std::make_shared<MetricsRegistry>();
  LoopbackServer server(server_config().with_metrics_address("127.0.0.1:0").with_metrics_registry(registry));
  server.server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> { co_return request; });
  server.start();
  const auto metrics_address = server.server().metrics_address();
  ASSERT_TRUE(metrics_address.has_value());
  ASSERT_NE(metrics_address->port(), 0);

  constexpr int kCalls = 7;
  // Scraped while the client's connection is still open (blocking the client's loop is fine:
  // the server and the endpoint run on threads of their own).
  const auto scrape = run_bounded(server.runtime(), [&]() -> asio::awaitable<HttpExchange> {
    auto client = co_await server.connect();
    const Bytes payload(3, 1);
    for (int i = 0; i < kCalls; ++i) {
      auto reply = co_await client.call("echo", payload);
      if (!reply) {
        HttpExchange failed;
        co_return failed;
      }
    }
    co_return http_get(tcp_endpoint(*metrics_address), "/metrics");
  }());
  ASSERT_EQ(scrape.status(), 200);
  const std::string text = scrape.body();
  EXPECT_EQ(sample(text, "rpcnet_server_streams_started_total"), kCalls);
  EXPECT_EQ(sample(text, "rpcnet_server_connections_accepted_total"), 1);
  EXPECT_EQ(sample(text, "rpcnet_server_connections_open"), 1);
  EXPECT_EQ(sample(text, "rpcnet_server_handshake_duration_seconds_count"), 1);
  EXPECT_EQ(sample(text, "rpcnet_server_connections_refused_total{reason=\"connection_limit\"}"), 0);
  EXPECT_GT(sample(text, "rpcnet_transport_bytes_received_total"), 0);
  EXPECT_GT(sample(text, "rpcnet_transport_packets_sent_total"), 0);
  EXPECT_GT(sample(text, "rpcnet_transport_smoothed_rtt_seconds{stat=\"max\"}"), 0);
  EXPECT_NE(text.find("# TYPE rpcnet_server_streams_started_total counter\n"), std::string::npos);
  // The endpoint serves the registry the config named, nothing of the process-wide one.
  default_metrics().counter("server_metrics_test_marker_total", "Only in the default registry.").inc();
  EXPECT_EQ(http_get(tcp_endpoint(*metrics_address), "/metrics").body().find("server_metrics_test_marker_total"),
            std::string::npos);
}

TEST(ServerMetrics, GrpcListenerConnectionsAreReportedApartFromQuics) {
  auto registry = std::make_shared<MetricsRegistry>();
  LoopbackServer server(server_config().with_grpc_over_tcp().with_metrics_registry(registry));
  server.server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> { co_return request; });
  server.start();
  const std::string text = run_bounded(server.runtime(), [&]() -> asio::awaitable<std::string> {
    auto client = co_await server.connect(client_config().with_transport(TransportChoice::kHttp2Only));
    auto reply = co_await client.call("echo", Bytes(3, 1));
    if (!reply) co_return std::string("the call failed: ") + reply.error().to_string();
    co_return registry->prometheus_text();  // while the connection is open
  }());
  EXPECT_EQ(sample(text, "rpcnet_server_grpc_connections_accepted_total"), 1) << text;
  EXPECT_EQ(sample(text, "rpcnet_server_grpc_connections_open"), 1);
  EXPECT_EQ(sample(text, "rpcnet_server_grpc_connections_refused_total{reason=\"connection_limit\"}"), 0);
  EXPECT_EQ(sample(text, "rpcnet_server_connections_accepted_total"), 0);  // no QUIC connection
  EXPECT_EQ(sample(text, "rpcnet_server_streams_started_total"), 1);     // calls count once, either way
}

TEST(ServerMetrics, EveryMethodIsCountedOnBothSidesAndUnknownMethodsShareOneLabel) {
  auto server_registry = std::make_shared<MetricsRegistry>();
  auto client_registry = std::make_shared<MetricsRegistry>();
  LoopbackServer server(server_config().with_metrics_registry(server_registry));
  server.server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> { co_return request; });
  server.start();
  const bool done = run_bounded(server.runtime(), [&]() -> asio::awaitable<bool> {
    auto client = co_await server.connect(client_config().with_metrics_registry(client_registry));
    const Bytes payload(3, 1);
    for (int i = 0; i < 4; ++i) {
      auto reply = co_await client.call("echo", payload);
      if (!reply) co_return false;
    }
    for (const char* method : {"no-such-method", "another-one"}) {
      auto missing = co_await client.call(method, payload);
      if (missing || missing.error().code() != StatusCode::kNotFound) co_return false;
    }
    co_return true;
  }());
  ASSERT_TRUE(done);
  const std::string served = server_registry->prometheus_text();
  EXPECT_EQ(sample(served, "rpcnet_server_calls_started_total{method=\"echo\"}"), 4);
  EXPECT_EQ(sample(served, "rpcnet_server_calls_finished_total{method=\"echo\",code=\"OK\"}"), 4);
  EXPECT_EQ(sample(served, "rpcnet_server_call_duration_seconds_count{method=\"echo\"}"), 4);
  EXPECT_EQ(sample(served, "rpcnet_server_request_bytes_total{method=\"echo\"}"), 12);
  EXPECT_EQ(sample(served, "rpcnet_server_response_bytes_total{method=\"echo\"}"), 12);
  // Names a client made up never become label values.
  EXPECT_EQ(sample(served, "rpcnet_server_calls_finished_total{method=\"_unknown\",code=\"NOT_FOUND\"}"), 2);
  EXPECT_EQ(served.find("no-such-method"), std::string::npos);
  const std::string called = client_registry->prometheus_text();
  EXPECT_EQ(sample(called, "rpcnet_client_calls_started_total{method=\"echo\"}"), 4);
  EXPECT_EQ(sample(called, "rpcnet_client_calls_finished_total{method=\"echo\",code=\"OK\"}"), 4);
  EXPECT_EQ(sample(called, "rpcnet_client_calls_finished_total{method=\"no-such-method\",code=\"NOT_FOUND\"}"), 1);
  EXPECT_EQ(sample(called, "rpcnet_client_call_duration_seconds_count{method=\"echo\"}"), 4);
}

TEST(ServerMetrics, MethodMetricsCanBeTurnedOff) {
  auto registry = std::make_shared<MetricsRegistry>();
  LoopbackServer server(server_config().with_metrics_registry(registry).with_method_metrics(false));
  server.server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> { co_return request; });
  server.start();
  const bool ok = run_bounded(server.runtime(), [&]() -> asio::awaitable<bool> {
    auto client = co_await server.connect();
    const Bytes payload(1, 1);
    co_return (co_await client.call("echo", payload)).ok();
  }());
  ASSERT_TRUE(ok);
  const std::string text = registry->prometheus_text();
  EXPECT_EQ(text.find("rpcnet_server_calls_started_total"), std::string::npos);
  EXPECT_EQ(sample(text, "rpcnet_server_streams_started_total"), 1);  // the server's own counters stay
}

TEST(ServerMetrics, TheCollectorIsGoneWithTheServer) {
  auto registry = std::make_shared<MetricsRegistry>();
  {
    LoopbackServer server(server_config().with_metrics_registry(registry));
    server.start();
    EXPECT_NE(registry->prometheus_text().find("rpcnet_server_streams_started_total 0\n"), std::string::npos);
  }
  const std::string after = registry->prometheus_text();
  EXPECT_EQ(after.find("rpcnet_server_streams_started_total"), std::string::npos);
  // The handshake histogram is the registry's own series: it stays, as Prometheus expects.
  EXPECT_NE(after.find("rpcnet_server_handshake_duration_seconds_count 0\n"), std::string::npos);
}

TEST(ServerMetrics, AMalformedMetricsAddressFailsBind) {
  RpcServer server(server_config().with_metrics_address("not an address"));
  auto bound = server.bind();
  ASSERT_FALSE(bound);
  EXPECT_EQ(bound.error().kind(), ErrorKind::kConfig);
  EXPECT_FALSE(server.socket_addr().has_value());
}

TEST(ServerMetrics, AMetricsPortInUseFailsBindAndALaterBindCanSucceed) {
  auto registry = std::make_shared<MetricsRegistry>();
  auto taken = MetricsServer::start(*parse_socket_address("127.0.0.1:0"), *registry);
  ASSERT_TRUE(taken);
  const std::string address = to_string((*taken)->address());
  RpcServer server(server_config().with_metrics_address(address).with_metrics_registry(registry));
  auto bound = server.bind();
  ASSERT_FALSE(bound);
  EXPECT_EQ(bound.error().kind(), ErrorKind::kIo);
  EXPECT_FALSE(server.metrics_address().has_value());
  taken->reset();  // the port is free again
  auto retried = server.bind();
  ASSERT_TRUE(retried) << retried.error();
  ASSERT_TRUE(server.metrics_address().has_value());
  EXPECT_EQ(to_string(*server.metrics_address()), address);
}

TEST(ServerMetrics, PromtoolAcceptsTheExposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool (Debian package prometheus) is not installed";
  auto registry = std::make_shared<MetricsRegistry>();
  LoopbackServer server(server_config().with_metrics_registry(registry));
  server.server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> { co_return request; });
  server.start();
  (void)run_bounded(server.runtime(), [&]() -> asio::awaitable<bool> {
    auto client = co_await server.connect();
    const Bytes payload(1, 1);
    co_return (co_await client.call("echo", payload)).ok();
  }());
  TempDir dir;
  const auto file = dir.path() / "metrics.txt";
  {
    std::FILE* out = std::fopen(file.c_str(), "w");
    ASSERT_NE(out, nullptr);
    const std::string text = registry->prometheus_text();
    std::fwrite(text.data(), 1, text.size(), out);
    std::fclose(out);
  }
  // promtool prints problems (also lint warnings) and exits non-zero on any.
  const std::string command = "promtool check metrics < " + file.string() + " > " + (dir.path() / "out").string() + " 2>&1";
  const int status = std::system(command.c_str());
  std::string report;
  if (std::FILE* in = std::fopen((dir.path() / "out").c_str(), "r")) {
    char buffer[4096];
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, in);
    report.assign(buffer, n);
    std::fclose(in);
  }
  EXPECT_EQ(status, 0) << report;
}

}  // namespace
}  // namespace rpcnet::testing

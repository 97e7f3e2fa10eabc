// The /metrics endpoint over real TCP on loopback: what it answers, and that no peer can make it
// hold a connection or a buffer beyond its bounds while a scraper keeps getting answers.
#include "rpcnet/metrics_server.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <vector>

#include "support/http_client.h"

namespace rpcnet {
namespace {

using testing::http_exchange;
using testing::http_get;

struct Endpoint {
  MetricsRegistry registry;
  std::unique_ptr<MetricsServer> server;
  asio::ip::tcp::endpoint tcp;

  explicit Endpoint(MetricsServerOptions options = {}) {
    registry.counter("answers_total", "Answers.").inc(42);
    auto started = MetricsServer::start(*parse_socket_address("127.0.0.1:0"), registry, options);
    EXPECT_TRUE(started) << started.error();
    server = std::move(*started);
    tcp = asio::ip::tcp::endpoint(server->address().address(), server->address().port());
  }
};

TEST(MetricsServer, GetMetricsReturnsTheRegistryText) {
  Endpoint endpoint;
  const auto exchange = http_get(endpoint.tcp, "/metrics");
  EXPECT_EQ(exchange.status(), 200);
  EXPECT_TRUE(exchange.closed_by_peer);
  EXPECT_NE(exchange.response.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_EQ(exchange.body(), "# HELP answers_total Answers.\n# TYPE answers_total counter\nanswers_total 42\n");
}

TEST(MetricsServer, OtherPathsMethodsAndMalformedRequestsGetTheirStatus) {
  Endpoint endpoint;
  EXPECT_EQ(http_get(endpoint.tcp, "/").status(), 404);
  EXPECT_EQ(http_get(endpoint.tcp, "/metricsX").status(), 404);
  const auto post = http_exchange(endpoint.tcp, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.status(), 405);
  EXPECT_NE(post.response.find("\r\nAllow: GET\r\n"), std::string::npos);
  EXPECT_EQ(http_exchange(endpoint.tcp, "GET /metrics\r\n\r\n").status(), 400);
  EXPECT_EQ(http_exchange(endpoint.tcp, "GET /metrics HTTP/3.0\r\n\r\n").status(), 505);
  EXPECT_EQ(endpoint.server->stats().requests, 5u);
}

TEST(MetricsServer, AnOversizedHeadIs431AndTheServerKeepsServing) {
  MetricsServerOptions options;
  options.max_request_bytes = 1024;
  Endpoint endpoint(options);
  const std::string huge = "GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(64 * 1024, 'a');
  EXPECT_EQ(http_exchange(endpoint.tcp, huge).status(), 431);
  EXPECT_EQ(http_get(endpoint.tcp, "/metrics").status(), 200);
}

TEST(MetricsServer, ASilentPeerGets408AfterTheTimeout) {
  MetricsServerOptions options;
  options.request_timeout = std::chrono::milliseconds(200);
  Endpoint endpoint(options);
  const auto exchange = http_exchange(endpoint.tcp, "GET /metr");  // never completes
  EXPECT_EQ(exchange.status(), 408);
  EXPECT_TRUE(exchange.closed_by_peer);
}

TEST(MetricsServer, ConnectionsBeyondTheLimitAreClosedWhileAScraperIsServed) {
  MetricsServerOptions options;
  options.max_connections = 2;
  options.request_timeout = std::chrono::seconds(30);
  Endpoint endpoint(options);
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> idle;
  for (int i = 0; i < 2; ++i) {
    idle.emplace_back(io);
    idle.back().connect(endpoint.tcp);
    asio::write(idle.back(), asio::buffer(std::string_view("GET /m")));  // holds its slot
  }
  // The two idle peers hold both slots; a third connection is closed unanswered.
  const auto refused = http_get(endpoint.tcp, "/metrics", std::chrono::seconds(10));
  EXPECT_EQ(refused.response, "");
  EXPECT_TRUE(refused.closed_by_peer);
  EXPECT_EQ(endpoint.server->stats().connections_refused, 1u);
  idle.clear();  // the slots free up as the server sees the peers go
  bool served = false;
  for (int attempt = 0; attempt < 200 && !served; ++attempt) served = http_get(endpoint.tcp, "/metrics").status() == 200;
  EXPECT_TRUE(served);
}

TEST(MetricsServer, APortInUseIsAnIoError) {
  Endpoint first;
  auto second = MetricsServer::start(first.server->address());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind(), ErrorKind::kIo);
}

}  // namespace
}  // namespace rpcnet

// http_get against a real MetricsServer and against peers that refuse, stall or talk too much;
// parse_http_response on its own.
#include "metrics/http_get.h"

#include <gtest/gtest.h>

#include "rpcnet/metrics_server.h"
#include "support/local_tcp_port.h"

namespace rpcnet::metrics {
namespace {

using namespace std::chrono_literals;

// A peer that refuses (bound, not listening) or stalls (listening, never accepting).
struct LocalPort {
  testing::LocalTcpPort socket;
  SocketAddress address;
  explicit LocalPort(bool listening) : socket(listening), address(*parse_socket_address(socket.address())) {
    EXPECT_TRUE(socket.ok());
  }
};

struct Served {
  MetricsRegistry registry;
  std::unique_ptr<MetricsServer> server;
  Served() {
    registry.counter("answers_total", "Answers.").inc(42);
    auto started = MetricsServer::start(*parse_socket_address("127.0.0.1:0"), registry);
    EXPECT_TRUE(started) << started.error();
    server = std::move(*started);
  }
};

TEST(HttpGet, ReadsTheMetricsServersAnswer) {
  Served served;
  const auto response = http_get(served.server->address(), "/metrics");
  ASSERT_TRUE(response) << response.error();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->reason, "OK");
  EXPECT_EQ(response->body, "# HELP answers_total Answers.\n# TYPE answers_total counter\nanswers_total 42\n");

  const auto missing = http_get(served.server->address(), "/nothing");
  ASSERT_TRUE(missing) << missing.error();
  EXPECT_EQ(missing->status, 404);
}

TEST(HttpGet, RefusedConnectionNamesTheAddress) {
  LocalPort closed(false);
  const auto response = http_get(closed.address, "/metrics");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::kIo);
  EXPECT_EQ(response.error().message(), "cannot connect to " + to_string(closed.address) + ": Connection refused");
}

TEST(HttpGet, SilentPeerTimesOut) {
  LocalPort silent(true);  // the kernel accepts the connection; nobody ever answers
  const auto started = std::chrono::steady_clock::now();
  const auto response = http_get(silent.address, "/metrics", {.timeout = 150ms});
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::kCall);
  EXPECT_EQ(response.error().message(), "no complete answer from " + to_string(silent.address) + " within 150 ms");
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 5s);
}

TEST(HttpGet, OversizedAnswerIsAbandoned) {
  Served served;
  const auto response = http_get(served.server->address(), "/metrics", {.max_response_bytes = 100});
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().message(),
            "the answer from " + to_string(served.server->address()) + " is larger than 100 bytes");
}

TEST(ParseHttpResponse, HonoursContentLength) {
  const auto response = parse_http_response("HTTP/1.1 200 OK\r\ncontent-length: 3\r\nX: y\r\n\r\nabcdef");
  ASSERT_TRUE(response) << response.error();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "abc");
  const auto until_close = parse_http_response("HTTP/1.0 503\r\n\r\nbusy");
  ASSERT_TRUE(until_close) << until_close.error();
  EXPECT_EQ(until_close->status, 503);
  EXPECT_EQ(until_close->reason, "");
  EXPECT_EQ(until_close->body, "busy");
}

TEST(ParseHttpResponse, RejectsWhatItCannotRead) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", "empty response"},
      {"HTTP/1.1 200 OK\r\nX: y\r\n", "response ended inside its head"},
      {"HTTP/2 200 OK\r\n\r\n", "malformed status line \"HTTP/2 200 OK\""},
      {"HTTP/1.1 2x0 OK\r\n\r\n", "malformed status line \"HTTP/1.1 2x0 OK\""},
      {"HTTP/1.1 2000 OK\r\n\r\n", "malformed status line \"HTTP/1.1 2000 OK\""},
      {"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "malformed header line in the response"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed Content-Length in the response"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "response ended after 3 of 10 body bytes"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       "the response uses Transfer-Encoding: chunked, which this client does not read"},
  };
  for (const auto& [raw, message] : cases) {
    const auto response = parse_http_response(raw);
    ASSERT_FALSE(response) << raw;
    EXPECT_EQ(response.error().kind(), ErrorKind::kIo);
    EXPECT_EQ(response.error().message(), message);
  }
}

}  // namespace
}  // namespace rpcnet::metrics
